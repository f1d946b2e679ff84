//! Process life cycle: handshake, listen, serve until Terraform says Shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::transport::Server;

use super::handshake;
use super::proto::plugin as gp;
use super::proto::tfplugin6 as pb;
use super::server::{Broker, Controller, GrpcProvider, ProviderService, Stdio};
use super::tls;
use super::traits::Provider;

/// Large states (thousands of grants) must fit in one message.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

pub struct ServeOptions {
    /// Serve without TLS and print a `TF_REATTACH_PROVIDERS` value instead of the handshake.
    pub debug: bool,
    /// e.g. `registry.terraform.io/rdsiam/rdsiam`, used in the reattach value.
    pub provider_address: String,
    /// Runs once when Terraform shuts the provider down, just before the process exits: the
    /// only moment a whole run's figures (e.g. peak memory) are known.
    pub on_shutdown: Option<Box<dyn Fn() + Send + Sync>>,
}

impl ServeOptions {
    /// The provider's type name, the address's last segment (`…/rdsiam/rdsiam` → `rdsiam`):
    /// it prefixes our own error lines and names the socket.
    pub fn provider_name(&self) -> &str {
        let addr = self.provider_address.as_str();
        addr.rsplit('/').next().unwrap_or(addr)
    }
}

/// Removes the socket file however the process ends.
struct SocketGuard(PathBuf);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Serves the provider until Terraform shuts it down. Returns the process exit code.
pub async fn serve(provider: Arc<dyn Provider>, opts: ServeOptions) -> i32 {
    let name = opts.provider_name().to_string();
    if !opts.debug {
        let cookie = std::env::var(handshake::MAGIC_COOKIE_KEY).ok();
        let versions = std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok();
        if let Err(e) = handshake::check_env(cookie.as_deref(), versions.as_deref()) {
            eprintln!("{}", e.message(&format!("terraform-provider-{name}")));
            return 1;
        }
    }

    let sock = handshake::socket_path(
        std::env::var("PLUGIN_UNIX_SOCKET_DIR").ok().as_deref(),
        &name,
    );
    let listener = match UnixListener::bind(&sock) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{name}: cannot listen on {}: {e}", sock.display());
            return 1;
        }
    };
    let _guard = SocketGuard(sock.clone());

    let client_cert = std::env::var("PLUGIN_CLIENT_CERT")
        .ok()
        .filter(|c| !c.is_empty());
    let tls = match (&client_cert, opts.debug) {
        (Some(pem), false) => {
            let built = tls::generate_server_identity()
                .and_then(|id| tls::server_config(&id, pem).map(|cfg| (id.cert_der, cfg)));
            match built {
                Ok(x) => Some(x),
                Err(e) => {
                    eprintln!("{name}: AutoMTLS setup failed: {e}");
                    return 1;
                }
            }
        }
        _ => None,
    };

    let shutdown = Arc::new(tokio::sync::Notify::new());
    spawn_signal_handling(opts.debug);

    let provider_svc = pb::provider_server::ProviderServer::new(GrpcProvider(
        ProviderService::new(provider, &name),
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let router = Server::builder()
        .add_service(health_svc)
        .add_service(provider_svc)
        .add_service(gp::grpc_controller_server::GrpcControllerServer::new(
            Controller {
                shutdown: shutdown.clone(),
            },
        ))
        .add_service(gp::grpc_stdio_server::GrpcStdioServer::new(Stdio))
        .add_service(gp::grpc_broker_server::GrpcBrokerServer::new(Broker));

    // In debug mode the process outlives many Terraform runs: only Ctrl-C ends it.
    let debug = opts.debug;
    let on_shutdown = opts.on_shutdown;
    let stop = async move {
        if debug {
            std::future::pending::<()>().await;
        }
        shutdown.notified().await;
        if let Some(hook) = &on_shutdown {
            hook();
        }
        // go-plugin force-kills 2 s after Shutdown; streams (stdio, broker) never end on
        // their own, so don't wait for a graceful drain.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            std::process::exit(0);
        });
    };

    let served = match tls {
        Some((cert_der, cfg)) => {
            println!("{}", handshake::handshake_line(&sock, Some(&cert_der)));
            flush_stdout();
            let incoming = tls_incoming(listener, cfg, name.clone());
            router.serve_with_incoming_shutdown(incoming, stop).await
        }
        None => {
            if debug {
                print_reattach(&opts.provider_address, &sock);
            } else {
                println!("{}", handshake::handshake_line(&sock, None));
            }
            flush_stdout();
            router
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
                .await
        }
    };
    match served {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: gRPC server failed: {e}");
            1
        }
    }
}

fn flush_stdout() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn print_reattach(address: &str, sock: &std::path::Path) {
    println!(
        "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable with the following:\n\n\tTF_REATTACH_PROVIDERS='{}'\n\nPress Ctrl-C to stop.",
        handshake::reattach_json(address, sock)
    );
}

/// Terraform handles Ctrl-C itself and sends StopProvider; the terminal's SIGINT also reaches
/// us (same process group) and must not kill the plugin mid-apply. In debug mode the user's
/// Ctrl-C is how the server stops.
fn spawn_signal_handling(debug: bool) {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut sigint) = signal(SignalKind::interrupt()) {
        tokio::spawn(async move {
            while sigint.recv().await.is_some() {
                if debug {
                    std::process::exit(0);
                }
            }
        });
    }
}

/// Accepts connections and runs each TLS handshake in its own task, so one slow or failed
/// handshake never blocks the listener.
fn tls_incoming(
    listener: UnixListener,
    cfg: rustls::ServerConfig,
    name: String,
) -> ReceiverStream<Result<tokio_rustls::server::TlsStream<tokio::net::UnixStream>, std::io::Error>>
{
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{name}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            let name = name.clone();
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Err(e) => eprintln!("{name}: TLS handshake with Terraform failed: {e}"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
