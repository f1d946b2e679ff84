//! Provider-defined functions (Terraform >= 1.8), one file each. Pure: they run on an
//! unconfigured provider.

pub mod dbuser_arn;
