//! Generated protobuf/gRPC bindings (see `build.rs` and `proto/`).
//!
//! * [`tfplugin6`]: Terraform plugin protocol 6.10 (`tfplugin6.Provider`).
//! * [`plugin`]: go-plugin's `GRPCController`, `GRPCStdio` and `GRPCBroker`.

/// Terraform plugin protocol version 6 (minor 10).
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    rustdoc::all
)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin internal services (package `plugin`).
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    rustdoc::all
)]
pub mod plugin {
    tonic::include_proto!("plugin");
}
