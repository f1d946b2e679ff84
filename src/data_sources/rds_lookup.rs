//! What `rdsiam_cluster`, `rdsiam_instance` and `rdsiam_proxy` share: the schema, plan-time
//! checks, the read (AWS calls in `aws::rds`) and the state built from its [`DbInfo`]. Each
//! data source file only names its type and describes it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::aws::arn;
use crate::aws::rds::{self, DbInfo, Kind};
use crate::provider::ProviderState;
use crate::tfplugin::{
    Attribute, AttributePath, Block, Ctx, DataSource, Diagnostic, Diagnostics, Schema, Value,
};

/// A lookup data source of one [`Kind`].
pub struct RdsLookup {
    pub kind: Kind,
    pub type_name: &'static str,
    pub description: &'static str,
    pub id_description: &'static str,
    pub state: Arc<ProviderState>,
}

#[async_trait]
impl DataSource for RdsLookup {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn schema(&self) -> Schema {
        lookup_schema(self.kind, self.description, self.id_description)
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_lookup(self.kind, config)
    }

    async fn read(&self, ctx: &Ctx, config: Value) -> (Value, Diagnostics) {
        read_lookup(&self.state, ctx, self.kind, config).await
    }
}

/// The attribute naming what is looked up.
pub fn id_attr(kind: Kind) -> &'static str {
    match kind {
        Kind::Cluster => "cluster_identifier",
        Kind::Instance => "db_instance_identifier",
        Kind::Proxy => "db_proxy_name",
    }
}

/// How to turn on IAM database authentication, for the warning when it is off.
fn enable_hint(kind: Kind, id: &str) -> String {
    match kind {
        Kind::Cluster => format!(
            "set `iam_database_authentication_enabled = true` on the `aws_rds_cluster`, or run \
             `aws rds modify-db-cluster --db-cluster-identifier {id} \
             --enable-iam-database-authentication --apply-immediately`"
        ),
        Kind::Instance => format!(
            "set `iam_database_authentication_enabled = true` on the `aws_db_instance`, or run \
             `aws rds modify-db-instance --db-instance-identifier {id} \
             --enable-iam-database-authentication --apply-immediately`"
        ),
        Kind::Proxy => format!(
            "set `iam_auth = \"REQUIRED\"` in the `auth` block of the `aws_db_proxy`, or run \
             `aws rds modify-db-proxy --db-proxy-name {id} --auth …IAMAuth=REQUIRED…`"
        ),
    }
}

/// The schema of a lookup data source: its identifier input, optional `region`, and the
/// outputs (`reader_endpoint` for clusters only).
pub fn lookup_schema(kind: Kind, description: &str, id_description: &str) -> Schema {
    let noun = kind.noun();
    let mut b = Block::new(description)
        .attr(
            Attribute::string(id_attr(kind))
                .required()
                .description(id_description),
        )
        .attr(Attribute::string("region").optional().computed().description(format!(
            "AWS region of the {noun}. Default: the provider's region (`aws.region`, then \
             `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile, instance metadata). Set from the \
             ARN after the read."
        )))
        .attr(Attribute::string("resource_id").computed().description(match kind {
            Kind::Cluster => "The cluster's resource id (`cluster-…`, the API's `DbClusterResourceId`): what `rds-db:connect` ARNs use — pass it to `rdsiam_policy_document.resource_id`.",
            Kind::Instance => "The instance's resource id (`db-…`, the API's `DbiResourceId`): what `rds-db:connect` ARNs use for a non-Aurora instance — pass it to `rdsiam_policy_document.resource_id`.",
            Kind::Proxy => "The proxy's resource id (`prx-…`, the last part of its ARN): what `rds-db:connect` ARNs use when connecting through the proxy — pass it to `rdsiam_policy_document.resource_id`.",
        }))
        .attr(Attribute::string("arn").computed().description(format!("The {noun}'s ARN.")))
        .attr(Attribute::string("account_id").computed().description(
            "The 12-digit account id, taken from the ARN (no STS call).",
        ))
        .attr(Attribute::string("partition").computed().description(
            "The ARN partition (`aws`, `aws-cn`, `aws-us-gov`, …), taken from the ARN.",
        ))
        .attr(Attribute::string("endpoint").computed().description(match kind {
            Kind::Cluster => "The cluster (writer) endpoint host name.",
            Kind::Instance => "The instance endpoint host name (null while it is being created).",
            Kind::Proxy => "The proxy's default endpoint host name.",
        }));
    if kind == Kind::Cluster {
        b = b.attr(
            Attribute::string("reader_endpoint")
                .computed()
                .description("The cluster's reader endpoint host name."),
        );
    }
    b = b
        .attr(Attribute::number("port").computed().description(match kind {
            Kind::Proxy => "The port clients connect to: the engine family's default (5432 for PostgreSQL), which RDS Proxy always listens on.",
            _ => "The port the database listens on.",
        }))
        .attr(Attribute::string("engine").computed().description(match kind {
            Kind::Proxy => "The proxy's engine family as RDS reports it, e.g. `POSTGRESQL`.",
            _ => "The engine, e.g. `aurora-postgresql` or `postgres`.",
        }))
        .attr(Attribute::string("engine_version").computed().description(match kind {
            Kind::Proxy => "Always null: a proxy has no engine version of its own.",
            _ => "The engine version, e.g. `16.4`.",
        }))
        .attr(
            Attribute::bool("iam_database_authentication_enabled")
                .computed()
                .description(match kind {
                    Kind::Proxy => "Whether clients can authenticate to the proxy with IAM tokens: some `auth` entry has `IAMAuth` `REQUIRED` or `ENABLED`, or the proxy uses end-to-end IAM authentication (`DefaultAuthScheme = IAM_AUTH`). A warning is shown when false.",
                    _ => "Whether IAM database authentication is enabled. When false, tokens are rejected and the read shows a warning.",
                }),
        );
    if kind != Kind::Proxy {
        b = b
            .attr(Attribute::string("master_username").computed().description(
                "The master user's name. With `MasterUserAuthenticationType = iam-db-auth` (RDS for \
                 PostgreSQL and Aurora PostgreSQL) the master user logs in with IAM tokens: use it \
                 as the provider's `postgres.username` with `iam_auth = true` (the RDS API does not \
                 report the authentication type in its Describe calls).",
            ))
            .attr(Attribute::string("master_user_secret_arn").computed().description(
                "The Secrets Manager secret RDS keeps the master password in when it manages it \
                 (`ManageMasterUserPassword`), else null: what the provider's \
                 `postgres.password_secret` takes (in another configuration or unit), and what an \
                 IAM policy grants `secretsmanager:GetSecretValue` on.",
            ));
    }
    Schema::new(b)
}

/// Plan-time checks of a lookup's inputs (unknown values are skipped).
pub fn validate_lookup(kind: Kind, config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let id_attr = id_attr(kind);
    if let Some(id) = config.get(id_attr).as_str()
        && let Err(msg) = rds::validate_identifier(kind, id)
    {
        diags.error_at(
            AttributePath::root(id_attr),
            format!("Invalid {id_attr}"),
            msg,
        );
    }
    if let Some(r) = config.get("region").as_str()
        && let Err(msg) = arn::validate_region(r)
    {
        diags.error_at(AttributePath::root("region"), "Invalid region", msg);
    }
    diags
}

/// The warnings a successful lookup carries.
pub fn lookup_warnings(kind: Kind, id: &str, info: &DbInfo) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let noun = kind.noun();
    // An Aurora member's own flag is not what matters: the cluster warning below covers it.
    let aurora_member = kind == Kind::Instance && info.cluster_identifier.is_some();
    if info.iam_enabled == Some(false) && !aurora_member {
        diags.warning(
            format!("IAM database authentication is disabled on {noun} {id:?}"),
            format!(
                "IAM auth tokens will be rejected until you enable IAM database authentication on \
                 {noun} {id:?}: {}.",
                enable_hint(kind, id)
            ),
        );
    }
    if kind == Kind::Instance
        && let Some(cluster) = &info.cluster_identifier
    {
        diags.warning(
            format!("DB instance {id:?} belongs to Aurora cluster {cluster:?}"),
            format!(
                "IAM policies for Aurora use the cluster's resource id, not the instance's: use \
                 `data \"rdsiam_cluster\"` with `cluster_identifier = {cluster:?}` for the \
                 `rds-db:connect` policy."
            ),
        );
    }
    diags
}

fn opt_string(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::string(s.clone()))
}

/// The data source state: the configuration plus every output.
pub fn lookup_state(kind: Kind, config: &Value, info: &DbInfo) -> Value {
    let mut state = config.clone();
    state.set_attr("region", Value::string(info.region.clone()));
    state.set_attr("resource_id", Value::string(info.resource_id.clone()));
    state.set_attr("arn", Value::string(info.arn.clone()));
    state.set_attr("account_id", Value::string(info.account_id.clone()));
    state.set_attr("partition", Value::string(info.partition.clone()));
    state.set_attr("endpoint", opt_string(&info.endpoint));
    if kind == Kind::Cluster {
        state.set_attr("reader_endpoint", opt_string(&info.reader_endpoint));
    }
    state.set_attr("port", info.port.map_or(Value::Null, Value::int));
    state.set_attr("engine", opt_string(&info.engine));
    state.set_attr("engine_version", opt_string(&info.engine_version));
    state.set_attr(
        "iam_database_authentication_enabled",
        info.iam_enabled.map_or(Value::Null, Value::bool),
    );
    if kind != Kind::Proxy {
        state.set_attr("master_username", opt_string(&info.master_username));
        state.set_attr(
            "master_user_secret_arn",
            opt_string(&info.master_user_secret_arn),
        );
    }
    state
}

/// The whole read of a lookup data source: validate, get a client (lazily configuring AWS),
/// call the API (cancellable by Terraform's StopProvider), build the state.
pub async fn read_lookup(
    state: &ProviderState,
    ctx: &Ctx,
    kind: Kind,
    config: Value,
) -> (Value, Diagnostics) {
    let mut diags = validate_lookup(kind, &config);
    if diags.has_errors() {
        return (Value::Null, diags);
    }
    let id = config
        .get(id_attr(kind))
        .as_str()
        .unwrap_or_default()
        .to_string();
    let region = config.get("region").as_str().map(str::to_string);
    let work = async {
        let aws = state.aws()?;
        let client = aws.rds_in(region.as_deref()).await.map_err(|e| {
            let d = Diagnostic::from(e);
            match (&region, d.summary.as_str()) {
                // A bad per-data-source region shows up as its own attribute.
                (Some(_), "No AWS region") => d.at(AttributePath::root("region")),
                _ => d,
            }
        })?;
        let info = match kind {
            Kind::Cluster => rds::describe_cluster(&client, &id).await,
            Kind::Instance => rds::describe_instance(&client, &id).await,
            Kind::Proxy => rds::describe_proxy(&client, &id).await,
        };
        info.map_err(|e| {
            let not_found = e.not_found;
            let d = Diagnostic::from(e);
            // "Not found" is about the identifier the configuration gave.
            if not_found {
                d.at(AttributePath::root(id_attr(kind)))
            } else {
                d
            }
        })
    };
    let result = tokio::select! {
        r = work => r,
        _ = ctx.cancel.cancelled() => Err(Diagnostic::error(
            "Cancelled",
            format!("Looking up {} {id:?} was cancelled.", kind.noun()),
        )),
    };
    match result {
        Ok(mut info) => {
            if info.region.is_empty() {
                info.region = region.unwrap_or_default();
            }
            diags.extend(lookup_warnings(kind, &id, &info));
            (lookup_state(kind, &config, &info), diags)
        }
        Err(d) => {
            diags.push(d);
            (Value::Null, diags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::types::{DbInstance, Endpoint};

    #[test]
    fn validation_names_attributes() {
        let cfg = Value::object([
            ("cluster_identifier", Value::string("bad_name")),
            ("region", Value::string("moon")),
        ]);
        let d = validate_lookup(Kind::Cluster, &cfg);
        let paths: Vec<String> =
            d.0.iter()
                .filter_map(|d| d.attribute.as_ref().map(ToString::to_string))
                .collect();
        assert_eq!(paths, vec!["cluster_identifier", "region"]);
        let unknown = Value::object([("cluster_identifier", Value::Unknown)]);
        assert!(validate_lookup(Kind::Cluster, &unknown).is_empty());
    }

    #[test]
    fn disabled_iam_and_aurora_members_warn() {
        let i = DbInstance::builder()
            .db_instance_arn("arn:aws:rds:eu-west-1:123456789012:db:plain")
            .dbi_resource_id("db-XYZ")
            .endpoint(
                Endpoint::builder()
                    .address("plain.x.rds.amazonaws.com")
                    .port(5433)
                    .build(),
            )
            .iam_database_authentication_enabled(false)
            .build();
        let info = rds::instance_info(&i).unwrap_or_default();
        let w = lookup_warnings(Kind::Instance, "plain", &info);
        assert_eq!(w.0.len(), 1);
        assert!(w.0[0].detail.contains("tokens will be rejected"));
        assert!(!w.has_errors());
        // An Aurora member gets the "use the cluster" warning instead of the IAM one.
        let member = DbInfo {
            cluster_identifier: Some("aur".into()),
            ..info
        };
        let w = lookup_warnings(Kind::Instance, "aur-1", &member);
        assert_eq!(w.0.len(), 1);
        assert!(w.0[0].summary.contains("belongs to Aurora cluster \"aur\""));
    }

    #[tokio::test]
    async fn unconfigured_provider_is_a_diagnostic() {
        let st = ProviderState::new();
        let cfg = Value::object([
            ("cluster_identifier", Value::string("app")),
            ("region", Value::Null),
        ]);
        let (v, d) = read_lookup(&st, &Ctx::default(), Kind::Cluster, cfg).await;
        assert!(v.is_null());
        assert!(d.has_errors());
        assert_eq!(d.0[0].summary, "Provider not configured");
    }
}
