//! The `rdsiam` provider: its configuration block and the list of what it offers. Parsing and
//! checking the `aws` and `postgres` blocks is `aws_block` / `postgres_block`; what the parsed
//! settings mean lives in `aws::credentials` and `pg::settings`.
//!
//! Terraform starts one provider process per command and per provider configuration, so the
//! [`ProviderState`] below is per-command state: `configure` fills it once and every data source
//! holds the same `Arc` to it.

pub mod aws_block;
pub mod postgres_block;
pub mod secret_password;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::aws::credentials::Aws;
use crate::aws::{AwsError, token};
use crate::data_sources::auth_token::AuthToken;
use crate::data_sources::policy_document::PolicyDocument;
use crate::data_sources::{cluster, instance, proxy};
use crate::ephemeral::auth_token::EphemeralAuthToken;
use crate::functions::dbuser_arn::DbuserArn;
use crate::pg::connect::{PasswordSource, Pool, StaticPassword};
use crate::pg::settings::PgSettings;
use crate::pg::{Pg, PgSource};
use crate::resources::managed::Managed;
use crate::resources::postgres_user::PostgresUser;
use crate::tfplugin::{
    Block, ConfigureRequest, Ctx, DataSource, Diagnostic, Diagnostics, EphemeralResource, Function,
    Provider, Resource, Schema, Value,
};

/// Where users find us; also the key of the `TF_REATTACH_PROVIDERS` value in `--debug` mode.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/rdsiam/rdsiam";

/// What `configure` sets up for the data sources. Holds settings only: AWS is contacted lazily.
#[derive(Default)]
pub struct ProviderState {
    aws: OnceLock<Arc<Aws>>,
    /// The `postgres` block as configured; resolved (with the environment) on first use.
    pg_block: OnceLock<Value>,
    pg: tokio::sync::OnceCell<Arc<Pg>>,
}

impl ProviderState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the AWS settings; a second call (which Terraform never makes) keeps the first.
    pub fn set_aws(&self, aws: Aws) {
        let _ = self.aws.set(Arc::new(aws));
    }

    pub fn set_pg_block(&self, block: Value) {
        let _ = self.pg_block.set(block);
    }

    /// The shared AWS access, or an error if the provider was not configured.
    pub fn aws(&self) -> Result<Arc<Aws>, Diagnostic> {
        self.aws.get().cloned().ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                "The rdsiam provider was asked to read AWS data before Terraform configured it. \
                 This is a bug in Terraform or the provider; please report it.",
            )
        })
    }
}

/// Mints a fresh IAM auth token for every new PostgreSQL connection.
struct IamToken {
    aws: Arc<Aws>,
    settings: PgSettings,
}

/// Test hook: a fixed signing instant (Unix seconds) makes tokens reproducible, so a test can
/// set a local server's password to the token the provider will present.
const FIXED_SIGNING_TIME_ENV: &str = "RDSIAM_TEST_SIGNING_TIME";

/// Test hook: a shorter token lifetime (seconds, 1..=900), so a test can prove that a long
/// apply never presents an expired token when it reconnects.
const TOKEN_LIFETIME_ENV: &str = "RDSIAM_TEST_TOKEN_LIFETIME";

#[async_trait]
impl PasswordSource for IamToken {
    async fn password(&self) -> Result<String, String> {
        let creds = self.aws.credentials().await.map_err(|d| {
            format!(
                "iam_auth needs AWS credentials to mint a token: {}: {}",
                d.summary, d.detail
            )
        })?;
        let region = match &self.settings.token_region {
            Some(r) => r.clone(),
            None => self.aws.region().await.ok_or_else(|| {
                "iam_auth needs the database's AWS region: set postgres.token_region or aws.region (or AWS_REGION)".to_string()
            })?,
        };
        let now = std::env::var(FIXED_SIGNING_TIME_ENV)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap_or_else(std::time::SystemTime::now);
        let s = &self.settings;
        let req = token::TokenRequest {
            hostname: s.token_hostname.as_deref().unwrap_or(&s.host),
            port: s.token_port.unwrap_or(s.port),
            username: &s.username,
            region: &region,
            expires_in: std::env::var(TOKEN_LIFETIME_ENV)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .map(std::time::Duration::from_secs)
                .unwrap_or(token::MAX_EXPIRES_IN),
        };
        token::generate(&creds, &req, now).map_err(|e| format!("cannot mint an IAM token: {e}"))
    }

    fn is_token(&self) -> bool {
        true
    }
}

#[async_trait]
impl PgSource for ProviderState {
    async fn pg(&self) -> Result<Arc<Pg>, String> {
        self.pg
            .get_or_try_init(|| async {
                let block = self.pg_block.get().cloned().unwrap_or(Value::Null);
                let env = |k: &str| std::env::var(k).ok();
                let mut settings = match postgres_block::resolve(&block, &env) {
                    Ok(Some(s)) => s,
                    Ok(None) => {
                        return Err("The provider has no PostgreSQL connection settings: add a `postgres { host = … username = … }` block to the provider (or set PGHOST / PGUSER).".to_string());
                    }
                    Err(d) => {
                        return Err(d
                            .0
                            .iter()
                            .map(|d| match &d.attribute {
                                Some(p) => format!("{p}: {}: {}", d.summary, d.detail),
                                None => format!("{}: {}", d.summary, d.detail),
                            })
                            .collect::<Vec<_>>()
                            .join("\n"));
                    }
                };
                // PGPASSWORD counts too: masked in every later log line.
                if let Some(pw) = &settings.password {
                    crate::tfplugin::log::register_secret(pw);
                }
                let password: Arc<dyn PasswordSource> = if settings.iam_auth {
                    let aws = self.aws().map_err(|d| d.detail)?;
                    Arc::new(IamToken {
                        aws,
                        settings: settings.clone(),
                    })
                } else if let Some(id) = settings.password_secret.clone() {
                    let aws = self.aws().map_err(|d| d.detail)?;
                    let first = secret_password::read(&aws, &id).await?;
                    let from_secret = !settings.username_in_block && first.username.is_some();
                    if let (true, Some(u)) = (from_secret, &first.username) {
                        crate::pg::ident::validate_name(u).map_err(|e| {
                            format!("The username in Secrets Manager secret {id:?} (postgres.password_secret) {e}.")
                        })?;
                        settings.username = u.clone();
                    }
                    if settings.username.is_empty() {
                        return Err(format!("Missing username: Secrets Manager secret {id:?} (postgres.password_secret) holds no username. Set postgres.username or PGUSER: the role the provider logs in as."));
                    }
                    Arc::new(secret_password::SecretPassword::new(
                        aws,
                        id,
                        settings.username.clone(),
                        from_secret,
                        first,
                    ))
                } else {
                    Arc::new(StaticPassword(settings.password.clone().unwrap_or_default()))
                };
                let pool = Pool::new(settings.connect_settings(), password).map_err(|e| e.0)?;
                Ok(Arc::new(Pg::new(pool, settings.database.clone())))
            })
            .await
            .cloned()
    }
}

#[derive(Default)]
pub struct RdsIam {
    state: Arc<ProviderState>,
}

impl RdsIam {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn state(&self) -> &Arc<ProviderState> {
        &self.state
    }
}

#[async_trait]
impl Provider for RdsIam {
    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "The `rdsiam` provider manages AWS RDS and Aurora PostgreSQL IAM database \
                 authentication end to end: `rds-db:connect` policy documents and ARNs (from the \
                 cluster's resource id, not its name), RDS cluster / instance / proxy lookups, \
                 IAM auth tokens, and the PostgreSQL side: IAM users, their grants and default \
                 privileges.\n\n\
                 The provider block is optional. AWS settings go in its `aws` block and are used \
                 only when something needs AWS (lookups, tokens, `postgres.iam_auth`); PostgreSQL \
                 settings go in its `postgres` block and are used only by the \
                 `rdsiam_postgres_*` resources. Planning `rdsiam_policy_document` never needs \
                 credentials.",
            )
            .block(aws_block::aws_block())
            .block(postgres_block::schema_block()),
        )
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![
            Arc::new(PolicyDocument),
            Arc::new(cluster::new(self.state.clone())),
            Arc::new(instance::new(self.state.clone())),
            Arc::new(proxy::new(self.state.clone())),
            Arc::new(AuthToken::new(self.state.clone())),
        ]
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        vec![Arc::new(EphemeralAuthToken::new(self.state.clone()))]
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![
            Arc::new(Managed::new(PostgresUser, self.state.clone())),
            Arc::new(Managed::new(
                crate::resources::postgres_role::PostgresRole,
                self.state.clone(),
            )),
            Arc::new(Managed::new(
                crate::resources::postgres_role_membership::PostgresRoleMembership,
                self.state.clone(),
            )),
            Arc::new(Managed::new(
                crate::resources::postgres_grant::PostgresGrant::new(),
                self.state.clone(),
            )),
            Arc::new(Managed::new(
                crate::resources::postgres_default_privileges::PostgresDefaultPrivileges,
                self.state.clone(),
            )),
        ]
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(DbuserArn)]
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = aws_block::parse_settings(config).1;
        let block = postgres_block::block_of(config);
        d.extend(postgres_block::validate(&block));
        // PGSSLMODE / PGSSLROOTCERT are as much configuration as the block: checked at plan
        // time too, with the warning when the certificate will not be checked.
        d.extend(postgres_block::validate_tls(&block, &|k| {
            std::env::var(k).ok()
        }));
        d
    }

    async fn configure(&self, _ctx: &Ctx, req: ConfigureRequest) -> Diagnostics {
        let (settings, mut diags) = aws_block::parse_settings(&req.config);
        if !diags.has_errors() {
            self.state.set_aws(Aws::new(settings));
        }
        // Stored, not resolved: nothing connects until a resource needs the database. Only the
        // sslrootcert file is read now, so that a missing one fails the plan.
        let block = postgres_block::block_of(&req.config);
        diags.extend(postgres_block::check_tls_files(&block, &|k| {
            std::env::var(k).ok()
        }));
        if let Some(pw) = block.get("password").as_str() {
            crate::tfplugin::log::register_secret(pw);
        }
        crate::tfplugin::log::debug(
            "Provider configured",
            &[
                ("terraform_version", req.terraform_version.as_str().into()),
                ("postgres_block", (!block.is_null()).into()),
            ],
        );
        self.state.set_pg_block(block);
        diags
    }
}

/// An AWS failure as Terraform shows it (AWS errors carry no attribute path of their own).
impl From<AwsError> for Diagnostic {
    fn from(e: AwsError) -> Self {
        Diagnostic::error(e.summary, e.detail)
    }
}

impl From<AwsError> for Diagnostics {
    fn from(e: AwsError) -> Self {
        Diagnostics::from(Diagnostic::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn configure_stores_settings_without_touching_aws() {
        let p = RdsIam::new();
        assert!(p.state().aws().is_err());
        let config = Value::object([(
            "aws",
            Value::List(vec![Value::object([
                ("region", Value::string("eu-west-1")),
                ("profile", Value::string("does-not-exist-anywhere")),
                ("shared_config_files", Value::Null),
                ("shared_credentials_files", Value::Null),
                ("assume_role", Value::List(vec![])),
                ("endpoints", Value::List(vec![])),
            ])]),
        )]);
        let d = p
            .configure(
                &Ctx::default(),
                ConfigureRequest {
                    terraform_version: "1.15.5".into(),
                    config,
                },
            )
            .await;
        assert!(d.is_empty(), "{d:?}");
        let aws = p.state().aws();
        assert_eq!(
            aws.ok()
                .and_then(|a| a.settings().profile.clone())
                .as_deref(),
            Some("does-not-exist-anywhere")
        );
    }

    #[test]
    fn schema_has_one_aws_block() {
        let s = RdsIam::new().schema();
        let aws = s.block.blocks.iter().find(|b| b.name == "aws");
        assert_eq!(aws.map(|b| b.max_items), Some(1));
        let names: Vec<_> = RdsIam::new()
            .data_sources()
            .iter()
            .map(|d| d.type_name())
            .collect();
        assert_eq!(
            names,
            vec![
                "rdsiam_policy_document",
                "rdsiam_cluster",
                "rdsiam_instance",
                "rdsiam_proxy",
                "rdsiam_auth_token"
            ]
        );
    }
}
