//! `ephemeral "rdsiam_auth_token"` (Terraform >= 1.10): the same token as the data source, but
//! it exists only while Terraform runs — never in a plan or state file.

use std::sync::Arc;

use async_trait::async_trait;

use crate::data_sources::auth_token::{mint, token_schema, validate_token_config};
use crate::provider::ProviderState;
use crate::tfplugin::{Ctx, Diagnostics, EphemeralResource, OpenResponse, Schema, Value};

pub struct EphemeralAuthToken {
    state: Arc<ProviderState>,
}

impl EphemeralAuthToken {
    pub fn new(state: Arc<ProviderState>) -> Self {
        EphemeralAuthToken { state }
    }
}

#[async_trait]
impl EphemeralResource for EphemeralAuthToken {
    fn type_name(&self) -> &'static str {
        "rdsiam_auth_token"
    }

    fn schema(&self) -> Schema {
        token_schema(
            "An RDS IAM authentication token that never reaches plan or state files \
             (Terraform >= 1.10). Use it where ephemeral values are accepted: another \
             provider's configuration (e.g. the `password` of a PostgreSQL provider), a \
             `provisioner \"local-exec\"` `environment`, or a write-only argument. A fresh token \
             is minted each time Terraform opens it; it is valid for new connections for up to \
             `expires_in` seconds (default 900).",
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_token_config(config)
    }

    async fn open(&self, _ctx: &Ctx, config: Value) -> OpenResponse {
        match mint(&self.state, &config).await {
            // Nothing to renew or close: a token is only a signature.
            Ok(result) => OpenResponse {
                result,
                ..OpenResponse::default()
            },
            Err(diags) => OpenResponse {
                diags,
                ..OpenResponse::default()
            },
        }
    }
}
