//! RDS lookups behind `rdsiam_cluster`, `rdsiam_instance` and `rdsiam_proxy`: the API calls,
//! turning their (all-optional) output into [`DbInfo`], and errors that say what to do. The
//! data sources' schema and state are `data_sources::rds_lookup`.

use std::error::Error as StdError;
use std::fmt::Display;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{DbCluster, DbInstance, DbProxy, IamAuthMode};

use crate::aws::AwsError;
use crate::aws::credentials::{RDS_MAX_ATTEMPTS, error_chain};
use crate::tfplugin::log;

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
    pub master_username: Option<String>,
    /// The Secrets Manager secret RDS keeps the master password in (managed master password).
    pub master_user_secret_arn: Option<String>,
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
    info.master_username = c.master_username().map(str::to_string);
    info.master_user_secret_arn = c
        .master_user_secret()
        .and_then(|m| m.secret_arn())
        .map(str::to_string);
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
    info.master_username = i.master_username().map(str::to_string);
    info.master_user_secret_arn = i
        .master_user_secret()
        .and_then(|m| m.secret_arn())
        .map(str::to_string);
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

/// Turns an SDK error into an error that says what failed and what to do. Service error
/// messages are AWS's own; nothing here can contain credentials.
pub fn sdk_error<E, R>(kind: Kind, id: &str, region: &str, err: &SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let noun = kind.noun();
    let op = kind.operation();
    let cause = error_chain(err);
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = e.message().unwrap_or("");
            if kind.not_found_codes().contains(&code) {
                return AwsError::not_found(
                    format!("{noun} not found"),
                    format!(
                        "No {noun} {id:?} exists in region {region} of this account ({code}: \
                         {message}). Check the identifier, the region (`region` here or in the \
                         provider's `aws` block) and the account of the credentials in use."
                    ),
                );
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
                _ => super::caller_trouble(code, RDS_MAX_ATTEMPTS)
                    .unwrap_or(("RDS request failed", String::new())),
            };
            AwsError::new(
                summary,
                format!("{op} for {noun} {id:?} failed with {code}: {message}\n\n{advice}")
                    .trim_end()
                    .to_string(),
            )
        }
        SdkError::DispatchFailure(_) => AwsError::new(
            "Cannot reach the RDS API",
            format!(
                "{op} for {noun} {id:?} could not be sent: {cause}. Check network access to the \
                 RDS endpoint (or `endpoints.rds` in the provider's `aws` block)."
            ),
        ),
        SdkError::TimeoutError(_) => AwsError::new(
            "RDS request timed out",
            format!("{op} for {noun} {id:?} timed out: {cause}."),
        ),
        _ => AwsError::new(
            "RDS request failed",
            format!("{op} for {noun} {id:?} failed: {cause}."),
        ),
    }
}

fn unexpected(kind: Kind, id: &str, why: impl Display) -> AwsError {
    AwsError::new(
        "Unexpected RDS response",
        format!("Describing {} {id:?}: {why}.", kind.noun()),
    )
}

// ---- API calls ----

pub async fn describe_cluster(client: &aws_sdk_rds::Client, id: &str) -> Result<DbInfo, AwsError> {
    let kind = Kind::Cluster;
    log_lookup(kind, id, client);
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .map_err(|e| sdk_error(kind, id, &region_of(client), &e))?;
    let first = out
        .db_clusters()
        .first()
        .ok_or_else(|| not_found(kind, id))?;
    cluster_info(first).map_err(|why| unexpected(kind, id, why))
}

pub async fn describe_instance(client: &aws_sdk_rds::Client, id: &str) -> Result<DbInfo, AwsError> {
    let kind = Kind::Instance;
    log_lookup(kind, id, client);
    let out = client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .map_err(|e| sdk_error(kind, id, &region_of(client), &e))?;
    let first = out
        .db_instances()
        .first()
        .ok_or_else(|| not_found(kind, id))?;
    instance_info(first).map_err(|why| unexpected(kind, id, why))
}

pub async fn describe_proxy(client: &aws_sdk_rds::Client, id: &str) -> Result<DbInfo, AwsError> {
    let kind = Kind::Proxy;
    log_lookup(kind, id, client);
    let out = client
        .describe_db_proxies()
        .db_proxy_name(id)
        .send()
        .await
        .map_err(|e| sdk_error(kind, id, &region_of(client), &e))?;
    let first = out
        .db_proxies()
        .first()
        .ok_or_else(|| not_found(kind, id))?;
    proxy_info(first).map_err(|why| unexpected(kind, id, why))
}

fn log_lookup(kind: Kind, id: &str, client: &aws_sdk_rds::Client) {
    log::debug(
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

fn not_found(kind: Kind, id: &str) -> AwsError {
    AwsError::not_found(
        format!("{} not found", kind.noun()),
        format!("The RDS API returned no {} named {id:?}.", kind.noun()),
    )
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
        let err = err.unwrap_or_else(|| AwsError::new("", ""));
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
        let err = err.unwrap_or_else(|| AwsError::new("", ""));
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
}
