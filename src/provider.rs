//! The `rdsiam` provider: its (for now empty) configuration block and the list of what it
//! offers. Later issues add `aws` and `postgres` settings here.

use std::sync::Arc;

use crate::data_sources::policy_document::PolicyDocument;
use crate::functions::dbuser_arn::DbuserArn;
use crate::tfplugin::{Block, DataSource, Function, Provider, Schema};

/// Where users find us; also the key of the `TF_REATTACH_PROVIDERS` value in `--debug` mode.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/rdsiam/rdsiam";

#[derive(Default)]
pub struct RdsIam;

impl Provider for RdsIam {
    fn schema(&self) -> Schema {
        Schema::new(Block::new(
            "The `rdsiam` provider manages AWS RDS and Aurora PostgreSQL IAM database \
             authentication: `rds-db:connect` policy documents today; IAM users, grants and \
             tokens as they land.",
        ))
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(PolicyDocument)]
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(DbuserArn)]
    }
}
