//! `data "rdsiam_instance"`: an RDS DB instance's resource id, ARN, endpoint and IAM
//! authentication flag (DescribeDBInstances).

use std::sync::Arc;

use crate::aws::rds::Kind;
use crate::data_sources::rds_lookup::RdsLookup;
use crate::provider::ProviderState;

const DESCRIPTION: &str = "Looks up an RDS DB instance (RDS for PostgreSQL) by identifier with \
`rds:DescribeDBInstances`, for its **resource id** (`db-…`) — what `rds-db:connect` policies \
need — and its endpoint.\n\n\
For an instance that belongs to an Aurora cluster, IAM policies use the *cluster's* resource id: \
use `rdsiam_cluster` instead (the read warns about this). It also warns when IAM database \
authentication is disabled.\n\n\
Uses the provider's `aws` settings (credentials are looked up only now, not at configure \
time).";

pub fn new(state: Arc<ProviderState>) -> RdsLookup {
    RdsLookup {
        kind: Kind::Instance,
        type_name: "rdsiam_instance",
        description: DESCRIPTION,
        id_description: "The DB instance identifier (its name, e.g. `app-postgres`) or ARN.",
        state,
    }
}
