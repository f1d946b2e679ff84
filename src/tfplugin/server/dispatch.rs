//! The typed side of every RPC: find the type a request names, decode its values with the
//! schema cached at start-up, call the provider's trait, encode what comes back. Each method
//! is infallible: whatever goes wrong is reported as the response's diagnostics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::super::diagnostics::{Diagnostic, Diagnostics};
use super::super::proto::tfplugin6 as pb;
use super::super::schema::{IdentitySchema, Schema, default_plan};
use super::super::traits::{
    ApplyRequest, ConfigureRequest, Ctx, DataSource, EphemeralResource, Function, PlanRequest,
    PlanResponse, Provider, RawState, ReadRequest, Resource,
};
use super::super::value::{self, Type, Value};
use super::convert::{
    DiagnosticsResponse, decode, diags_to_proto, encode, function_to_proto, null_write_only,
    or_keep, path_to_proto, timestamp, unknown_type,
};

/// An implementation with its schema and implied type, both computed once at start-up.
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

    /// The declared validators, then the type's own checks.
    fn validate(
        &self,
        dv: Option<&pb::DynamicValue>,
        what: &str,
        own: impl FnOnce(&T, &Value) -> Diagnostics,
    ) -> Diagnostics {
        match decode(dv, &self.ty, what) {
            Ok(v) => {
                let mut d = self.schema.validate(&v);
                d.extend(own(&self.imp, &v));
                d
            }
            Err(d) => d,
        }
    }
}

type Registry<T> = HashMap<String, Typed<T>>;

fn registry<T: ?Sized>(
    items: Vec<Arc<T>>,
    name: impl Fn(&T) -> &'static str,
    schema: impl Fn(&T) -> Schema,
) -> Registry<T> {
    items
        .into_iter()
        .map(|t| {
            let s = schema(&t);
            (name(&t).to_string(), Typed::new(t, s))
        })
        .collect()
}

fn lookup<'a, T: ?Sized>(
    reg: &'a Registry<T>,
    kind: &str,
    name: &str,
) -> Result<&'a Typed<T>, Diagnostics> {
    reg.get(name).ok_or_else(|| unknown_type(kind, name))
}

fn protocol_schemas<T: ?Sized>(reg: &Registry<T>) -> HashMap<String, pb::Schema> {
    reg.iter()
        .map(|(k, t)| (k.clone(), t.schema.to_proto()))
        .collect()
}

/// The validate RPC of a resource kind: `$lookup` finds the type by the request's name.
macro_rules! validate_typed {
    ($($rpc:ident: $lookup:ident;)*) => {$(
        pub async fn $rpc(&self, r: pb::$rpc::Request) -> pb::$rpc::Response {
            let d = self
                .$lookup(&r.type_name)
                .map(|t| t.validate(r.config.as_ref(), "configuration", |t, v| t.validate(v)));
            DiagnosticsResponse::failed(&d.unwrap_or_else(|d| d))
        }
    )*};
}

/// A provider's types by name, each with its cached schema; one method per RPC.
pub struct ProviderService {
    /// Names the provider in messages (e.g. `rdsiam`).
    name: String,
    provider: Typed<dyn Provider>,
    resources: Registry<dyn Resource>,
    data_sources: Registry<dyn DataSource>,
    ephemerals: Registry<dyn EphemeralResource>,
    /// The identity schemas of the resources that have one, with their implied types.
    identities: HashMap<String, (IdentitySchema, Type)>,
    functions: HashMap<String, Arc<dyn Function>>,
    /// GetProviderSchema's answer, built once: Terraform asks for it in every command.
    schema_response: pb::get_provider_schema::Response,
    stop: Mutex<CancellationToken>,
}

impl ProviderService {
    pub fn new(provider: Arc<dyn Provider>, name: &str) -> Self {
        let provider_schema = provider.schema();
        let resources = registry(provider.resources(), |r| r.type_name(), |r| r.schema());
        let data_sources = registry(provider.data_sources(), |r| r.type_name(), |r| r.schema());
        let ephemerals = registry(
            provider.ephemeral_resources(),
            |r| r.type_name(),
            |r| r.schema(),
        );
        let identities = resources
            .iter()
            .filter_map(|(name, r)| {
                let s = r.imp.identity_schema()?;
                let ty = s.implied_type();
                Some((name.clone(), (s, ty)))
            })
            .collect();
        let functions: HashMap<String, Arc<dyn Function>> = provider
            .functions()
            .into_iter()
            .map(|f| (f.name().to_string(), f))
            .collect();
        let schema_response = pb::get_provider_schema::Response {
            provider: Some(provider_schema.to_proto()),
            resource_schemas: protocol_schemas(&resources),
            data_source_schemas: protocol_schemas(&data_sources),
            ephemeral_resource_schemas: protocol_schemas(&ephemerals),
            functions: function_map(&functions),
            server_capabilities: Some(capabilities()),
            provider_meta: Some(Schema::default().to_proto()),
            ..Default::default()
        };
        ProviderService {
            name: name.to_string(),
            provider: Typed::new(provider, provider_schema),
            resources,
            data_sources,
            ephemerals,
            identities,
            functions,
            schema_response,
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

    fn resource(&self, name: &str) -> Result<&Typed<dyn Resource>, Diagnostics> {
        lookup(&self.resources, "resource", name)
    }

    fn identity_type(&self, name: &str) -> Result<&Type, Diagnostics> {
        self.identities.get(name).map(|(_, t)| t).ok_or_else(|| {
            Diagnostic::error(
                "Resource identity not supported",
                format!("{name} has no resource identity schema."),
            )
            .into()
        })
    }

    /// The identity the resource gives a state, encoded: `None` for a resource without
    /// identity, a null state, or an identity not known yet.
    fn identity_of(
        &self,
        name: &str,
        res: &Typed<dyn Resource>,
        state: &Value,
    ) -> Result<Option<pb::ResourceIdentityData>, Diagnostics> {
        let Some((_, ty)) = self.identities.get(name) else {
            return Ok(None);
        };
        if state.is_null() {
            return Ok(None);
        }
        let v = res.imp.identity(state);
        if v.is_null() || !v.is_wholly_known() {
            return Ok(None);
        }
        Ok(Some(pb::ResourceIdentityData {
            identity_data: Some(encode(&v, ty, "identity")?),
        }))
    }

    fn data_source(&self, name: &str) -> Result<&Typed<dyn DataSource>, Diagnostics> {
        lookup(&self.data_sources, "data source", name)
    }

    fn ephemeral(&self, name: &str) -> Result<&Typed<dyn EphemeralResource>, Diagnostics> {
        lookup(&self.ephemerals, "ephemeral resource", name)
    }

    // ---- metadata and schemas ----

    pub async fn get_metadata(&self, _r: pb::get_metadata::Request) -> pb::get_metadata::Response {
        use pb::get_metadata as m;
        m::Response {
            server_capabilities: Some(capabilities()),
            resources: names(&self.resources, |type_name| m::ResourceMetadata {
                type_name,
            }),
            data_sources: names(&self.data_sources, |type_name| m::DataSourceMetadata {
                type_name,
            }),
            ephemeral_resources: names(&self.ephemerals, |type_name| m::EphemeralMetadata {
                type_name,
            }),
            functions: names(&self.functions, |name| m::FunctionMetadata { name }),
            ..Default::default()
        }
    }

    pub async fn get_provider_schema(
        &self,
        _r: pb::get_provider_schema::Request,
    ) -> pb::get_provider_schema::Response {
        self.schema_response.clone()
    }

    pub async fn get_resource_identity_schemas(
        &self,
        _r: pb::get_resource_identity_schemas::Request,
    ) -> pb::get_resource_identity_schemas::Response {
        pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .identities
                .iter()
                .map(|(k, (s, _))| (k.clone(), s.to_proto()))
                .collect(),
            diagnostics: Vec::new(),
        }
    }

    pub async fn get_functions(
        &self,
        _r: pb::get_functions::Request,
    ) -> pb::get_functions::Response {
        pb::get_functions::Response {
            functions: self.schema_response.functions.clone(),
            diagnostics: Vec::new(),
        }
    }

    // ---- validation ----

    pub async fn validate_provider_config(
        &self,
        r: pb::validate_provider_config::Request,
    ) -> pb::validate_provider_config::Response {
        let d = self
            .provider
            .validate(r.config.as_ref(), "provider configuration", |p, v| {
                p.validate(v)
            });
        pb::validate_provider_config::Response::failed(&d)
    }

    validate_typed! {
        validate_resource_config: resource;
        validate_data_resource_config: data_source;
        validate_ephemeral_resource_config: ephemeral;
    }

    // ---- provider ----

    pub async fn configure_provider(
        &self,
        r: pb::configure_provider::Request,
    ) -> pb::configure_provider::Response {
        let p = &self.provider;
        let d = match decode(r.config.as_ref(), &p.ty, "provider configuration") {
            Ok(config) => {
                let req = ConfigureRequest {
                    terraform_version: r.terraform_version,
                    config,
                };
                p.imp.configure(&self.ctx(), req).await
            }
            Err(d) => d,
        };
        pb::configure_provider::Response::failed(&d)
    }

    /// Cancels in-flight work; later requests get a fresh token so the server keeps serving.
    pub async fn stop_provider(
        &self,
        _r: pb::stop_provider::Request,
    ) -> pb::stop_provider::Response {
        let mut guard = match self.stop.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.cancel();
        *guard = CancellationToken::new();
        pb::stop_provider::Response::default()
    }

    // ---- managed resources ----

    pub async fn upgrade_resource_state(
        &self,
        r: pb::upgrade_resource_state::Request,
    ) -> pb::upgrade_resource_state::Response {
        DiagnosticsResponse::or_failed(self.upgrade(r).map(|v| {
            pb::upgrade_resource_state::Response {
                upgraded_state: Some(v),
                diagnostics: Vec::new(),
            }
        }))
    }

    fn upgrade(
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

    pub async fn upgrade_resource_identity(
        &self,
        r: pb::upgrade_resource_identity::Request,
    ) -> pb::upgrade_resource_identity::Response {
        DiagnosticsResponse::or_failed(self.upgrade_identity(r).map(|v| {
            pb::upgrade_resource_identity::Response {
                upgraded_identity: Some(pb::ResourceIdentityData {
                    identity_data: Some(v),
                }),
                diagnostics: Vec::new(),
            }
        }))
    }

    fn upgrade_identity(
        &self,
        r: pb::upgrade_resource_identity::Request,
    ) -> Result<pb::DynamicValue, Diagnostics> {
        let res = self.resource(&r.type_name)?;
        let ty = self.identity_type(&r.type_name)?;
        let unreadable = |e: String| {
            Diagnostics::from(Diagnostic::error(
                "Unreadable stored identity",
                format!(
                    "The stored identity of this {} (identity version {}) could not be read: {e}",
                    r.type_name, r.version
                ),
            ))
        };
        let raw = r.raw_identity.unwrap_or_default();
        let decoded = if !raw.json.is_empty() {
            value::decode_json(&raw.json, ty).map_err(|e| unreadable(e.to_string()))?
        } else if raw.flatmap.is_empty() {
            Value::Null
        } else {
            return Err(unreadable(
                "identities are stored as JSON, not flatmap".into(),
            ));
        };
        let upgraded = res.imp.upgrade_identity(r.version, decoded)?;
        encode(&upgraded, ty, "upgraded identity")
    }

    pub async fn read_resource(
        &self,
        r: pb::read_resource::Request,
    ) -> pb::read_resource::Response {
        // On failure hand the state back unchanged so nothing is lost.
        let current = r.current_state.clone();
        let current_identity = r.current_identity.clone();
        let attempt = async {
            let res = self.resource(&r.type_name)?;
            let state = decode(r.current_state.as_ref(), &res.ty, "current state")?;
            if state.is_null() {
                return Ok(pb::read_resource::Response {
                    new_state: Some(encode(&Value::Null, &res.ty, "state")?),
                    private: r.private,
                    ..Default::default()
                });
            }
            let req = ReadRequest {
                state,
                private: r.private,
            };
            let out = res.imp.read(&self.ctx(), req).await;
            let mut st = out.state;
            null_write_only(&res.schema, &mut st);
            // A state whose identity cannot be computed keeps the one Terraform holds.
            let new_identity = match self.identity_of(&r.type_name, res, &st)? {
                None if !st.is_null() => r.current_identity.clone(),
                id => id,
            };
            Ok::<_, Diagnostics>(pb::read_resource::Response {
                new_state: Some(encode(&st, &res.ty, "new state")?),
                private: out.private,
                diagnostics: diags_to_proto(&out.diags),
                new_identity,
                ..Default::default()
            })
        };
        let mut resp = or_keep(attempt.await, current, |r| &mut r.new_state);
        if resp.new_identity.is_none() && resp.new_state.is_some() && !resp.diagnostics.is_empty() {
            resp.new_identity = current_identity;
        }
        resp
    }

    pub async fn plan_resource_change(
        &self,
        r: pb::plan_resource_change::Request,
    ) -> pb::plan_resource_change::Response {
        let attempt = async {
            let res = self.resource(&r.type_name)?;
            let req = PlanRequest {
                prior_state: decode(r.prior_state.as_ref(), &res.ty, "prior state")?,
                proposed_new_state: decode(
                    r.proposed_new_state.as_ref(),
                    &res.ty,
                    "proposed state",
                )?,
                config: decode(r.config.as_ref(), &res.ty, "configuration")?,
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
            Ok::<_, Diagnostics>(pb::plan_resource_change::Response {
                planned_state: Some(encode(&planned, &res.ty, "planned state")?),
                requires_replace: out.requires_replace.iter().map(path_to_proto).collect(),
                planned_private: out.planned_private,
                diagnostics: diags_to_proto(&out.diags),
                planned_identity: self.identity_of(&r.type_name, res, &planned)?,
                ..Default::default()
            })
        };
        DiagnosticsResponse::or_failed(attempt.await)
    }

    pub async fn apply_resource_change(
        &self,
        r: pb::apply_resource_change::Request,
    ) -> pb::apply_resource_change::Response {
        // On failure keep the prior state: the object may still exist.
        let prior = r.prior_state.clone();
        let planned_identity = r.planned_identity.clone();
        let attempt = async {
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
            Ok::<_, Diagnostics>(pb::apply_resource_change::Response {
                new_state: Some(encode(&state, &res.ty, "new state")?),
                private,
                diagnostics: diags_to_proto(&diags),
                new_identity: self.identity_of(&r.type_name, res, &state)?,
                ..Default::default()
            })
        };
        let mut resp = or_keep(attempt.await, prior, |r| &mut r.new_state);
        if resp.new_identity.is_none() && resp.new_state.is_some() && !resp.diagnostics.is_empty() {
            resp.new_identity = planned_identity;
        }
        resp
    }

    pub async fn import_resource_state(
        &self,
        r: pb::import_resource_state::Request,
    ) -> pb::import_resource_state::Response {
        let attempt = async {
            let res = self.resource(&r.type_name)?;
            // Terraform 1.12+ sends either an ID or an identity (`import { identity = … }`).
            let by_identity = r
                .identity
                .as_ref()
                .and_then(|i| i.identity_data.as_ref())
                .filter(|dv| !dv.msgpack.is_empty() || !dv.json.is_empty());
            let out = match by_identity {
                Some(dv) if r.id.is_empty() => {
                    let ty = self.identity_type(&r.type_name)?;
                    let identity = decode(Some(dv), ty, "identity")?;
                    res.imp.import_identity(&self.ctx(), &identity).await
                }
                _ => res.imp.import(&self.ctx(), &r.id).await,
            };
            let mut imported = Vec::new();
            for mut st in out.states {
                null_write_only(&res.schema, &mut st);
                imported.push(pb::import_resource_state::ImportedResource {
                    type_name: r.type_name.clone(),
                    state: Some(encode(&st, &res.ty, "imported state")?),
                    identity: self.identity_of(&r.type_name, res, &st)?,
                    ..Default::default()
                });
            }
            Ok::<_, Diagnostics>(pb::import_resource_state::Response {
                imported_resources: imported,
                diagnostics: diags_to_proto(&out.diags),
                ..Default::default()
            })
        };
        DiagnosticsResponse::or_failed(attempt.await)
    }

    pub async fn move_resource_state(
        &self,
        r: pb::move_resource_state::Request,
    ) -> pb::move_resource_state::Response {
        pb::move_resource_state::Response::failed(&Diagnostics::from(Diagnostic::error(
            "Moving resource state is not supported",
            format!(
                "{} cannot move {} ({}) into {}. Remove the `moved` block, then `terraform import` the object as {}.",
                self.name,
                r.source_type_name,
                r.source_provider_address,
                r.target_type_name,
                r.target_type_name
            ),
        )))
    }

    pub async fn generate_resource_config(
        &self,
        _r: pb::generate_resource_config::Request,
    ) -> pb::generate_resource_config::Response {
        pb::generate_resource_config::Response::failed(&Diagnostics::from(Diagnostic::error(
            "Config generation not supported",
            "This provider does not generate configuration; write the resource block by hand.",
        )))
    }

    // ---- data sources ----

    pub async fn read_data_source(
        &self,
        r: pb::read_data_source::Request,
    ) -> pb::read_data_source::Response {
        let attempt = async {
            let ds = self.data_source(&r.type_name)?;
            let config = decode(r.config.as_ref(), &ds.ty, "configuration")?;
            let (state, diags) = ds.imp.read(&self.ctx(), config).await;
            if diags.has_errors() && state.is_null() {
                return Err(diags);
            }
            Ok::<_, Diagnostics>(pb::read_data_source::Response {
                state: Some(encode(&state, &ds.ty, "data source state")?),
                diagnostics: diags_to_proto(&diags),
                deferred: None,
            })
        };
        DiagnosticsResponse::or_failed(attempt.await)
    }

    // ---- ephemeral resources ----

    pub async fn open_ephemeral_resource(
        &self,
        r: pb::open_ephemeral_resource::Request,
    ) -> pb::open_ephemeral_resource::Response {
        let attempt = async {
            let e = self.ephemeral(&r.type_name)?;
            let config = decode(r.config.as_ref(), &e.ty, "configuration")?;
            let out = e.imp.open(&self.ctx(), config).await;
            if out.diags.has_errors() {
                return Err(out.diags);
            }
            Ok::<_, Diagnostics>(pb::open_ephemeral_resource::Response {
                diagnostics: diags_to_proto(&out.diags),
                renew_at: out.renew_at.map(timestamp),
                result: Some(encode(&out.result, &e.ty, "ephemeral result")?),
                private: out.private,
                deferred: None,
            })
        };
        DiagnosticsResponse::or_failed(attempt.await)
    }

    pub async fn renew_ephemeral_resource(
        &self,
        r: pb::renew_ephemeral_resource::Request,
    ) -> pb::renew_ephemeral_resource::Response {
        match self.ephemeral(&r.type_name) {
            Ok(e) => {
                let out = e.imp.renew(&self.ctx(), r.private).await;
                pb::renew_ephemeral_resource::Response {
                    diagnostics: diags_to_proto(&out.diags),
                    renew_at: out.renew_at.map(timestamp),
                    private: out.private,
                }
            }
            Err(d) => DiagnosticsResponse::failed(&d),
        }
    }

    pub async fn close_ephemeral_resource(
        &self,
        r: pb::close_ephemeral_resource::Request,
    ) -> pb::close_ephemeral_resource::Response {
        let d = match self.ephemeral(&r.type_name) {
            Ok(e) => e.imp.close(&self.ctx(), r.private).await,
            Err(d) => d,
        };
        pb::close_ephemeral_resource::Response::failed(&d)
    }

    // ---- functions ----

    pub async fn call_function(
        &self,
        r: pb::call_function::Request,
    ) -> pb::call_function::Response {
        match self.call(r) {
            Ok(v) => pb::call_function::Response {
                result: Some(v),
                error: None,
            },
            Err(e) => pb::call_function::Response {
                result: None,
                error: Some(e),
            },
        }
    }

    fn call(&self, r: pb::call_function::Request) -> Result<pb::DynamicValue, pb::FunctionError> {
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

fn names<T, M>(reg: &HashMap<String, T>, meta: impl Fn(String) -> M) -> Vec<M> {
    reg.keys().cloned().map(meta).collect()
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

fn function_map(functions: &HashMap<String, Arc<dyn Function>>) -> HashMap<String, pb::Function> {
    functions
        .iter()
        .map(|(n, f)| (n.clone(), function_to_proto(f.as_ref())))
        .collect()
}
