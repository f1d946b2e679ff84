//! Managed resources, one file each: typed model, schema, SQL and unit tests together; the
//! lifecycle they share lives in [`managed`].

pub mod import_id;
pub mod managed;
pub mod pg_roles;
pub mod postgres_default_privileges;
pub mod postgres_grant;
pub mod postgres_role;
pub mod postgres_role_membership;
pub mod postgres_user;
