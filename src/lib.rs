//! terraform-provider-rdsiam: a Terraform provider for RDS / Aurora PostgreSQL IAM authentication.
//!
//! `tfplugin` is the protocol layer and knows nothing about AWS or PostgreSQL; everything else
//! is the provider built on top of it.

pub mod aws;
pub mod data_sources;
pub mod docs;
pub mod ephemeral;
pub mod functions;
pub mod pg;
pub mod provider;
pub mod resources;
pub mod tfplugin;
pub mod validators;
