//! Managed resources, one file each: schema, SQL, CRUD and unit tests together.

pub mod postgres_user;
