//! Terraform plugin protocol 6 (with go-plugin's handshake, AutoMTLS and services) as a small
//! framework. Knows nothing about AWS or PostgreSQL: providers implement the traits in
//! [`traits`] and hand themselves to [`serve`].

pub mod diagnostics;
pub mod handshake;
pub mod log;
pub mod model;
pub mod proto;
pub mod schema;
pub mod serve;
pub mod server;
pub mod tls;
pub mod traits;
pub mod value;

pub use diagnostics::{AttributePath, Diagnostic, Diagnostics};
pub use model::{Maybe, ModelError, from_value, to_value};
pub use schema::{
    Attribute, Block, IdentityAttribute, IdentitySchema, NestedBlock, Nesting, Schema, Validator,
};
pub use serve::{ServeOptions, serve};
pub use traits::*;
pub use value::{Type, Value};
