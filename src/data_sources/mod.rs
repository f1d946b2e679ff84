//! Data sources, one file each; the three RDS lookups share `rds_lookup`.

pub mod auth_token;
pub mod cluster;
pub mod instance;
pub mod policy_document;
pub mod proxy;
pub mod rds_lookup;
