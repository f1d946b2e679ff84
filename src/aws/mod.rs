//! AWS-side logic: ARNs and policy documents (pure), later credentials, tokens and RDS lookups.

pub mod arn;
pub mod credentials;
pub mod rds;
pub mod token;
