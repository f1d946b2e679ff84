//! `data "rdsiam_instance"`: an RDS DB instance's resource id, ARN, endpoint and IAM
//! authentication flag (DescribeDBInstances).

use std::sync::Arc;

use async_trait::async_trait;

use crate::aws::rds::{self, Kind};
use crate::provider::ProviderState;
use crate::tfplugin::{Ctx, DataSource, Diagnostics, Schema, Value};

const DESCRIPTION: &str = "Looks up an RDS DB instance (RDS for PostgreSQL) by identifier with \
`rds:DescribeDBInstances`, for its **resource id** (`db-…`) — what `rds-db:connect` policies \
need — and its endpoint.\n\n\
For an instance that belongs to an Aurora cluster, IAM policies use the *cluster's* resource id: \
use `rdsiam_cluster` instead (the read warns about this). It also warns when IAM database \
authentication is disabled.\n\n\
Uses the provider's `aws` settings (credentials are looked up only now, not at configure \
time).";

pub struct InstanceLookup {
    state: Arc<ProviderState>,
}

impl InstanceLookup {
    pub fn new(state: Arc<ProviderState>) -> Self {
        InstanceLookup { state }
    }
}

#[async_trait]
impl DataSource for InstanceLookup {
    fn type_name(&self) -> &'static str {
        "rdsiam_instance"
    }

    fn schema(&self) -> Schema {
        rds::lookup_schema(
            Kind::Instance,
            DESCRIPTION,
            "The DB instance identifier (its name, e.g. `app-postgres`) or ARN.",
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        rds::validate_lookup(Kind::Instance, config)
    }

    async fn read(&self, ctx: &Ctx, config: Value) -> (Value, Diagnostics) {
        rds::read_lookup(&self.state, ctx, Kind::Instance, config).await
    }
}
