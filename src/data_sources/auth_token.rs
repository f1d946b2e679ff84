//! `data "rdsiam_auth_token"`: an RDS IAM auth token (the password for an IAM database user),
//! identical to `aws rds generate-db-auth-token`. The token is stored in state; the ephemeral
//! resource of the same name (Terraform >= 1.10) is the way to keep it out.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::aws::token::{self, TokenRequest};
use crate::provider::ProviderState;
use crate::tfplugin::{
    Attribute, AttributePath, Block, Ctx, DataSource, Diagnostic, Diagnostics, Schema, Value,
};

pub struct AuthToken {
    state: Arc<ProviderState>,
}

impl AuthToken {
    pub fn new(state: Arc<ProviderState>) -> Self {
        AuthToken { state }
    }
}

const DEFAULT_PORT: i64 = 5432;
const DEFAULT_EXPIRES_IN: i64 = 900;

/// The schema shared with the ephemeral resource; only the description differs.
pub(crate) fn token_schema(description: &str) -> Schema {
    Schema::new(
        Block::new(description)
            .attr(
                Attribute::string("hostname")
                    .required()
                    .description("Database endpoint the token is for, e.g. the cluster's `endpoint` (no scheme, no port)."),
            )
            .attr(
                Attribute::number("port")
                    .optional()
                    .computed()
                    .description("Database port (default 5432). Part of what is signed."),
            )
            .attr(
                Attribute::string("username")
                    .required()
                    .description("PostgreSQL user the token logs in as (case-sensitive); it must be a member of `rds_iam`."),
            )
            .attr(
                Attribute::string("region")
                    .optional()
                    .computed()
                    .description("Region of the database (default: the provider's `aws` region)."),
            )
            .attr(
                Attribute::number("expires_in")
                    .optional()
                    .computed()
                    .description("Lifetime in seconds, 1 to 900 (default 900). A token only needs to be valid when a connection starts."),
            )
            .attr(
                Attribute::string("token")
                    .computed()
                    .sensitive()
                    .description("The token: use it as the PostgreSQL password, over TLS."),
            )
            .attr(
                Attribute::string("expires_at")
                    .computed()
                    .description("When the token stops being accepted for new connections (RFC 3339, UTC)."),
            ),
    )
}

/// Plan-time checks of whatever is known.
pub(crate) fn validate_token_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let port = config.get("port");
    let port_ok = match port.as_f64() {
        Some(p) if !(1.0..=65535.0).contains(&p) || p.fract() != 0.0 => {
            d.error_at(
                AttributePath::root("port"),
                "Invalid port",
                format!("{p} is not a TCP port (1 to 65535)."),
            );
            None
        }
        Some(p) => u16::try_from(p as i64).ok(),
        None => None,
    };
    if let Some(h) = config.get("hostname").as_str() {
        let port = port_ok.unwrap_or(5432);
        if let Err(e) = token::validate_hostname(h, port) {
            d.error_at(AttributePath::root("hostname"), "Invalid hostname", e.0);
        }
    }
    if let Some(u) = config.get("username").as_str()
        && let Err(e) = token::validate_username(u)
    {
        d.error_at(AttributePath::root("username"), "Invalid username", e.0);
    }
    if let Some(r) = config.get("region").as_str()
        && let Err(e) = token::validate_region(r)
    {
        d.error_at(AttributePath::root("region"), "Invalid region", e.0);
    }
    if let Some(n) = config.get("expires_in").as_f64()
        && (!(1.0..=900.0).contains(&n) || n.fract() != 0.0)
    {
        d.error_at(
            AttributePath::root("expires_in"),
            "Invalid expires_in",
            format!("{n} seconds: RDS accepts whole seconds from 1 to 900."),
        );
    }
    d
}

/// A freshly minted token and the full result object (inputs with defaults filled in).
pub(crate) async fn mint(state: &ProviderState, config: &Value) -> Result<Value, Diagnostics> {
    let d = validate_token_config(config);
    if d.has_errors() {
        return Err(d);
    }
    let aws = state.aws().map_err(Diagnostics::from)?;
    let region = match config.get("region").as_str() {
        Some(r) => r.to_string(),
        None => aws.region().await.ok_or_else(|| {
            Diagnostics::from(
                Diagnostic::error(
                    "No AWS region for the token",
                    "Set region here, aws.region in the provider block, or AWS_REGION.",
                )
                .at(AttributePath::root("region")),
            )
        })?,
    };
    let creds = aws.credentials().await.map_err(Diagnostics::from)?;
    let port = config.get("port").as_i64().unwrap_or(DEFAULT_PORT);
    let expires_in = config
        .get("expires_in")
        .as_i64()
        .unwrap_or(DEFAULT_EXPIRES_IN);
    let req = TokenRequest {
        hostname: config.get("hostname").as_str().unwrap_or_default(),
        port: u16::try_from(port).unwrap_or(5432),
        username: config.get("username").as_str().unwrap_or_default(),
        region: &region,
        expires_in: Duration::from_secs(u64::try_from(expires_in).unwrap_or(900)),
    };
    let now = SystemTime::now();
    let tok = token::generate(&creds, &req, now)
        .map_err(|e| Diagnostics::from(Diagnostic::error("Cannot create the token", e.0)))?;
    let mut out = config.clone();
    out.set_attr("port", Value::int(port));
    out.set_attr("region", Value::string(region.as_str()));
    out.set_attr("expires_in", Value::int(expires_in));
    out.set_attr("token", Value::string(tok));
    out.set_attr(
        "expires_at",
        Value::string(token::expires_at(now, req.expires_in)),
    );
    Ok(out)
}

#[async_trait]
impl DataSource for AuthToken {
    fn type_name(&self) -> &'static str {
        "rdsiam_auth_token"
    }

    fn schema(&self) -> Schema {
        token_schema(
            "An RDS IAM authentication token, byte for byte what `aws rds generate-db-auth-token` \
             returns, signed with the provider's AWS credentials — no `data \"external\"` and no \
             AWS CLI needed.\n\n**The token is written to the Terraform state and plan files** \
             (marked sensitive, but stored). On Terraform 1.10 and later prefer the ephemeral \
             resource `rdsiam_auth_token`, which never reaches state. Tokens are valid for new \
             connections for at most 15 minutes; a new one is minted at every plan and apply.",
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_token_config(config)
    }

    async fn read(&self, _ctx: &Ctx, config: Value) -> (Value, Diagnostics) {
        match mint(&self.state, &config).await {
            Ok(v) => (v, Diagnostics::new()),
            Err(d) => (Value::Null, d),
        }
    }
}
