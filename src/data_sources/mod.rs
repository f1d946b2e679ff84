//! Data sources, one file each.

pub mod auth_token;
pub mod cluster;
pub mod instance;
pub mod policy_document;
pub mod proxy;
