//! The gRPC side: `tfplugin6.Provider` decoding every request with the schema and calling the
//! typed traits, plus go-plugin's controller, stdio, broker and health services.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::diagnostics::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity};
use super::log::{self, Level, LogContext};
use super::proto::plugin as gp;
use super::proto::tfplugin6 as pb;
use super::schema::{Schema, default_plan};
use super::traits::{
    ApplyRequest, ConfigureRequest, Ctx, DataSource, EphemeralResource, Function, PlanRequest,
    PlanResponse, Provider, RawState, ReadRequest, Resource,
};
use super::value::{self, Type, Value};

type RpcResult<T> = Result<Response<T>, Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

// ---- conversions ----

fn path_to_proto(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attr(n) => Selector::AttributeName(n.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

fn diag_to_proto(d: &Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.attribute.as_ref().map(path_to_proto),
    }
}

fn diags_to_proto(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.iter().map(diag_to_proto).collect()
}

fn decode(dv: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Diagnostics> {
    let res = match dv {
        None => Ok(Value::Null),
        Some(dv) if !dv.msgpack.is_empty() => value::decode_msgpack(&dv.msgpack, ty),
        Some(dv) if !dv.json.is_empty() => value::decode_json(&dv.json, ty),
        Some(_) => Ok(Value::Null),
    };
    res.map_err(|e| {
        Diagnostic::error(
            format!("Invalid {what} from Terraform"),
            format!("The provider could not decode the {what}: {e}. This is a bug in the provider or in Terraform."),
        )
        .into()
    })
}

fn encode(v: &Value, ty: &Type, what: &str) -> Result<pb::DynamicValue, Diagnostics> {
    value::encode_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                format!("Invalid {what} produced by the provider"),
                format!(
                    "The provider could not encode the {what}: {e}. This is a bug in the provider."
                ),
            )
            .into()
        })
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type {name:?}."),
    )
    .into()
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

/// Write-only values must never reach state: null them whatever the resource returned.
fn null_write_only(schema: &Schema, v: &mut Value) {
    if v.is_null() {
        return;
    }
    for a in schema.block.attributes.iter().filter(|a| a.write_only) {
        v.set_attr(&a.name, Value::Null);
    }
}

// ---- the provider service ----

struct Typed<T: ?Sized> {
    imp: Arc<T>,
    schema: Schema,
    ty: Type,
}

impl<T: ?Sized> Typed<T> {
    fn new(imp: Arc<T>, schema: Schema) -> Self {
        let ty = schema.implied_type();
        Typed { imp, schema, ty }
    }
}

pub struct ProviderService {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    provider_type: Type,
    resources: HashMap<String, Typed<dyn Resource>>,
    data_sources: HashMap<String, Typed<dyn DataSource>>,
    ephemerals: HashMap<String, Typed<dyn EphemeralResource>>,
    functions: HashMap<String, Arc<dyn Function>>,
    stop: Mutex<CancellationToken>,
}

impl ProviderService {
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        let provider_schema = provider.schema();
        let provider_type = provider_schema.implied_type();
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name().to_string(), Typed::new(r, s))
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name().to_string(), Typed::new(r, s))
            })
            .collect();
        let ephemerals = provider
            .ephemeral_resources()
            .into_iter()
            .map(|r| {
                let s = r.schema();
                (r.type_name().to_string(), Typed::new(r, s))
            })
            .collect();
        let functions = provider
            .functions()
            .into_iter()
            .map(|f| (f.name().to_string(), f))
            .collect();
        ProviderService {
            provider,
            provider_schema,
            provider_type,
            resources,
            data_sources,
            ephemerals,
            functions,
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    fn ctx(&self) -> Ctx {
        let cancel = match self.stop.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        Ctx { cancel }
    }

    fn capabilities() -> pb::ServerCapabilities {
        pb::ServerCapabilities {
            plan_destroy: false,
            get_provider_schema_optional: true,
            move_resource_state: false,
            generate_resource_config: false,
        }
    }

    fn function_to_proto(f: &dyn Function) -> pb::Function {
        let d = f.definition();
        let md = pb::StringKind::Markdown as i32;
        let param = |p: &super::traits::Parameter| pb::function::Parameter {
            name: p.name.clone(),
            r#type: p.ty.to_json_bytes(),
            allow_null_value: p.allow_null,
            allow_unknown_values: p.allow_unknown,
            description: p.description.clone(),
            description_kind: md,
        };
        pb::Function {
            parameters: d.parameters.iter().map(param).collect(),
            variadic_parameter: d.variadic.as_ref().map(param),
            r#return: Some(pb::function::Return {
                r#type: d.returns.to_json_bytes(),
            }),
            summary: d.summary.clone(),
            description: d.description.clone(),
            description_kind: md,
            deprecation_message: d.deprecation_message.clone(),
        }
    }

    fn function_map(&self) -> HashMap<String, pb::Function> {
        self.functions
            .iter()
            .map(|(n, f)| (n.clone(), Self::function_to_proto(f.as_ref())))
            .collect()
    }

    fn resource(&self, name: &str) -> Result<&Typed<dyn Resource>, Diagnostics> {
        self.resources
            .get(name)
            .ok_or_else(|| unknown_type("resource", name))
    }

    fn data_source(&self, name: &str) -> Result<&Typed<dyn DataSource>, Diagnostics> {
        self.data_sources
            .get(name)
            .ok_or_else(|| unknown_type("data source", name))
    }

    fn ephemeral(&self, name: &str) -> Result<&Typed<dyn EphemeralResource>, Diagnostics> {
        self.ephemerals
            .get(name)
            .ok_or_else(|| unknown_type("ephemeral resource", name))
    }

    async fn do_upgrade(
        &self,
        r: pb::upgrade_resource_state::Request,
    ) -> Result<pb::DynamicValue, Diagnostics> {
        let res = self.resource(&r.type_name)?;
        let raw = r.raw_state.unwrap_or_default();
        let raw = if !raw.json.is_empty() {
            RawState::Json(raw.json)
        } else {
            RawState::Flatmap(raw.flatmap)
        };
        let decoded = match raw {
            RawState::Json(j) => value::decode_json(&j, &res.ty),
            RawState::Flatmap(m) => value::decode_flatmap(&m, &res.ty),
        }
        .map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Unreadable stored state",
                format!(
                    "The stored state of this {} (schema version {}) could not be read: {e}",
                    r.type_name, r.version
                ),
            ))
        })?;
        let mut upgraded = res.imp.upgrade_state(r.version, decoded)?;
        null_write_only(&res.schema, &mut upgraded);
        encode(&upgraded, &res.ty, "upgraded state")
    }

    async fn do_read(
        &self,
        r: pb::read_resource::Request,
    ) -> Result<(pb::DynamicValue, Vec<u8>, Diagnostics), Diagnostics> {
        let res = self.resource(&r.type_name)?;
        let state = decode(r.current_state.as_ref(), &res.ty, "current state")?;
        if state.is_null() {
            return Ok((
                encode(&Value::Null, &res.ty, "state")?,
                r.private,
                Diagnostics::new(),
            ));
        }
        let out = res
            .imp
            .read(
                &self.ctx(),
                ReadRequest {
                    state,
                    private: r.private,
                },
            )
            .await;
        let mut st = out.state;
        null_write_only(&res.schema, &mut st);
        Ok((encode(&st, &res.ty, "new state")?, out.private, out.diags))
    }

    async fn do_plan(
        &self,
        r: pb::plan_resource_change::Request,
    ) -> Result<pb::plan_resource_change::Response, Diagnostics> {
        let res = self.resource(&r.type_name)?;
        let prior_state = decode(r.prior_state.as_ref(), &res.ty, "prior state")?;
        let proposed_new_state = decode(r.proposed_new_state.as_ref(), &res.ty, "proposed state")?;
        let config = decode(r.config.as_ref(), &res.ty, "configuration")?;
        let req = PlanRequest {
            prior_state,
            proposed_new_state,
            config,
            prior_private: r.prior_private,
        };
        let (planned_state, requires_replace) = default_plan(
            &res.schema,
            &req.prior_state,
            &req.proposed_new_state,
            &req.config,
        );
        let mut out = PlanResponse {
            planned_state,
            requires_replace,
            planned_private: req.prior_private.clone(),
            diags: Diagnostics::new(),
        };
        res.imp.modify_plan(&self.ctx(), &req, &mut out).await;
        let mut planned = out.planned_state;
        null_write_only(&res.schema, &mut planned);
        Ok(pb::plan_resource_change::Response {
            planned_state: Some(encode(&planned, &res.ty, "planned state")?),
            requires_replace: out.requires_replace.iter().map(path_to_proto).collect(),
            planned_private: out.planned_private,
            diagnostics: diags_to_proto(&out.diags),
            ..Default::default()
        })
    }

    async fn do_apply(
        &self,
        r: pb::apply_resource_change::Request,
    ) -> Result<pb::apply_resource_change::Response, Diagnostics> {
        let res = self.resource(&r.type_name)?;
        let req = ApplyRequest {
            prior_state: decode(r.prior_state.as_ref(), &res.ty, "prior state")?,
            planned_state: decode(r.planned_state.as_ref(), &res.ty, "planned state")?,
            config: decode(r.config.as_ref(), &res.ty, "configuration")?,
            planned_private: r.planned_private,
        };
        let ctx = self.ctx();
        let (mut state, private, diags) = if req.planned_state.is_null() {
            let prior = req.prior_state.clone();
            let diags = res.imp.delete(&ctx, req).await;
            // A failed delete keeps the object in state.
            let st = if diags.has_errors() {
                prior
            } else {
                Value::Null
            };
            (st, Vec::new(), diags)
        } else if req.prior_state.is_null() {
            let o = res.imp.create(&ctx, req).await;
            (o.state, o.private, o.diags)
        } else {
            let o = res.imp.update(&ctx, req).await;
            (o.state, o.private, o.diags)
        };
        null_write_only(&res.schema, &mut state);
        Ok(pb::apply_resource_change::Response {
            new_state: Some(encode(&state, &res.ty, "new state")?),
            private,
            diagnostics: diags_to_proto(&diags),
            ..Default::default()
        })
    }

    async fn do_import(
        &self,
        r: pb::import_resource_state::Request,
    ) -> Result<pb::import_resource_state::Response, Diagnostics> {
        let res = self.resource(&r.type_name)?;
        let out = res.imp.import(&self.ctx(), &r.id).await;
        let mut imported = Vec::new();
        for mut st in out.states {
            null_write_only(&res.schema, &mut st);
            imported.push(pb::import_resource_state::ImportedResource {
                type_name: r.type_name.clone(),
                state: Some(encode(&st, &res.ty, "imported state")?),
                ..Default::default()
            });
        }
        Ok(pb::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: diags_to_proto(&out.diags),
            ..Default::default()
        })
    }

    async fn do_read_data(
        &self,
        r: pb::read_data_source::Request,
    ) -> Result<(pb::DynamicValue, Diagnostics), Diagnostics> {
        let ds = self.data_source(&r.type_name)?;
        let config = decode(r.config.as_ref(), &ds.ty, "configuration")?;
        let (state, diags) = ds.imp.read(&self.ctx(), config).await;
        if diags.has_errors() && state.is_null() {
            return Err(diags);
        }
        Ok((encode(&state, &ds.ty, "data source state")?, diags))
    }

    async fn do_open(
        &self,
        r: pb::open_ephemeral_resource::Request,
    ) -> Result<pb::open_ephemeral_resource::Response, Diagnostics> {
        let e = self.ephemeral(&r.type_name)?;
        let config = decode(r.config.as_ref(), &e.ty, "configuration")?;
        let out = e.imp.open(&self.ctx(), config).await;
        if out.diags.has_errors() {
            return Err(out.diags);
        }
        Ok(pb::open_ephemeral_resource::Response {
            diagnostics: diags_to_proto(&out.diags),
            renew_at: out.renew_at.map(timestamp),
            result: Some(encode(&out.result, &e.ty, "ephemeral result")?),
            private: out.private,
            deferred: None,
        })
    }

    fn do_call(
        &self,
        r: pb::call_function::Request,
    ) -> Result<pb::DynamicValue, pb::FunctionError> {
        let ferr = |text: String, arg: Option<usize>| pb::FunctionError {
            text,
            function_argument: arg.and_then(|a| i64::try_from(a).ok()),
        };
        let f = self
            .functions
            .get(&r.name)
            .ok_or_else(|| ferr(format!("This provider has no function {:?}.", r.name), None))?;
        let def = f.definition();
        let mut args = Vec::with_capacity(r.arguments.len());
        for (i, dv) in r.arguments.iter().enumerate() {
            let param = def
                .parameters
                .get(i)
                .or(def.variadic.as_ref())
                .ok_or_else(|| {
                    ferr(
                        format!("{} takes {} arguments.", r.name, def.parameters.len()),
                        Some(i),
                    )
                })?;
            let v = decode(Some(dv), &param.ty, "function argument").map_err(|_| {
                ferr(
                    format!("Argument {:?} could not be decoded.", param.name),
                    Some(i),
                )
            })?;
            if v.is_null() && !param.allow_null {
                return Err(ferr(
                    format!("Argument {:?} must not be null.", param.name),
                    Some(i),
                ));
            }
            args.push(v);
        }
        if args.len() < def.parameters.len() {
            return Err(ferr(
                format!(
                    "{} takes {} arguments, got {}.",
                    r.name,
                    def.parameters.len(),
                    args.len()
                ),
                None,
            ));
        }
        if args.iter().any(|a| !a.is_wholly_known()) {
            return encode(&Value::Unknown, &def.returns, "function result")
                .map_err(|_| ferr("Could not encode an unknown result.".to_string(), None));
        }
        let out = f.call(&args).map_err(|e| ferr(e.text, e.argument))?;
        encode(&out, &def.returns, "function result").map_err(|_| {
            ferr(
                "The function returned a value of the wrong type.".to_string(),
                None,
            )
        })
    }
}

fn validate_with<T: ?Sized>(
    t: Result<&Typed<T>, Diagnostics>,
    dv: Option<&pb::DynamicValue>,
    f: impl FnOnce(&T, &Value) -> Diagnostics,
) -> Vec<pb::Diagnostic> {
    let diags = t.and_then(|t| {
        let v = decode(dv, &t.ty, "configuration")?;
        let mut d = t.schema.validate(&v);
        d.extend(f(&t.imp, &v));
        Ok(d)
    });
    match diags {
        Ok(d) | Err(d) => diags_to_proto(&d),
    }
}

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

macro_rules! diagnostics_outcome {
    ($($rpc:ident),* $(,)?) => {$(
        impl Outcome for pb::$rpc::Response {
            fn log_problems(&self) -> (u64, u64) {
                log_diagnostics(&self.diagnostics)
            }
        }
    )*};
}

diagnostics_outcome!(
    get_metadata,
    get_provider_schema,
    validate_provider_config,
    validate_resource_config,
    validate_data_resource_config,
    validate_ephemeral_resource_config,
    upgrade_resource_state,
    get_resource_identity_schemas,
    upgrade_resource_identity,
    configure_provider,
    read_resource,
    plan_resource_change,
    apply_resource_change,
    import_resource_state,
    move_resource_state,
    read_data_source,
    generate_resource_config,
    open_ephemeral_resource,
    renew_ephemeral_resource,
    close_ephemeral_resource,
    get_functions,
);

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
async fn logged<T: Outcome>(
    cx: LogContext,
    serve: impl Future<Output = RpcResult<T>>,
) -> RpcResult<T> {
    cx.scope(async move {
        log::emit(Level::Trace, log::PROTO, "Received request", &[]);
        let started = Instant::now();
        let res = serve.await;
        let ms = started.elapsed().as_millis();
        match &res {
            Ok(resp) => {
                let (errors, warnings) = resp.get_ref().log_problems();
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
            }
            Err(status) => log::emit(
                Level::Error,
                log::PROTO,
                "Request failed",
                &[
                    ("tf_req_duration_ms", ms.into()),
                    ("error", status.message().into()),
                ],
            ),
        }
        res
    })
    .await
}

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderService {
    async fn get_metadata(
        &self,
        _r: Request<pb::get_metadata::Request>,
    ) -> RpcResult<pb::get_metadata::Response> {
        let cx = rpc_context("GetMetadata", None);
        logged(cx, async move {
            use pb::get_metadata as m;
            Ok(Response::new(m::Response {
                server_capabilities: Some(Self::capabilities()),
                resources: self
                    .resources
                    .keys()
                    .map(|n| m::ResourceMetadata {
                        type_name: n.clone(),
                    })
                    .collect(),
                data_sources: self
                    .data_sources
                    .keys()
                    .map(|n| m::DataSourceMetadata {
                        type_name: n.clone(),
                    })
                    .collect(),
                ephemeral_resources: self
                    .ephemerals
                    .keys()
                    .map(|n| m::EphemeralMetadata {
                        type_name: n.clone(),
                    })
                    .collect(),
                functions: self
                    .functions
                    .keys()
                    .map(|n| m::FunctionMetadata { name: n.clone() })
                    .collect(),
                ..Default::default()
            }))
        })
        .await
    }

    async fn get_provider_schema(
        &self,
        _r: Request<pb::get_provider_schema::Request>,
    ) -> RpcResult<pb::get_provider_schema::Response> {
        let cx = rpc_context("GetProviderSchema", None);
        logged(cx, async move {
            let map = |m: &HashMap<String, Schema>| {
                m.iter()
                    .map(|(k, s)| (k.clone(), s.to_proto()))
                    .collect::<HashMap<_, _>>()
            };
            let rs: HashMap<String, Schema> = self
                .resources
                .iter()
                .map(|(k, t)| (k.clone(), t.schema.clone()))
                .collect();
            let ds: HashMap<String, Schema> = self
                .data_sources
                .iter()
                .map(|(k, t)| (k.clone(), t.schema.clone()))
                .collect();
            let es: HashMap<String, Schema> = self
                .ephemerals
                .iter()
                .map(|(k, t)| (k.clone(), t.schema.clone()))
                .collect();
            Ok(Response::new(pb::get_provider_schema::Response {
                provider: Some(self.provider_schema.to_proto()),
                resource_schemas: map(&rs),
                data_source_schemas: map(&ds),
                ephemeral_resource_schemas: map(&es),
                functions: self.function_map(),
                server_capabilities: Some(Self::capabilities()),
                provider_meta: Some(Schema::default().to_proto()),
                ..Default::default()
            }))
        })
        .await
    }

    async fn validate_provider_config(
        &self,
        r: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        let cx = rpc_context("ValidateProviderConfig", None);
        logged(cx, async move {
            let r = r.into_inner();
            let diags = match decode(
                r.config.as_ref(),
                &self.provider_type,
                "provider configuration",
            ) {
                Ok(v) => self.provider.validate(&v),
                Err(d) => d,
            };
            Ok(Response::new(pb::validate_provider_config::Response {
                diagnostics: diags_to_proto(&diags),
            }))
        })
        .await
    }

    async fn validate_resource_config(
        &self,
        r: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        let cx = rpc_context(
            "ValidateResourceConfig",
            Some((RESOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let r = r.into_inner();
            let diagnostics =
                validate_with(self.resource(&r.type_name), r.config.as_ref(), |t, v| {
                    t.validate(v)
                });
            Ok(Response::new(pb::validate_resource_config::Response {
                diagnostics,
            }))
        })
        .await
    }

    async fn validate_data_resource_config(
        &self,
        r: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        let cx = rpc_context(
            "ValidateDataResourceConfig",
            Some((DATA_SOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let r = r.into_inner();
            let diagnostics =
                validate_with(self.data_source(&r.type_name), r.config.as_ref(), |t, v| {
                    t.validate(v)
                });
            Ok(Response::new(pb::validate_data_resource_config::Response {
                diagnostics,
            }))
        })
        .await
    }

    async fn validate_ephemeral_resource_config(
        &self,
        r: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        let cx = rpc_context(
            "ValidateEphemeralResourceConfig",
            Some((EPHEMERAL, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let r = r.into_inner();
            let diagnostics =
                validate_with(self.ephemeral(&r.type_name), r.config.as_ref(), |t, v| {
                    t.validate(v)
                });
            Ok(Response::new(
                pb::validate_ephemeral_resource_config::Response { diagnostics },
            ))
        })
        .await
    }

    async fn upgrade_resource_state(
        &self,
        r: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        let cx = rpc_context(
            "UpgradeResourceState",
            Some((RESOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let resp = match self.do_upgrade(r.into_inner()).await {
                Ok(v) => pb::upgrade_resource_state::Response {
                    upgraded_state: Some(v),
                    diagnostics: Vec::new(),
                },
                Err(d) => pb::upgrade_resource_state::Response {
                    upgraded_state: None,
                    diagnostics: diags_to_proto(&d),
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn get_resource_identity_schemas(
        &self,
        _r: Request<pb::get_resource_identity_schemas::Request>,
    ) -> RpcResult<pb::get_resource_identity_schemas::Response> {
        let cx = rpc_context("GetResourceIdentitySchemas", None);
        logged(cx, async move {
            Ok(Response::new(
                pb::get_resource_identity_schemas::Response::default(),
            ))
        })
        .await
    }

    async fn upgrade_resource_identity(
        &self,
        r: Request<pb::upgrade_resource_identity::Request>,
    ) -> RpcResult<pb::upgrade_resource_identity::Response> {
        let cx = rpc_context(
            "UpgradeResourceIdentity",
            Some((RESOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let d: Diagnostics = Diagnostic::error(
                "Resource identity not supported",
                format!(
                    "{} has no resource identity schema.",
                    r.into_inner().type_name
                ),
            )
            .into();
            Ok(Response::new(pb::upgrade_resource_identity::Response {
                upgraded_identity: None,
                diagnostics: diags_to_proto(&d),
            }))
        })
        .await
    }

    async fn configure_provider(
        &self,
        r: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        let cx = rpc_context("ConfigureProvider", None);
        logged(cx, async move {
            let r = r.into_inner();
            let diags = match decode(
                r.config.as_ref(),
                &self.provider_type,
                "provider configuration",
            ) {
                Ok(config) => {
                    self.provider
                        .configure(
                            &self.ctx(),
                            ConfigureRequest {
                                terraform_version: r.terraform_version,
                                config,
                            },
                        )
                        .await
                }
                Err(d) => d,
            };
            Ok(Response::new(pb::configure_provider::Response {
                diagnostics: diags_to_proto(&diags),
            }))
        })
        .await
    }

    async fn read_resource(
        &self,
        r: Request<pb::read_resource::Request>,
    ) -> RpcResult<pb::read_resource::Response> {
        let cx = rpc_context("ReadResource", Some((RESOURCE, &r.get_ref().type_name)));
        logged(cx, async move {
            let r = r.into_inner();
            let current = r.current_state.clone();
            let resp = match self.do_read(r).await {
                Ok((new_state, private, d)) => pb::read_resource::Response {
                    new_state: Some(new_state),
                    private,
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
                // On failure hand the state back unchanged so nothing is lost.
                Err(d) => pb::read_resource::Response {
                    new_state: current,
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn plan_resource_change(
        &self,
        r: Request<pb::plan_resource_change::Request>,
    ) -> RpcResult<pb::plan_resource_change::Response> {
        let cx = rpc_context(
            "PlanResourceChange",
            Some((RESOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let resp = match self.do_plan(r.into_inner()).await {
                Ok(resp) => resp,
                Err(d) => pb::plan_resource_change::Response {
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn apply_resource_change(
        &self,
        r: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        let cx = rpc_context(
            "ApplyResourceChange",
            Some((RESOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let r = r.into_inner();
            let prior = r.prior_state.clone();
            let resp = match self.do_apply(r).await {
                Ok(resp) => resp,
                Err(d) => pb::apply_resource_change::Response {
                    new_state: prior,
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn import_resource_state(
        &self,
        r: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        let cx = rpc_context(
            "ImportResourceState",
            Some((RESOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let resp = match self.do_import(r.into_inner()).await {
                Ok(resp) => resp,
                Err(d) => pb::import_resource_state::Response {
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn move_resource_state(
        &self,
        r: Request<pb::move_resource_state::Request>,
    ) -> RpcResult<pb::move_resource_state::Response> {
        let cx = rpc_context(
            "MoveResourceState",
            Some((RESOURCE, &r.get_ref().target_type_name)),
        );
        logged(cx, async move {
        let r = r.into_inner();
        let d: Diagnostics = Diagnostic::error(
            "Moving resource state is not supported",
            format!(
                "rdsiam cannot move {} ({}) into {}. Remove the `moved` block, then `terraform import` the object as {}.",
                r.source_type_name, r.source_provider_address, r.target_type_name, r.target_type_name
            ),
        )
        .into();
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: diags_to_proto(&d),
            ..Default::default()
        }))
        })
        .await
    }

    async fn read_data_source(
        &self,
        r: Request<pb::read_data_source::Request>,
    ) -> RpcResult<pb::read_data_source::Response> {
        let cx = rpc_context(
            "ReadDataSource",
            Some((DATA_SOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let resp = match self.do_read_data(r.into_inner()).await {
                Ok((state, d)) => pb::read_data_source::Response {
                    state: Some(state),
                    diagnostics: diags_to_proto(&d),
                    deferred: None,
                },
                Err(d) => pb::read_data_source::Response {
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn generate_resource_config(
        &self,
        r: Request<pb::generate_resource_config::Request>,
    ) -> RpcResult<pb::generate_resource_config::Response> {
        let cx = rpc_context(
            "GenerateResourceConfig",
            Some((RESOURCE, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let d: Diagnostics = Diagnostic::error(
                "Config generation not supported",
                "This provider does not generate configuration; write the resource block by hand.",
            )
            .into();
            Ok(Response::new(pb::generate_resource_config::Response {
                config: None,
                diagnostics: diags_to_proto(&d),
            }))
        })
        .await
    }

    async fn open_ephemeral_resource(
        &self,
        r: Request<pb::open_ephemeral_resource::Request>,
    ) -> RpcResult<pb::open_ephemeral_resource::Response> {
        let cx = rpc_context(
            "OpenEphemeralResource",
            Some((EPHEMERAL, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let resp = match self.do_open(r.into_inner()).await {
                Ok(resp) => resp,
                Err(d) => pb::open_ephemeral_resource::Response {
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn renew_ephemeral_resource(
        &self,
        r: Request<pb::renew_ephemeral_resource::Request>,
    ) -> RpcResult<pb::renew_ephemeral_resource::Response> {
        let cx = rpc_context(
            "RenewEphemeralResource",
            Some((EPHEMERAL, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let r = r.into_inner();
            let resp = match self.ephemeral(&r.type_name) {
                Ok(e) => {
                    let out = e.imp.renew(&self.ctx(), r.private).await;
                    pb::renew_ephemeral_resource::Response {
                        diagnostics: diags_to_proto(&out.diags),
                        renew_at: out.renew_at.map(timestamp),
                        private: out.private,
                    }
                }
                Err(d) => pb::renew_ephemeral_resource::Response {
                    diagnostics: diags_to_proto(&d),
                    ..Default::default()
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn close_ephemeral_resource(
        &self,
        r: Request<pb::close_ephemeral_resource::Request>,
    ) -> RpcResult<pb::close_ephemeral_resource::Response> {
        let cx = rpc_context(
            "CloseEphemeralResource",
            Some((EPHEMERAL, &r.get_ref().type_name)),
        );
        logged(cx, async move {
            let r = r.into_inner();
            let d = match self.ephemeral(&r.type_name) {
                Ok(e) => e.imp.close(&self.ctx(), r.private).await,
                Err(d) => d,
            };
            Ok(Response::new(pb::close_ephemeral_resource::Response {
                diagnostics: diags_to_proto(&d),
            }))
        })
        .await
    }

    type ListResourceStream = BoxStream<pb::list_resource::Event>;

    async fn list_resource(
        &self,
        _r: Request<pb::list_resource::Request>,
    ) -> RpcResult<Self::ListResourceStream> {
        Err(Status::unimplemented("this provider has no list resources"))
    }

    async fn validate_list_resource_config(
        &self,
        _r: Request<pb::validate_list_resource_config::Request>,
    ) -> RpcResult<pb::validate_list_resource_config::Response> {
        Err(Status::unimplemented("this provider has no list resources"))
    }

    async fn get_functions(
        &self,
        _r: Request<pb::get_functions::Request>,
    ) -> RpcResult<pb::get_functions::Response> {
        let cx = rpc_context("GetFunctions", None);
        logged(cx, async move {
            Ok(Response::new(pb::get_functions::Response {
                functions: self.function_map(),
                diagnostics: Vec::new(),
            }))
        })
        .await
    }

    async fn call_function(
        &self,
        r: Request<pb::call_function::Request>,
    ) -> RpcResult<pb::call_function::Response> {
        let cx = rpc_context("CallFunction", Some((FUNCTION, &r.get_ref().name)));
        logged(cx, async move {
            let resp = match self.do_call(r.into_inner()) {
                Ok(v) => pb::call_function::Response {
                    result: Some(v),
                    error: None,
                },
                Err(e) => pb::call_function::Response {
                    result: None,
                    error: Some(e),
                },
            };
            Ok(Response::new(resp))
        })
        .await
    }

    async fn validate_state_store_config(
        &self,
        _r: Request<pb::validate_state_store::Request>,
    ) -> RpcResult<pb::validate_state_store::Response> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    async fn configure_state_store(
        &self,
        _r: Request<pb::configure_state_store::Request>,
    ) -> RpcResult<pb::configure_state_store::Response> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    type ReadStateBytesStream = BoxStream<pb::read_state_bytes::Response>;

    async fn read_state_bytes(
        &self,
        _r: Request<pb::read_state_bytes::Request>,
    ) -> RpcResult<Self::ReadStateBytesStream> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    async fn write_state_bytes(
        &self,
        _r: Request<tonic::Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> RpcResult<pb::write_state_bytes::Response> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    async fn lock_state(
        &self,
        _r: Request<pb::lock_state::Request>,
    ) -> RpcResult<pb::lock_state::Response> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    async fn unlock_state(
        &self,
        _r: Request<pb::unlock_state::Request>,
    ) -> RpcResult<pb::unlock_state::Response> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    async fn get_states(
        &self,
        _r: Request<pb::get_states::Request>,
    ) -> RpcResult<pb::get_states::Response> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    async fn delete_state(
        &self,
        _r: Request<pb::delete_state::Request>,
    ) -> RpcResult<pb::delete_state::Response> {
        Err(Status::unimplemented("this provider has no state stores"))
    }

    async fn plan_action(
        &self,
        _r: Request<pb::plan_action::Request>,
    ) -> RpcResult<pb::plan_action::Response> {
        Err(Status::unimplemented("this provider has no actions"))
    }

    type InvokeActionStream = BoxStream<pb::invoke_action::Event>;

    async fn invoke_action(
        &self,
        _r: Request<pb::invoke_action::Request>,
    ) -> RpcResult<Self::InvokeActionStream> {
        Err(Status::unimplemented("this provider has no actions"))
    }

    async fn validate_action_config(
        &self,
        _r: Request<pb::validate_action_config::Request>,
    ) -> RpcResult<pb::validate_action_config::Response> {
        Err(Status::unimplemented("this provider has no actions"))
    }

    async fn stop_provider(
        &self,
        _r: Request<pb::stop_provider::Request>,
    ) -> RpcResult<pb::stop_provider::Response> {
        let cx = rpc_context("StopProvider", None);
        logged(cx, async move {
            // Cancel in-flight work; later requests get a fresh token so the server keeps serving.
            let mut guard = match self.stop.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            guard.cancel();
            *guard = CancellationToken::new();
            Ok(Response::new(pb::stop_provider::Response::default()))
        })
        .await
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
