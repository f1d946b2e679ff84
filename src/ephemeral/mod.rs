//! Ephemeral resources (Terraform >= 1.10): values that live only while Terraform runs.

pub mod auth_token;
