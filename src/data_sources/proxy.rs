//! `data "rdsiam_proxy"`: an RDS Proxy's resource id (`prx-…`, from its ARN), endpoint and
//! whether it accepts IAM authentication (DescribeDBProxies).

use std::sync::Arc;

use async_trait::async_trait;

use crate::aws::rds::{self, Kind};
use crate::provider::ProviderState;
use crate::tfplugin::{Ctx, DataSource, Diagnostics, Schema, Value};

const DESCRIPTION: &str = "Looks up an RDS Proxy by name with `rds:DescribeDBProxies`, for its \
**resource id** (`prx-…`, the last part of the proxy ARN) — what `rds-db:connect` policies for \
clients connecting through the proxy need — and its endpoint.\n\n\
`iam_database_authentication_enabled` is true when some `auth` entry has `IAMAuth` `REQUIRED` \
or `ENABLED`, or the proxy uses end-to-end IAM authentication; the read warns otherwise.\n\n\
Uses the provider's `aws` settings (credentials are looked up only now, not at configure \
time).";

pub struct ProxyLookup {
    state: Arc<ProviderState>,
}

impl ProxyLookup {
    pub fn new(state: Arc<ProviderState>) -> Self {
        ProxyLookup { state }
    }
}

#[async_trait]
impl DataSource for ProxyLookup {
    fn type_name(&self) -> &'static str {
        "rdsiam_proxy"
    }

    fn schema(&self) -> Schema {
        rds::lookup_schema(
            Kind::Proxy,
            DESCRIPTION,
            "The proxy's name (`db_proxy_name`, e.g. `app-proxy`).",
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        rds::validate_lookup(Kind::Proxy, config)
    }

    async fn read(&self, ctx: &Ctx, config: Value) -> (Value, Diagnostics) {
        rds::read_lookup(&self.state, ctx, Kind::Proxy, config).await
    }
}
