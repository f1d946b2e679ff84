//! `data "rdsiam_cluster"`: an Aurora / Multi-AZ DB cluster's resource id, ARN, endpoints and
//! IAM authentication flag (DescribeDBClusters).

use std::sync::Arc;

use crate::aws::rds::Kind;
use crate::data_sources::rds_lookup::RdsLookup;
use crate::provider::ProviderState;

const DESCRIPTION: &str = "Looks up an RDS DB cluster (Aurora PostgreSQL, or a Multi-AZ DB \
cluster) by identifier with `rds:DescribeDBClusters`, for its **resource id** — what \
`rds-db:connect` policies need — and its endpoints.\n\n\
Uses the provider's `aws` settings (credentials are looked up only now, not at configure time). \
Warns when IAM database authentication is disabled on the cluster.\n\n\
Pass its `region`, `account_id` and `resource_id` to `rdsiam_policy_document` (or to \
`provider::rdsiam::dbuser_arn`) to build the `rds-db:connect` policy of the cluster's users.";

pub fn new(state: Arc<ProviderState>) -> RdsLookup {
    RdsLookup {
        kind: Kind::Cluster,
        type_name: "rdsiam_cluster",
        description: DESCRIPTION,
        id_description: "The DB cluster identifier (its name, e.g. `app-aurora`) or ARN.",
        state,
    }
}
