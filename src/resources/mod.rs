//! Managed resources, one file each: typed model, schema, SQL and unit tests together; the
//! lifecycle they share lives in [`managed`], what PostgreSQL roles and privileges share in
//! [`pg_roles`] and [`privileges`].

pub mod import_id;
pub mod managed;
pub mod pg_roles;
pub mod postgres_default_privileges;
pub mod postgres_grant;
pub mod postgres_role;
pub mod postgres_role_membership;
pub mod postgres_user;
pub mod privileges;
