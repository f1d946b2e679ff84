//! Managed resources, one file each: schema, SQL, CRUD and unit tests together.

pub mod import_id;
pub mod postgres_default_privileges;
pub mod postgres_grant;
pub mod postgres_user;
