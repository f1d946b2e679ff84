//! Managed resources, one file each: schema, SQL, CRUD and unit tests together.

pub mod import_id;
pub mod managed;
pub mod postgres_default_privileges;
pub mod postgres_grant;
pub mod postgres_user;
pub mod privileges;

use crate::tfplugin::{Diagnostic, Diagnostics};

/// The provider could not give a resource its PostgreSQL access (settings or connection).
pub(crate) fn pg_unavailable(e: String) -> Diagnostics {
    Diagnostic::error("PostgreSQL is not available", e).into()
}
