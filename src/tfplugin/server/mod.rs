//! The gRPC side: `tfplugin6.Provider` decoding every request with the schema and calling the
//! typed traits, plus go-plugin's controller, stdio and broker services (health is
//! tonic-health's, added in `serve`).
//!
//! [`convert`] maps protocol messages to typed values and back, [`dispatch`] holds the typed
//! logic of each RPC, and [`grpc`] is the tonic service (logging, `Unimplemented` stubs).

mod convert;
mod dispatch;
mod grpc;
#[cfg(test)]
mod tests;

pub use dispatch::ProviderService;
pub use grpc::{Broker, Controller, GrpcProvider, Stdio};
