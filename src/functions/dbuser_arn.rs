//! `provider::rdsiam::dbuser_arn(region, account_id, resource_id, db_user)`: the
//! `rds-db:connect` resource ARN of one database user.

use crate::aws::arn::{self, Field};
use crate::tfplugin::{Function, FunctionDef, FunctionError, Parameter, Type, Value};

pub struct DbuserArn;

impl Function for DbuserArn {
    fn name(&self) -> &'static str {
        "dbuser_arn"
    }

    fn definition(&self) -> FunctionDef {
        FunctionDef {
            parameters: vec![
                Parameter::string(
                    "region",
                    "AWS region, e.g. `eu-west-1`; decides the partition.",
                ),
                Parameter::string("account_id", "12-digit AWS account id."),
                Parameter::string(
                    "resource_id",
                    "Resource id: `cluster-…` (Aurora cluster_resource_id), `db-…` (instance) or `prx-…` (RDS Proxy).",
                ),
                Parameter::string(
                    "db_user",
                    "PostgreSQL user name (case-sensitive); `*` means every user.",
                ),
            ],
            variadic: None,
            returns: Type::String,
            summary: "The rds-db:connect ARN of a database user".to_string(),
            description: "Returns `arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE-ID/USER`. \
                `*`, `?` and `$` inside a user name are escaped (`${*}`, `${?}`, `${$}`) so IAM \
                matches the name literally; `*` alone matches every user. Pure: needs no \
                credentials and no provider configuration."
                .to_string(),
            deprecation_message: String::new(),
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let text = |i: usize| {
            args.get(i)
                .and_then(Value::as_str)
                .ok_or_else(|| FunctionError {
                    text: "expected a string".to_string(),
                    argument: Some(i),
                })
        };
        let (region, account, resource, user) = (text(0)?, text(1)?, text(2)?, text(3)?);
        arn::checked_dbuser_arn(region, account, resource, user)
            .map(Value::string)
            .map_err(|e| {
                let argument = Some(match e.field {
                    Field::Region => 0,
                    Field::AccountId => 1,
                    Field::ResourceId => 2,
                    _ => 3,
                });
                FunctionError {
                    text: e.message,
                    argument,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(a: [&str; 4]) -> Result<Value, FunctionError> {
        DbuserArn.call(&a.map(Value::string))
    }

    #[test]
    fn builds_arns() {
        assert_eq!(
            call(["cn-north-1", "123456789012", "db-XYZ", "app"]),
            Ok(Value::string(
                "arn:aws-cn:rds-db:cn-north-1:123456789012:dbuser:db-XYZ/app"
            ))
        );
    }

    #[test]
    fn errors_name_the_argument() {
        let e = call(["eu-west-1", "12345", "cluster-A", "app"]).err();
        assert_eq!(e.and_then(|e| e.argument), Some(1));
        let e = call(["eu-west-1", "123456789012", "cluster-A", ""]).err();
        assert_eq!(e.and_then(|e| e.argument), Some(3));
    }
}
