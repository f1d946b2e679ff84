//! Data sources, one file each.

pub mod policy_document;
