//! Generates the gRPC/protobuf bindings for the Terraform plugin protocol
//! (tfplugin6) and go-plugin's auxiliary services.
//!
//! Parsing is done by `protox` (pure Rust), so no system `protoc` is needed;
//! protox also bundles the well-known types (google/protobuf/*.proto).
//! Well-known types map to `prost_types` (Timestamp) and `()` (Empty).

use std::path::Path;

const PROTO_DIR: &str = "proto";

const PROTO_FILES: &[&str] = &[
    "tfplugin6.proto",
    "plugin/grpc_controller.proto",
    "plugin/grpc_stdio.proto",
    "plugin/grpc_broker.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={PROTO_DIR}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={PROTO_DIR}/{file}");
    }

    let files: Vec<_> = PROTO_FILES
        .iter()
        .map(|f| Path::new(PROTO_DIR).join(f))
        .collect();

    // On error, protox reports a miette diagnostic with file/line context.
    let fds = protox::compile(&files, [PROTO_DIR])?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;

    Ok(())
}
