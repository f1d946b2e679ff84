//! `data "rdsiam_proxy"`: an RDS Proxy's resource id (`prx-…`, from its ARN), endpoint and
//! whether it accepts IAM authentication (DescribeDBProxies).

use std::sync::Arc;

use crate::aws::rds::Kind;
use crate::data_sources::rds_lookup::RdsLookup;
use crate::provider::ProviderState;

const DESCRIPTION: &str = "Looks up an RDS Proxy by name with `rds:DescribeDBProxies`, for its \
**resource id** (`prx-…`, the last part of the proxy ARN) — what `rds-db:connect` policies for \
clients connecting through the proxy need — and its endpoint.\n\n\
`iam_database_authentication_enabled` is true when some `auth` entry has `IAMAuth` `REQUIRED` \
or `ENABLED`, or the proxy uses end-to-end IAM authentication; the read warns otherwise.\n\n\
Uses the provider's `aws` settings (credentials are looked up only now, not at configure \
time).";

pub fn new(state: Arc<ProviderState>) -> RdsLookup {
    RdsLookup {
        kind: Kind::Proxy,
        type_name: "rdsiam_proxy",
        description: DESCRIPTION,
        id_description: "The proxy's name (`db_proxy_name`, e.g. `app-proxy`).",
        state,
    }
}
