//! `data "rdsiam_cluster"`: an Aurora / Multi-AZ DB cluster's resource id, ARN, endpoints and
//! IAM authentication flag (DescribeDBClusters).

use std::sync::Arc;

use async_trait::async_trait;

use crate::aws::rds::{self, Kind};
use crate::provider::ProviderState;
use crate::tfplugin::{Ctx, DataSource, Diagnostics, Schema, Value};

const DESCRIPTION: &str = "Looks up an RDS DB cluster (Aurora PostgreSQL, or a Multi-AZ DB \
cluster) by identifier with `rds:DescribeDBClusters`, for its **resource id** — what \
`rds-db:connect` policies need — and its endpoints.\n\n\
Uses the provider's `aws` settings (credentials are looked up only now, not at configure time). \
Warns when IAM database authentication is disabled on the cluster.\n\n\
Pass its `region`, `account_id` and `resource_id` to `rdsiam_policy_document` (or to \
`provider::rdsiam::dbuser_arn`) to build the `rds-db:connect` policy of the cluster's users.";

pub struct ClusterLookup {
    state: Arc<ProviderState>,
}

impl ClusterLookup {
    pub fn new(state: Arc<ProviderState>) -> Self {
        ClusterLookup { state }
    }
}

#[async_trait]
impl DataSource for ClusterLookup {
    fn type_name(&self) -> &'static str {
        "rdsiam_cluster"
    }

    fn schema(&self) -> Schema {
        rds::lookup_schema(
            Kind::Cluster,
            DESCRIPTION,
            "The DB cluster identifier (its name, e.g. `app-aurora`) or ARN.",
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        rds::validate_lookup(Kind::Cluster, config)
    }

    async fn read(&self, ctx: &Ctx, config: Value) -> (Value, Diagnostics) {
        rds::read_lookup(&self.state, ctx, Kind::Cluster, config).await
    }
}
