//! RDS lookups behind `rdsiam_cluster`, `rdsiam_instance` and `rdsiam_proxy`: the API calls,
//! turning their (all-optional) output into [`DbInfo`], error diagnostics, and the schema and
//! read logic the three data sources share.

use std::error::Error as StdError;
use std::fmt::Display;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{DbCluster, DbInstance, DbProxy, IamAuthMode};

use crate::aws::arn;
use crate::aws::credentials::{RDS_MAX_ATTEMPTS, error_chain};
use crate::provider::ProviderState;
use crate::tfplugin::{
    Attribute, AttributePath, Block, Ctx, Diagnostic, Diagnostics, Schema, Value,
};

/// The parts of an ARN `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub resource: &'a str,
}

/// Splits an ARN; `None` unless it has all six parts and a non-empty partition and account.
pub fn parse_arn(s: &str) -> Option<Arn<'_>> {
    let mut it = s.splitn(6, ':');
    let (prefix, partition, service, region, account_id, resource) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    (prefix == "arn" && !partition.is_empty() && !account_id.is_empty()).then_some(Arn {
        partition,
        service,
        region,
        account_id,
        resource,
    })
}

/// What the lookups report about a cluster, instance or proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbInfo {
    pub resource_id: String,
    pub arn: String,
    pub account_id: String,
    pub partition: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub reader_endpoint: Option<String>,
    pub port: Option<i64>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub iam_enabled: Option<bool>,
    /// The Aurora cluster an instance belongs to, if any.
    pub cluster_identifier: Option<String>,
}

fn missing(field: &str) -> String {
    format!("the RDS response has no {field}")
}

fn with_arn(arn_text: Option<&str>, field: &str) -> Result<DbInfo, String> {
    let arn_text = arn_text.ok_or_else(|| missing(field))?;
    let a = parse_arn(arn_text).ok_or_else(|| format!("{field} {arn_text:?} is not an ARN"))?;
    Ok(DbInfo {
        arn: arn_text.to_string(),
        account_id: a.account_id.to_string(),
        partition: a.partition.to_string(),
        region: a.region.to_string(),
        ..DbInfo::default()
    })
}

pub fn cluster_info(c: &DbCluster) -> Result<DbInfo, String> {
    let mut info = with_arn(c.db_cluster_arn(), "DBClusterArn")?;
    info.resource_id = c
        .db_cluster_resource_id()
        .ok_or_else(|| missing("DbClusterResourceId"))?
        .to_string();
    info.endpoint = c.endpoint().map(str::to_string);
    info.reader_endpoint = c.reader_endpoint().map(str::to_string);
    info.port = c.port().map(i64::from);
    info.engine = c.engine().map(str::to_string);
    info.engine_version = c.engine_version().map(str::to_string);
    info.iam_enabled = c.iam_database_authentication_enabled();
    Ok(info)
}

pub fn instance_info(i: &DbInstance) -> Result<DbInfo, String> {
    let mut info = with_arn(i.db_instance_arn(), "DBInstanceArn")?;
    info.resource_id = i
        .dbi_resource_id()
        .ok_or_else(|| missing("DbiResourceId"))?
        .to_string();
    info.endpoint = i.endpoint().and_then(|e| e.address()).map(str::to_string);
    info.port = i
        .endpoint()
        .and_then(|e| e.port())
        .or(i.db_instance_port().filter(|p| *p > 0))
        .map(i64::from);
    info.engine = i.engine().map(str::to_string);
    info.engine_version = i.engine_version().map(str::to_string);
    info.iam_enabled = i.iam_database_authentication_enabled();
    info.cluster_identifier = i.db_cluster_identifier().map(str::to_string);
    Ok(info)
}

/// RDS Proxy listens on the engine family's default port; the API does not return it.
fn proxy_port(engine_family: &str) -> Option<i64> {
    match engine_family.to_ascii_uppercase().as_str() {
        "POSTGRESQL" => Some(5432),
        "MYSQL" => Some(3306),
        "SQLSERVER" => Some(1433),
        _ => None,
    }
}

/// Whether clients may connect to the proxy with IAM tokens: an auth entry with `IAMAuth`
/// `REQUIRED` or `ENABLED` (SQL Server), or end-to-end IAM (`DefaultAuthScheme = IAM_AUTH`).
pub fn proxy_iam_enabled(p: &DbProxy) -> bool {
    p.default_auth_scheme() == Some("IAM_AUTH")
        || p.auth().iter().any(|a| {
            matches!(
                a.iam_auth(),
                Some(IamAuthMode::Required | IamAuthMode::Enabled)
            )
        })
}

pub fn proxy_info(p: &DbProxy) -> Result<DbInfo, String> {
    let mut info = with_arn(p.db_proxy_arn(), "DBProxyArn")?;
    // arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-0123456789abcdef0
    let id = info
        .arn
        .rsplit([':', '/'])
        .next()
        .filter(|id| id.starts_with("prx-"))
        .ok_or_else(|| format!("DBProxyArn {:?} does not end in a prx- id", info.arn))?;
    info.resource_id = id.to_string();
    info.endpoint = p.endpoint().map(str::to_string);
    info.port = p.engine_family().and_then(proxy_port);
    info.engine = p.engine_family().map(str::to_string);
    info.iam_enabled = Some(proxy_iam_enabled(p));
    Ok(info)
}

// ---- what is looked up ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Cluster,
    Instance,
    Proxy,
}

impl Kind {
    pub fn id_attr(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster_identifier",
            Kind::Instance => "db_instance_identifier",
            Kind::Proxy => "db_proxy_name",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Kind::Cluster => "DB cluster",
            Kind::Instance => "DB instance",
            Kind::Proxy => "RDS Proxy",
        }
    }

    fn operation(self) -> &'static str {
        match self {
            Kind::Cluster => "rds:DescribeDBClusters",
            Kind::Instance => "rds:DescribeDBInstances",
            Kind::Proxy => "rds:DescribeDBProxies",
        }
    }

    fn not_found_codes(self) -> &'static [&'static str] {
        match self {
            Kind::Cluster => &["DBClusterNotFoundFault"],
            Kind::Instance => &["DBInstanceNotFound", "DBInstanceNotFoundFault"],
            Kind::Proxy => &["DBProxyNotFoundFault"],
        }
    }

    fn enable_hint(self, id: &str) -> String {
        match self {
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
}

/// Checks an identifier's shape: 1–63 letters, digits and hyphens starting with a letter, no
/// `--` or trailing hyphen. Clusters and instances may also be given by ARN.
pub fn validate_identifier(kind: Kind, s: &str) -> Result<(), String> {
    if kind != Kind::Proxy && s.starts_with("arn:") {
        return match parse_arn(s) {
            Some(a) if a.service == "rds" => Ok(()),
            _ => Err(format!("{s:?} is not an RDS ARN")),
        };
    }
    let ok = (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.ends_with('-')
        && !s.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid {} identifier: 1 to 63 letters, digits and hyphens, starting \
             with a letter, without a trailing hyphen or two consecutive hyphens",
            kind.noun()
        ))
    }
}

// ---- errors ----

/// Turns an SDK error into a diagnostic that says what failed and what to do. Service error
/// messages are AWS's own; nothing here can contain credentials.
pub fn sdk_error_diagnostic<E, R>(
    kind: Kind,
    id: &str,
    region: &str,
    err: &SdkError<E, R>,
) -> Diagnostic
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let id_path = AttributePath::root(kind.id_attr());
    let noun = kind.noun();
    let op = kind.operation();
    let cause = error_chain(err);
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = e.message().unwrap_or("");
            if kind.not_found_codes().contains(&code) {
                return Diagnostic::error(
                    format!("{noun} not found"),
                    format!(
                        "No {noun} {id:?} exists in region {region} of this account ({code}: \
                         {message}). Check the identifier, the region (`region` here or in the \
                         provider's `aws` block) and the account of the credentials in use."
                    ),
                )
                .at(id_path);
            }
            let (summary, advice) = match code {
                "AccessDenied"
                | "AccessDeniedException"
                | "AccessDeniedFault"
                | "UnauthorizedOperation"
                | "AuthorizationError" => (
                    "Access denied",
                    format!("Grant `{op}` to the identity in use (see its ARN in the message)."),
                ),
                "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "RequestThrottled" => (
                    "AWS is throttling requests",
                    format!(
                        "Gave up after {RDS_MAX_ATTEMPTS} attempts with backoff. Retry later, run \
                         Terraform with lower -parallelism, or raise the account's API rate."
                    ),
                ),
                "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignature" => (
                    "AWS rejected the credentials",
                    "The credentials are invalid or expired: refresh them (e.g. `aws sso login`) \
                     or check AWS_PROFILE / the provider's `aws` block."
                        .to_string(),
                ),
                _ => ("RDS request failed", String::new()),
            };
            Diagnostic::error(
                summary,
                format!("{op} for {noun} {id:?} failed with {code}: {message}\n\n{advice}")
                    .trim_end()
                    .to_string(),
            )
        }
        SdkError::DispatchFailure(_) => Diagnostic::error(
            "Cannot reach the RDS API",
            format!(
                "{op} for {noun} {id:?} could not be sent: {cause}. Check network access to the \
                 RDS endpoint (or `endpoints.rds` in the provider's `aws` block)."
            ),
        ),
        SdkError::TimeoutError(_) => Diagnostic::error(
            "RDS request timed out",
            format!("{op} for {noun} {id:?} timed out: {cause}."),
        ),
        _ => Diagnostic::error(
            "RDS request failed",
            format!("{op} for {noun} {id:?} failed: {cause}."),
        ),
    }
}

fn unexpected(kind: Kind, id: &str, why: impl Display) -> Diagnostic {
    Diagnostic::error(
        "Unexpected RDS response",
        format!("Describing {} {id:?}: {why}.", kind.noun()),
    )
}

// ---- API calls ----

pub async fn describe_cluster(
    client: &aws_sdk_rds::Client,
    id: &str,
) -> Result<DbInfo, Diagnostic> {
    let kind = Kind::Cluster;
    log_lookup(kind, id, client);
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .map_err(|e| sdk_error_diagnostic(kind, id, &region_of(client), &e))?;
    let first = out
        .db_clusters()
        .first()
        .ok_or_else(|| not_found(kind, id))?;
    cluster_info(first).map_err(|why| unexpected(kind, id, why))
}

pub async fn describe_instance(
    client: &aws_sdk_rds::Client,
    id: &str,
) -> Result<DbInfo, Diagnostic> {
    let kind = Kind::Instance;
    log_lookup(kind, id, client);
    let out = client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .map_err(|e| sdk_error_diagnostic(kind, id, &region_of(client), &e))?;
    let first = out
        .db_instances()
        .first()
        .ok_or_else(|| not_found(kind, id))?;
    instance_info(first).map_err(|why| unexpected(kind, id, why))
}

pub async fn describe_proxy(client: &aws_sdk_rds::Client, id: &str) -> Result<DbInfo, Diagnostic> {
    let kind = Kind::Proxy;
    log_lookup(kind, id, client);
    let out = client
        .describe_db_proxies()
        .db_proxy_name(id)
        .send()
        .await
        .map_err(|e| sdk_error_diagnostic(kind, id, &region_of(client), &e))?;
    let first = out
        .db_proxies()
        .first()
        .ok_or_else(|| not_found(kind, id))?;
    proxy_info(first).map_err(|why| unexpected(kind, id, why))
}

fn log_lookup(kind: Kind, id: &str, client: &aws_sdk_rds::Client) {
    crate::tfplugin::log::debug(
        "RDS lookup",
        &[
            ("kind", kind.noun().into()),
            ("identifier", id.into()),
            ("region", region_of(client).into()),
        ],
    );
}

fn region_of(client: &aws_sdk_rds::Client) -> String {
    client
        .config()
        .region()
        .map_or_else(|| "(unknown)".to_string(), ToString::to_string)
}

fn not_found(kind: Kind, id: &str) -> Diagnostic {
    Diagnostic::error(
        format!("{} not found", kind.noun()),
        format!("The RDS API returned no {} named {id:?}.", kind.noun()),
    )
    .at(AttributePath::root(kind.id_attr()))
}

// ---- the data sources' shared schema and read ----

/// The schema of a lookup data source: its identifier input, optional `region`, and the
/// outputs (`reader_endpoint` for clusters only).
pub fn lookup_schema(kind: Kind, description: &str, id_description: &str) -> Schema {
    let noun = kind.noun();
    let mut b = Block::new(description)
        .attr(
            Attribute::string(kind.id_attr())
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
    Schema::new(b)
}

/// Plan-time checks of a lookup's inputs (unknown values are skipped).
pub fn validate_lookup(kind: Kind, config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let id_attr = kind.id_attr();
    if let Some(id) = config.get(id_attr).as_str()
        && let Err(msg) = validate_identifier(kind, id)
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
                kind.enable_hint(id)
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
        .get(kind.id_attr())
        .as_str()
        .unwrap_or_default()
        .to_string();
    let region = config.get("region").as_str().map(str::to_string);
    let work = async {
        let aws = state.aws()?;
        let client = aws.rds_in(region.as_deref()).await.map_err(|d| {
            match (&region, d.summary.as_str()) {
                // A bad per-data-source region shows up as its own attribute.
                (Some(_), "No AWS region") => d.at(AttributePath::root("region")),
                _ => d,
            }
        })?;
        match kind {
            Kind::Cluster => describe_cluster(&client, &id).await,
            Kind::Instance => describe_instance(&client, &id).await,
            Kind::Proxy => describe_proxy(&client, &id).await,
        }
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
    use crate::aws::credentials::rds_retry_config;
    use aws_sdk_rds::types::{Endpoint, UserAuthConfigInfo};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn arn_parts() {
        let a = parse_arn("arn:aws-cn:rds:cn-north-1:123456789012:db-proxy:prx-0abc");
        assert_eq!(
            a,
            Some(Arn {
                partition: "aws-cn",
                service: "rds",
                region: "cn-north-1",
                account_id: "123456789012",
                resource: "db-proxy:prx-0abc",
            })
        );
        assert_eq!(parse_arn("arn:aws:rds"), None);
        assert_eq!(parse_arn("nope:aws:rds:r:1:x"), None);
    }

    #[test]
    fn cluster_from_api_output() {
        let c = DbCluster::builder()
            .db_cluster_arn("arn:aws-us-gov:rds:us-gov-west-1:123456789012:cluster:app")
            .db_cluster_resource_id("cluster-ABC")
            .endpoint("app.cluster-x.rds.amazonaws.com")
            .reader_endpoint("app.cluster-ro-x.rds.amazonaws.com")
            .port(5432)
            .engine("aurora-postgresql")
            .iam_database_authentication_enabled(true)
            .build();
        let info = cluster_info(&c).unwrap_or_default();
        assert_eq!(info.resource_id, "cluster-ABC");
        assert_eq!(info.partition, "aws-us-gov");
        assert_eq!(info.region, "us-gov-west-1");
        assert_eq!(info.account_id, "123456789012");
        assert_eq!(info.port, Some(5432));
        assert_eq!(info.engine_version, None);
        assert_eq!(info.iam_enabled, Some(true));
        // Missing fields are errors, not panics.
        assert!(cluster_info(&DbCluster::builder().build()).is_err());
        let no_id = DbCluster::builder()
            .db_cluster_arn("arn:aws:rds:eu-west-1:123456789012:cluster:app")
            .build();
        assert!(cluster_info(&no_id).is_err());
    }

    #[test]
    fn instance_from_api_output() {
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
        let info = instance_info(&i).unwrap_or_default();
        assert_eq!(info.endpoint.as_deref(), Some("plain.x.rds.amazonaws.com"));
        assert_eq!(info.port, Some(5433));
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

    #[test]
    fn proxy_from_api_output() {
        let auth = |m: IamAuthMode| UserAuthConfigInfo::builder().iam_auth(m).build();
        let p = DbProxy::builder()
            .db_proxy_arn("arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123abcd")
            .engine_family("POSTGRESQL")
            .endpoint("p.proxy-x.rds.amazonaws.com")
            .auth(auth(IamAuthMode::Disabled))
            .auth(auth(IamAuthMode::Required))
            .build();
        let info = proxy_info(&p).unwrap_or_default();
        assert_eq!(info.resource_id, "prx-0123abcd");
        assert_eq!(info.port, Some(5432));
        assert_eq!(info.iam_enabled, Some(true));
        let off = DbProxy::builder()
            .db_proxy_arn("arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-1")
            .auth(auth(IamAuthMode::Disabled))
            .build();
        assert!(!proxy_iam_enabled(&off));
        let e2e = DbProxy::builder()
            .db_proxy_arn("arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-2")
            .default_auth_scheme("IAM_AUTH")
            .build();
        assert!(proxy_iam_enabled(&e2e));
        let bad = DbProxy::builder()
            .db_proxy_arn("arn:aws:rds:eu-west-1:123456789012:db-proxy:oops")
            .build();
        assert!(proxy_info(&bad).is_err());
    }

    #[test]
    fn identifiers() {
        assert!(validate_identifier(Kind::Cluster, "app-aurora-1").is_ok());
        assert!(
            validate_identifier(
                Kind::Cluster,
                "arn:aws:rds:eu-west-1:123456789012:cluster:a"
            )
            .is_ok()
        );
        for bad in ["", "1abc", "a--b", "a-", "a_b", &"a".repeat(64)] {
            assert!(validate_identifier(Kind::Instance, bad).is_err(), "{bad}");
        }
        assert!(validate_identifier(Kind::Proxy, "arn:aws:rds:x:1:db-proxy:prx-1").is_err());
    }

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

    /// A one-request-per-connection HTTP server answering with `responses` in turn (the last
    /// one repeats); returns its URL and the request count.
    async fn fake_rds(responses: Vec<(u16, &'static str)>) -> Option<(String, Arc<AtomicUsize>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await.ok()?;
        let url = format!("http://{}", listener.local_addr().ok()?);
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let Some(&(status, body)) = responses.get(n).or(responses.last()) else {
                    return;
                };
                // Read the headers and body before answering.
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(k) = sock.read(&mut buf).await {
                    if k == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..k]);
                    let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        Some((url, count))
    }

    fn test_client(url: &str) -> aws_sdk_rds::Client {
        use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_rds::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(url)
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .retry_config(rds_retry_config(Duration::from_millis(1)))
            .build();
        aws_sdk_rds::Client::from_conf(conf)
    }

    const THROTTLED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
        <Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>";
    const DENIED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
        <Message>User: arn:aws:iam::123456789012:user/ci is not authorized to perform: \
        rds:DescribeDBClusters</Message></Error><RequestId>2</RequestId></ErrorResponse>";
    const CLUSTER: &str = "<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters>\
        <DBCluster><DBClusterArn>arn:aws:rds:eu-west-1:123456789012:cluster:app</DBClusterArn>\
        <DbClusterResourceId>cluster-XYZ</DbClusterResourceId><Port>5432</Port>\
        </DBCluster></DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>";

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let Some((url, count)) =
            fake_rds(vec![(400, THROTTLED), (400, THROTTLED), (200, CLUSTER)]).await
        else {
            panic!("cannot bind a local port");
        };
        let info = describe_cluster(&test_client(&url), "app").await;
        assert_eq!(info.map(|i| i.resource_id), Ok("cluster-XYZ".to_string()));
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn throttling_gives_up_after_bounded_attempts() {
        let Some((url, count)) = fake_rds(vec![(400, THROTTLED)]).await else {
            panic!("cannot bind a local port");
        };
        let err = describe_cluster(&test_client(&url), "app").await.err();
        let err = err.unwrap_or_else(|| Diagnostic::error("", ""));
        assert_eq!(err.summary, "AWS is throttling requests");
        assert!(err.detail.contains("Rate exceeded"), "{}", err.detail);
        assert_eq!(count.load(Ordering::SeqCst), RDS_MAX_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn access_denied_is_not_retried() {
        let Some((url, count)) = fake_rds(vec![(403, DENIED)]).await else {
            panic!("cannot bind a local port");
        };
        let err = describe_cluster(&test_client(&url), "app").await.err();
        let err = err.unwrap_or_else(|| Diagnostic::error("", ""));
        assert_eq!(err.summary, "Access denied");
        assert!(
            err.detail.contains("Grant `rds:DescribeDBClusters`"),
            "{}",
            err.detail
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_explained() {
        // Bind then drop: nothing listens on this port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let err = describe_cluster(&test_client(&format!("http://127.0.0.1:{port}")), "app")
            .await
            .err()
            .map(|d| d.summary);
        assert_eq!(err.as_deref(), Some("Cannot reach the RDS API"));
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
