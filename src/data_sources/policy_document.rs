//! `data "rdsiam_policy_document"`: the `rds-db:connect` IAM policy for database users of one
//! cluster, instance or proxy, built offline from its resource id.

use async_trait::async_trait;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::aws::arn::{self, Effect, Field, PolicyInput};
use crate::tfplugin::{
    Attribute, AttributePath, Block, Ctx, DataSource, Diagnostics, Schema, Type, Validator, Value,
    from_value, to_value,
};

pub struct PolicyDocument;

const DESCRIPTION: &str = "Builds the IAM policy document that lets AWS identities connect to \
an RDS / Aurora PostgreSQL database as the given database users with IAM authentication \
(`rds-db:connect`). Needs no AWS credentials: the ARNs are computed from the region, account \
and the **resource id** (`cluster-…`, `db-…` or `prx-…`), not the cluster name.\n\n\
`json` is ready for `aws_iam_policy.policy` or `aws_iam_role_policy.policy`.\n\n\
IAM treats `*`, `?` and `${…}` in resource ARNs as wildcards and variables. A user name \
containing `*`, `?` or `$` is escaped (`${*}`, `${?}`, `${$}`) so it matches only itself; the \
single entry `\"*\"` means every database user.";

/// The configuration and, with `effect`, `arns` and `json` filled in, the state.
#[derive(Serialize, Deserialize)]
struct Doc {
    region: String,
    account_id: String,
    resource_id: String,
    db_users: Vec<String>,
    sid: Option<String>,
    effect: Option<String>,
    arns: Option<Vec<String>>,
    json: Option<String>,
}

fn path_for(field: &Field) -> AttributePath {
    match field {
        Field::Region => AttributePath::root("region"),
        Field::AccountId => AttributePath::root("account_id"),
        Field::ResourceId => AttributePath::root("resource_id"),
        Field::DbUser(i) => AttributePath::root("db_users").index(*i),
        Field::DbUsers => AttributePath::root("db_users"),
        Field::Sid => AttributePath::root("sid"),
        Field::Effect => AttributePath::root("effect"),
    }
}

fn summary_for(field: &Field) -> &'static str {
    match field {
        Field::Region => "Invalid region",
        Field::AccountId => "Invalid account_id",
        Field::ResourceId => "Invalid resource_id",
        Field::DbUser(_) | Field::DbUsers => "Invalid db_users",
        Field::Sid => "Invalid sid",
        Field::Effect => "Invalid effect",
    }
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        Schema::new(
            Block::new(DESCRIPTION)
                .attr(
                    Attribute::string("region")
                        .required()
                        .validate(Validator::string(arn::validate_region))
                        .description("AWS region of the database, e.g. `eu-west-1`. Decides the ARN partition (`aws`, `aws-cn`, `aws-us-gov`, …)."),
                )
                .attr(
                    Attribute::string("account_id")
                        .required()
                        .validate(Validator::string(arn::validate_account_id))
                        .description("The 12-digit AWS account id that owns the database."),
                )
                .attr(
                    Attribute::string("resource_id")
                        .required()
                        .validate(Validator::string(arn::validate_resource_id))
                        .description("The database's resource id: an Aurora cluster's `cluster_resource_id` (`cluster-…`), an instance's `resource_id` (`db-…`) or an RDS Proxy id (`prx-…`). Not the cluster identifier."),
                )
                .attr(
                    Attribute::list_of("db_users", Type::String)
                        .required()
                        .validate(Validator::not_empty(
                            "at least one database user name is required",
                        ))
                        .each(Validator::string(arn::validate_db_user))
                        .description("PostgreSQL user names (case-sensitive, 1 to 63 bytes). `\"*\"` alone means every user."),
                )
                .attr(
                    Attribute::string("sid")
                        .optional()
                        .validate(Validator::string(arn::validate_sid))
                        .description("Statement id (letters and digits only). Omitted from the document when unset."),
                )
                .attr(
                    Attribute::string("effect")
                        .optional()
                        .computed()
                        .validate(Validator::string(|s| s.parse::<Effect>().map(|_| ())))
                        .description("`Allow` (default) or `Deny`."),
                )
                .attr(
                    Attribute::list_of("arns", Type::String)
                        .computed()
                        .description("The `arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE-ID/USER` ARNs, in input order without duplicates."),
                )
                .attr(
                    Attribute::string("json")
                        .computed()
                        .description("The policy document as JSON, with a stable layout so plans never show spurious diffs."),
                ),
        )
    })
}

#[async_trait]
impl DataSource for PolicyDocument {
    fn type_name(&self) -> &'static str {
        "rdsiam_policy_document"
    }

    fn schema(&self) -> Schema {
        schema().clone()
    }

    async fn read(&self, _ctx: &Ctx, config: Value) -> (Value, Diagnostics) {
        let mut diags = schema().validate(&config);
        if diags.has_errors() {
            return (Value::Null, diags);
        }
        let mut doc: Doc = match from_value(&config) {
            Ok(d) => d,
            Err(e) => {
                diags.error("Invalid configuration", e.to_string());
                return (Value::Null, diags);
            }
        };
        let effect = doc
            .effect
            .as_deref()
            .map_or(Effect::Allow, |s| s.parse().unwrap_or_default());
        let input = PolicyInput {
            region: &doc.region,
            account_id: &doc.account_id,
            resource_id: &doc.resource_id,
            db_users: &doc.db_users,
            sid: doc.sid.as_deref(),
            effect,
        };
        match arn::policy_document(&input) {
            Ok(policy) => {
                doc.effect = Some(effect.as_str().to_string());
                doc.arns = Some(policy.arns);
                doc.json = Some(policy.json);
                match to_value(&doc, &schema().implied_type()) {
                    Ok(state) => (state, diags),
                    Err(e) => {
                        diags.error("Cannot build the policy document", e.to_string());
                        (Value::Null, diags)
                    }
                }
            }
            Err(errors) => {
                for e in &errors {
                    diags.error_at(path_for(&e.field), summary_for(&e.field), e.message.clone());
                }
                (Value::Null, diags)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(account: &str, region: &str, rid: &str, users: Vec<Value>) -> Value {
        Value::object([
            ("region", Value::string(region)),
            ("account_id", Value::string(account)),
            ("resource_id", Value::string(rid)),
            ("db_users", Value::List(users)),
            ("sid", Value::Null),
            ("effect", Value::Null),
            ("arns", Value::Null),
            ("json", Value::Null),
        ])
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter()
            .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
            .collect()
    }

    #[test]
    fn bad_input_names_each_attribute() {
        let c = config("12345", "moon-1", "foo", vec![]);
        let d = schema().validate(&c);
        assert_eq!(
            paths(&d),
            vec!["region", "account_id", "resource_id", "db_users"]
        );
    }

    #[test]
    fn unknowns_are_not_validated() {
        let c = config("12345", "eu-west-1", "cluster-A", vec![Value::Unknown]);
        let mut c2 = c.clone();
        c2.set_attr("account_id", Value::Unknown);
        assert_eq!(paths(&schema().validate(&c)), vec!["account_id"]);
        assert!(schema().validate(&c2).is_empty());
    }

    #[test]
    fn bad_user_points_at_its_index() {
        let c = config(
            "123456789012",
            "eu-west-1",
            "cluster-A",
            vec![Value::string("ok"), Value::string("")],
        );
        assert_eq!(paths(&schema().validate(&c)), vec!["db_users[1]"]);
    }

    #[tokio::test]
    async fn read_builds_state() {
        let c = config(
            "123456789012",
            "eu-west-1",
            "cluster-ABC123",
            vec![Value::string("mario.rossi@example.com")],
        );
        let (state, diags) = PolicyDocument.read(&Ctx::default(), c).await;
        assert!(!diags.has_errors(), "{diags:?}");
        assert_eq!(state.get("effect").as_str(), Some("Allow"));
        let arns = state.get("arns").as_list().unwrap_or_default();
        assert_eq!(
            arns.first().and_then(Value::as_str),
            Some(
                "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/mario.rossi@example.com"
            )
        );
        let json: serde_json::Value =
            serde_json::from_str(state.get("json").as_str().unwrap_or("")).unwrap_or_default();
        assert_eq!(json["Statement"][0]["Action"], "rds-db:connect");
    }
}
