//! The tonic service: every `tfplugin6.Provider` RPC logged with its context and handed to the
//! typed dispatch, the RPCs this provider does not offer, and go-plugin's controller, stdio and
//! broker services.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::super::log::{self, Level, LogContext};
use super::super::proto::plugin as gp;
use super::super::proto::tfplugin6 as pb;
use super::convert::DiagnosticsResponse;
use super::dispatch::ProviderService;

type RpcResult<T> = Result<Response<T>, Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

// ---- logging ----

/// The field naming the type a request is about, as terraform-plugin-go names it.
const RESOURCE: &str = "tf_resource_type";
const DATA_SOURCE: &str = "tf_data_source_type";
const EPHEMERAL: &str = "tf_ephemeral_resource_type";
const FUNCTION: &str = "tf_function_name";

/// The fields every line logged while serving one request carries.
fn rpc_context(rpc: &'static str, type_field: Option<(&'static str, &str)>) -> LogContext {
    let mut cx = LogContext::new()
        .with("tf_provider_addr", log::provider_address())
        .with("tf_req_id", request_id())
        .with("tf_rpc", rpc);
    if let Some((key, name)) = type_field {
        cx = cx.with(key, name);
    }
    cx
}

/// A UUID-shaped id, unique within the process: enough to tell concurrent requests apart in
/// a log (terraform-plugin-go uses a random UUID; we need no randomness for that).
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: OnceLock<u64> = OnceLock::new();
    let start = *START.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(0)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        std::process::id(),
        (start >> 48) & 0xffff,
        (start >> 32) & 0xffff,
        (start >> 16) & 0xffff,
        ((start & 0xffff) << 32) | (n & 0xffff_ffff)
    )
}

/// `.a[0]["k"]`, the path of a diagnostic as logs show it.
fn path_text(p: &pb::AttributePath) -> String {
    use pb::attribute_path::step::Selector;
    let mut s = String::new();
    for step in &p.steps {
        match &step.selector {
            Some(Selector::AttributeName(n)) => {
                s.push('.');
                s.push_str(n);
            }
            Some(Selector::ElementKeyString(k)) => s.push_str(&format!("[{k:?}]")),
            Some(Selector::ElementKeyInt(i)) => s.push_str(&format!("[{i}]")),
            None => {}
        }
    }
    s
}

/// Logs each diagnostic (errors at error, warnings at warn); returns (errors, warnings).
fn log_diagnostics(diags: &[pb::Diagnostic]) -> (u64, u64) {
    let (mut errors, mut warnings) = (0, 0);
    for d in diags {
        let is_error = d.severity == pb::diagnostic::Severity::Error as i32;
        let (level, message, severity) = if is_error {
            errors += 1;
            (Level::Error, "Response contains error diagnostic", "ERROR")
        } else {
            warnings += 1;
            (
                Level::Warn,
                "Response contains warning diagnostic",
                "WARNING",
            )
        };
        let mut fields: Vec<(&str, log::Val)> = vec![
            ("diagnostic_severity", severity.into()),
            ("diagnostic_summary", d.summary.as_str().into()),
            ("diagnostic_detail", d.detail.as_str().into()),
        ];
        if let Some(p) = &d.attribute {
            fields.push(("diagnostic_attribute", path_text(p).into()));
        }
        log::emit(level, log::PROTO, message, &fields);
    }
    (errors, warnings)
}

/// What a response reports as going wrong: logged, and counted on the "Served request" line.
trait Outcome {
    fn log_problems(&self) -> (u64, u64);
}

impl<T: DiagnosticsResponse> Outcome for T {
    fn log_problems(&self) -> (u64, u64) {
        log_diagnostics(self.diagnostics())
    }
}

impl Outcome for pb::call_function::Response {
    fn log_problems(&self) -> (u64, u64) {
        let Some(e) = &self.error else {
            return (0, 0);
        };
        let mut fields: Vec<(&str, log::Val)> =
            vec![("function_error_text", e.text.as_str().into())];
        if let Some(a) = e.function_argument {
            fields.push(("function_error_argument", a.into()));
        }
        log::emit(
            Level::Error,
            log::PROTO,
            "Response contains function error",
            &fields,
        );
        (1, 0)
    }
}

impl Outcome for pb::stop_provider::Response {
    fn log_problems(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// Serves one request with its log context: a trace line on arrival, a debug line when
/// served (duration, diagnostic counts), and every diagnostic at its own level.
async fn logged<T: Outcome>(cx: LogContext, serve: impl Future<Output = T>) -> RpcResult<T> {
    cx.scope(async move {
        log::emit(Level::Trace, log::PROTO, "Received request", &[]);
        let started = Instant::now();
        let resp = serve.await;
        let ms = started.elapsed().as_millis();
        let (errors, warnings) = resp.log_problems();
        log::emit(
            Level::Debug,
            log::PROTO,
            "Served request",
            &[
                ("tf_req_duration_ms", ms.into()),
                ("diagnostic_error_count", errors.into()),
                ("diagnostic_warning_count", warnings.into()),
            ],
        );
        Ok(Response::new(resp))
    })
    .await
}

// ---- the provider service ----

/// [`ProviderService`] as tonic serves it.
pub struct GrpcProvider(pub ProviderService);

/// The whole `Provider` impl from two tables: the RPCs served (method, RPC name for logs, and
/// the request field naming the type, if any) and those answered `Unimplemented`.
macro_rules! provider_impl {
    (
        served { $( $method:ident $rpc:literal $( $key:ident . $field:ident )?; )* }
        streams { $( type $stream:ident = $item:ty; )* }
        unimplemented { $( $un:ident($req:ty) -> $resp:ty, $why:expr; )* }
    ) => {
        #[tonic::async_trait]
        impl pb::provider_server::Provider for GrpcProvider {
            $( type $stream = BoxStream<$item>; )*
            $(
                async fn $method(
                    &self,
                    r: Request<pb::$method::Request>,
                ) -> RpcResult<pb::$method::Response> {
                    let cx = rpc_context($rpc, None $( .or(Some(($key, r.get_ref().$field.as_str()))) )?);
                    logged(cx, self.0.$method(r.into_inner())).await
                }
            )*
            $(
                async fn $un(&self, _r: Request<$req>) -> RpcResult<$resp> {
                    Err(Status::unimplemented($why))
                }
            )*
        }
    };
}

const NO_LISTS: &str = "this provider has no list resources";
const NO_STATE_STORES: &str = "this provider has no state stores";
const NO_ACTIONS: &str = "this provider has no actions";

provider_impl! {
    served {
        get_metadata "GetMetadata";
        get_provider_schema "GetProviderSchema";
        validate_provider_config "ValidateProviderConfig";
        validate_resource_config "ValidateResourceConfig" RESOURCE.type_name;
        validate_data_resource_config "ValidateDataResourceConfig" DATA_SOURCE.type_name;
        validate_ephemeral_resource_config "ValidateEphemeralResourceConfig" EPHEMERAL.type_name;
        upgrade_resource_state "UpgradeResourceState" RESOURCE.type_name;
        get_resource_identity_schemas "GetResourceIdentitySchemas";
        upgrade_resource_identity "UpgradeResourceIdentity" RESOURCE.type_name;
        configure_provider "ConfigureProvider";
        read_resource "ReadResource" RESOURCE.type_name;
        plan_resource_change "PlanResourceChange" RESOURCE.type_name;
        apply_resource_change "ApplyResourceChange" RESOURCE.type_name;
        import_resource_state "ImportResourceState" RESOURCE.type_name;
        move_resource_state "MoveResourceState" RESOURCE.target_type_name;
        read_data_source "ReadDataSource" DATA_SOURCE.type_name;
        generate_resource_config "GenerateResourceConfig" RESOURCE.type_name;
        open_ephemeral_resource "OpenEphemeralResource" EPHEMERAL.type_name;
        renew_ephemeral_resource "RenewEphemeralResource" EPHEMERAL.type_name;
        close_ephemeral_resource "CloseEphemeralResource" EPHEMERAL.type_name;
        get_functions "GetFunctions";
        call_function "CallFunction" FUNCTION.name;
        stop_provider "StopProvider";
    }
    streams {
        type ListResourceStream = pb::list_resource::Event;
        type ReadStateBytesStream = pb::read_state_bytes::Response;
        type InvokeActionStream = pb::invoke_action::Event;
    }
    unimplemented {
        list_resource(pb::list_resource::Request) -> Self::ListResourceStream, NO_LISTS;
        validate_list_resource_config(pb::validate_list_resource_config::Request)
            -> pb::validate_list_resource_config::Response, NO_LISTS;
        validate_state_store_config(pb::validate_state_store::Request)
            -> pb::validate_state_store::Response, NO_STATE_STORES;
        configure_state_store(pb::configure_state_store::Request)
            -> pb::configure_state_store::Response, NO_STATE_STORES;
        read_state_bytes(pb::read_state_bytes::Request)
            -> Self::ReadStateBytesStream, NO_STATE_STORES;
        write_state_bytes(tonic::Streaming<pb::write_state_bytes::RequestChunk>)
            -> pb::write_state_bytes::Response, NO_STATE_STORES;
        lock_state(pb::lock_state::Request) -> pb::lock_state::Response, NO_STATE_STORES;
        unlock_state(pb::unlock_state::Request) -> pb::unlock_state::Response, NO_STATE_STORES;
        get_states(pb::get_states::Request) -> pb::get_states::Response, NO_STATE_STORES;
        delete_state(pb::delete_state::Request) -> pb::delete_state::Response, NO_STATE_STORES;
        plan_action(pb::plan_action::Request) -> pb::plan_action::Response, NO_ACTIONS;
        invoke_action(pb::invoke_action::Request) -> Self::InvokeActionStream, NO_ACTIONS;
        validate_action_config(pb::validate_action_config::Request)
            -> pb::validate_action_config::Response, NO_ACTIONS;
    }
}

// ---- go-plugin services ----

pub struct Controller {
    pub shutdown: Arc<tokio::sync::Notify>,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _r: Request<gp::Empty>) -> RpcResult<gp::Empty> {
        self.shutdown.notify_one();
        Ok(Response::new(gp::Empty {}))
    }
}

pub struct Stdio;

#[tonic::async_trait]
impl gp::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = BoxStream<gp::StdioData>;

    /// Our stdout/stderr go straight to Terraform's pipes, so nothing is ever sent here; the
    /// stream stays open until the process exits, which is what go-plugin expects.
    async fn stream_stdio(&self, _r: Request<()>) -> RpcResult<Self::StreamStdioStream> {
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}

pub struct Broker;

#[tonic::async_trait]
impl gp::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = BoxStream<gp::ConnInfo>;

    /// Terraform providers never broker extra connections; drain what arrives and send nothing.
    async fn start_stream(
        &self,
        r: Request<tonic::Streaming<gp::ConnInfo>>,
    ) -> RpcResult<Self::StartStreamStream> {
        let mut inbound = r.into_inner();
        tokio::spawn(async move { while let Ok(Some(_)) = inbound.message().await {} });
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}
