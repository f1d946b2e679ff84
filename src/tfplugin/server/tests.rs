//! The server against a fake provider: every request is built as Terraform sends it (msgpack or
//! JSON `DynamicValue`s), and each test checks what the fake received, value for value, and
//! what the response decodes back to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tonic::Request;

use super::super::diagnostics::{AttributePath, Diagnostic, Diagnostics};
use super::super::proto::tfplugin6 as pb;
use super::super::schema::{Attribute, Block, IdentitySchema, NestedBlock, Nesting, Schema};
use super::super::traits::{
    ApplyRequest, ConfigureRequest, Ctx, DataSource, EphemeralResource, Function, FunctionDef,
    FunctionError, ImportResponse, OpenResponse, Parameter, PlanRequest, PlanResponse, Provider,
    ReadRequest, Resource, StateResponse,
};
use super::super::value::{self, Type, Value};
use super::{GrpcProvider, ProviderService};

const THING: &str = "fake_thing";
const LOOKUP: &str = "fake_lookup";
const TOKEN: &str = "fake_token";
const JOIN: &str = "fake_join";

/// What the fake was called with, in order: the call's name and its values.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(&'static str, Vec<Value>)>>,
    ctx: Mutex<Option<Ctx>>,
    schema_calls: AtomicUsize,
}

impl Fake {
    fn record(&self, what: &'static str, values: Vec<Value>) {
        self.calls.lock().unwrap().push((what, values));
    }

    fn take(&self) -> Vec<(&'static str, Vec<Value>)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// The one call made since the last `take`.
    fn only(&self, what: &str) -> Vec<Value> {
        let mut calls = self.take();
        assert_eq!(calls.len(), 1, "calls: {:?}", calls);
        let (name, values) = calls.remove(0);
        assert_eq!(name, what);
        values
    }

    fn own_warning(what: &str) -> Diagnostics {
        Diagnostic::warning(format!("{what} checked"), "by the fake")
            .at(AttributePath::root("name"))
            .into()
    }
}

fn thing_schema() -> Schema {
    let mut s = Schema::new(
        Block::new("A fake resource.")
            .attr(Attribute::string("id").computed())
            .attr(Attribute::string("name").required())
            .attr(Attribute::number("size").optional())
            .attr(Attribute::set_of("tags", Type::String).optional())
            .attr(
                Attribute::string("password")
                    .optional()
                    .sensitive()
                    .write_only(),
            )
            .block(NestedBlock::new(
                "rule",
                Nesting::List,
                Block::new("A rule.")
                    .attr(Attribute::number("port").required())
                    .attr(Attribute::string("proto").optional()),
            )),
    );
    s.version = 1;
    s
}

fn lookup_schema() -> Schema {
    Schema::new(
        Block::new("A fake data source.")
            .attr(Attribute::string("name").required())
            .attr(Attribute::string("result").computed()),
    )
}

fn token_schema() -> Schema {
    Schema::new(
        Block::new("A fake ephemeral resource.")
            .attr(Attribute::string("name").required())
            .attr(Attribute::string("token").computed().sensitive()),
    )
}

fn provider_schema() -> Schema {
    Schema::new(Block::new("A fake provider.").attr(Attribute::string("region").optional()))
}

struct FakeResource(Arc<Fake>);

#[async_trait]
impl Resource for FakeResource {
    fn type_name(&self) -> &'static str {
        THING
    }
    fn schema(&self) -> Schema {
        self.0.schema_calls.fetch_add(1, Ordering::SeqCst);
        thing_schema()
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        self.0.record("validate", vec![config.clone()]);
        Fake::own_warning("resource")
    }
    fn upgrade_state(&self, from_version: i64, state: Value) -> Result<Value, Diagnostics> {
        self.0
            .record("upgrade", vec![Value::int(from_version), state.clone()]);
        Ok(state)
    }
    async fn read(&self, ctx: &Ctx, req: ReadRequest) -> StateResponse {
        *self.0.ctx.lock().unwrap() = Some(ctx.clone());
        self.0
            .record("read", vec![req.state.clone(), bytes(&req.private)]);
        let mut state = req.state;
        state.set_attr("password", Value::string("leaked"));
        StateResponse {
            state,
            private: b"read-private".to_vec(),
            diags: Diagnostics::new(),
        }
    }
    async fn modify_plan(&self, _ctx: &Ctx, req: &PlanRequest, plan: &mut PlanResponse) {
        self.0.record(
            "plan",
            vec![
                req.prior_state.clone(),
                req.proposed_new_state.clone(),
                req.config.clone(),
                bytes(&req.prior_private),
                plan.planned_state.clone(),
            ],
        );
        plan.planned_private = b"planned".to_vec();
    }
    async fn create(&self, _ctx: &Ctx, req: ApplyRequest) -> StateResponse {
        self.0.record("create", apply_values(&req));
        let mut state = req.planned_state;
        state.set_attr("id", Value::string("id-1"));
        state.set_attr("password", Value::string("secret"));
        StateResponse {
            state,
            private: b"created".to_vec(),
            diags: Diagnostics::new(),
        }
    }
    async fn update(&self, _ctx: &Ctx, req: ApplyRequest) -> StateResponse {
        self.0.record("update", apply_values(&req));
        StateResponse {
            state: req.planned_state,
            ..StateResponse::default()
        }
    }
    async fn delete(&self, _ctx: &Ctx, req: ApplyRequest) -> Diagnostics {
        self.0.record("delete", apply_values(&req));
        let mut d = Diagnostics::new();
        if req.prior_state.get("name").as_str() == Some("undeletable") {
            d.error("Cannot delete", "the fake refuses");
        }
        d
    }
    async fn import(&self, _ctx: &Ctx, id: &str) -> ImportResponse {
        self.0.record("import", vec![Value::string(id)]);
        ImportResponse {
            states: vec![thing(Some(id), "imported", Some("pw"))],
            diags: Diagnostics::new(),
        }
    }
    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(identity_schema())
    }
    fn identity(&self, state: &Value) -> Value {
        identity_schema().project(state)
    }
    fn upgrade_identity(&self, from_version: i64, identity: Value) -> Result<Value, Diagnostics> {
        self.0.record(
            "upgrade_identity",
            vec![Value::int(from_version), identity.clone()],
        );
        Ok(identity)
    }
    async fn import_identity(&self, _ctx: &Ctx, identity: &Value) -> ImportResponse {
        self.0.record("import_identity", vec![identity.clone()]);
        let name = identity.get("name").as_str().unwrap_or_default();
        ImportResponse {
            states: vec![thing(Some("by-identity"), name, Some("pw"))],
            diags: Diagnostics::new(),
        }
    }
}

/// `name` (required for import) and `tags` (a set in state, a list in the identity).
fn identity_schema() -> IdentitySchema {
    let mut s =
        IdentitySchema::of_state_attributes(&thing_schema(), &[("name", true), ("tags", false)]);
    s.version = 2;
    s
}

fn identity_ty() -> Type {
    identity_schema().implied_type()
}

/// The identity of a `thing(…, name, …)`: its one tag as a list.
fn identity(name: &str) -> Value {
    Value::object([
        ("name", Value::string(name)),
        ("tags", Value::List(vec![Value::string("a")])),
    ])
}

fn identity_data(v: &Value) -> Option<pb::ResourceIdentityData> {
    Some(pb::ResourceIdentityData {
        identity_data: mp(v, &identity_ty()),
    })
}

fn back_identity(i: &Option<pb::ResourceIdentityData>) -> Value {
    let i = i.as_ref().expect("an identity in the response");
    back(&i.identity_data, &identity_ty())
}

fn apply_values(req: &ApplyRequest) -> Vec<Value> {
    vec![
        req.prior_state.clone(),
        req.planned_state.clone(),
        req.config.clone(),
        bytes(&req.planned_private),
    ]
}

struct FakeLookup(Arc<Fake>);

#[async_trait]
impl DataSource for FakeLookup {
    fn type_name(&self) -> &'static str {
        LOOKUP
    }
    fn schema(&self) -> Schema {
        self.0.schema_calls.fetch_add(1, Ordering::SeqCst);
        lookup_schema()
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        self.0.record("validate", vec![config.clone()]);
        Fake::own_warning("data source")
    }
    async fn read(&self, _ctx: &Ctx, config: Value) -> (Value, Diagnostics) {
        self.0.record("read_data", vec![config.clone()]);
        let name = config.get("name").as_str().unwrap_or("").to_string();
        let mut state = config;
        state.set_attr("result", Value::string(format!("found:{name}")));
        (state, Diagnostics::new())
    }
}

struct FakeToken(Arc<Fake>);

#[async_trait]
impl EphemeralResource for FakeToken {
    fn type_name(&self) -> &'static str {
        TOKEN
    }
    fn schema(&self) -> Schema {
        self.0.schema_calls.fetch_add(1, Ordering::SeqCst);
        token_schema()
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        self.0.record("validate", vec![config.clone()]);
        Fake::own_warning("ephemeral resource")
    }
    async fn open(&self, _ctx: &Ctx, config: Value) -> OpenResponse {
        self.0.record("open", vec![config.clone()]);
        let mut result = config;
        result.set_attr("token", Value::string("tok"));
        OpenResponse {
            result,
            renew_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100)),
            private: Some(b"opened".to_vec()),
            diags: Diagnostics::new(),
        }
    }
    async fn close(&self, _ctx: &Ctx, private: Option<Vec<u8>>) -> Diagnostics {
        self.0
            .record("close", vec![bytes(&private.unwrap_or_default())]);
        Diagnostics::new()
    }
}

struct FakeJoin(Arc<Fake>);

impl Function for FakeJoin {
    fn name(&self) -> &'static str {
        JOIN
    }
    fn definition(&self) -> FunctionDef {
        FunctionDef {
            parameters: vec![
                Parameter::string("a", "First."),
                Parameter {
                    allow_null: true,
                    ..Parameter::string("b", "Second, may be null.")
                },
            ],
            variadic: None,
            returns: Type::String,
            summary: "Joins two strings.".into(),
            description: String::new(),
            deprecation_message: String::new(),
        }
    }
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        self.0.record("call", args.to_vec());
        let a = args[0].as_str().unwrap_or("");
        if a == "bad" {
            return Err(FunctionError {
                text: "a must not be bad".into(),
                argument: Some(0),
            });
        }
        Ok(Value::string(format!(
            "{a}-{}",
            args[1].as_str().unwrap_or("none")
        )))
    }
}

struct FakeProvider(Arc<Fake>);

#[async_trait]
impl Provider for FakeProvider {
    fn schema(&self) -> Schema {
        self.0.schema_calls.fetch_add(1, Ordering::SeqCst);
        provider_schema()
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(FakeResource(self.0.clone()))]
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        vec![Arc::new(FakeLookup(self.0.clone()))]
    }
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        vec![Arc::new(FakeToken(self.0.clone()))]
    }
    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(FakeJoin(self.0.clone()))]
    }
    fn validate(&self, config: &Value) -> Diagnostics {
        self.0.record("validate", vec![config.clone()]);
        Fake::own_warning("provider")
    }
    async fn configure(&self, _ctx: &Ctx, req: ConfigureRequest) -> Diagnostics {
        self.0.record(
            "configure",
            vec![req.config, Value::string(req.terraform_version)],
        );
        Diagnostics::new()
    }
}

// ---- helpers ----

fn service() -> (ProviderService, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let svc = ProviderService::new(Arc::new(FakeProvider(fake.clone())), "fake");
    (svc, fake)
}

fn bytes(b: &[u8]) -> Value {
    Value::string(String::from_utf8_lossy(b))
}

fn ty(s: Schema) -> Type {
    s.implied_type()
}

/// Msgpack, as Terraform sends nearly everything.
fn mp(v: &Value, t: &Type) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: value::encode_msgpack(v, t).unwrap(),
        json: Vec::new(),
    })
}

fn json(v: &Value, t: &Type) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: Vec::new(),
        json: value::encode_json(v, t).unwrap(),
    })
}

fn back(dv: &Option<pb::DynamicValue>, t: &Type) -> Value {
    let dv = dv.as_ref().expect("a value in the response");
    assert!(dv.json.is_empty(), "responses are msgpack");
    value::decode_msgpack(&dv.msgpack, t).unwrap()
}

/// A full `fake_thing` object: size 5, one tag, one rule.
fn thing(id: Option<&str>, name: &str, password: Option<&str>) -> Value {
    let opt = |s: Option<&str>| s.map(Value::string).unwrap_or(Value::Null);
    Value::object([
        ("id", opt(id)),
        ("name", Value::string(name)),
        ("size", Value::int(5)),
        ("tags", Value::Set(vec![Value::string("a")])),
        ("password", opt(password)),
        (
            "rule",
            Value::List(vec![Value::object([
                ("port", Value::int(5432)),
                ("proto", Value::string("tcp")),
            ])]),
        ),
    ])
}

fn summaries(d: &[pb::Diagnostic]) -> Vec<&str> {
    d.iter().map(|d| d.summary.as_str()).collect()
}

fn name_path() -> Option<pb::AttributePath> {
    use pb::attribute_path::step::Selector;
    Some(pb::AttributePath {
        steps: vec![pb::attribute_path::Step {
            selector: Some(Selector::AttributeName("name".into())),
        }],
    })
}

// ---- validation ----

#[tokio::test]
async fn validate_rpcs_decode_the_config_and_return_the_types_own_diagnostics() {
    // Schema::validate's diagnostics come first; its own tests live with the schema.
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let cfg = thing(None, "n", Some("pw"));
    let r = svc
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: THING.into(),
            config: mp(&cfg, &t),
            ..Default::default()
        })
        .await;
    assert_eq!(fake.only("validate"), vec![cfg]);
    assert_eq!(summaries(&r.diagnostics), ["resource checked"]);
    assert_eq!(r.diagnostics[0].attribute, name_path());
    assert_eq!(
        r.diagnostics[0].severity,
        pb::diagnostic::Severity::Warning as i32
    );

    let lt = ty(lookup_schema());
    let cfg = Value::object([("name", Value::string("x")), ("result", Value::Null)]);
    let r = svc
        .validate_data_resource_config(pb::validate_data_resource_config::Request {
            type_name: LOOKUP.into(),
            config: mp(&cfg, &lt),
        })
        .await;
    assert_eq!(fake.only("validate"), vec![cfg]);
    assert_eq!(summaries(&r.diagnostics), ["data source checked"]);

    let et = ty(token_schema());
    let cfg = Value::object([("name", Value::Unknown), ("token", Value::Null)]);
    let r = svc
        .validate_ephemeral_resource_config(pb::validate_ephemeral_resource_config::Request {
            type_name: TOKEN.into(),
            config: mp(&cfg, &et),
        })
        .await;
    assert_eq!(fake.only("validate"), vec![cfg]);
    assert_eq!(summaries(&r.diagnostics), ["ephemeral resource checked"]);

    let pt = ty(provider_schema());
    let cfg = Value::object([("region", Value::string("eu-west-1"))]);
    let r = svc
        .validate_provider_config(pb::validate_provider_config::Request {
            config: mp(&cfg, &pt),
        })
        .await;
    assert_eq!(fake.only("validate"), vec![cfg]);
    assert_eq!(summaries(&r.diagnostics), ["provider checked"]);
}

#[tokio::test]
async fn json_dynamic_values_decode_like_msgpack() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let cfg = thing(Some("i"), "n", None);
    svc.validate_resource_config(pb::validate_resource_config::Request {
        type_name: THING.into(),
        config: json(&cfg, &t),
        ..Default::default()
    })
    .await;
    assert_eq!(fake.only("validate"), vec![cfg]);
}

#[tokio::test]
async fn undecodable_values_are_an_error_not_a_call() {
    let (svc, fake) = service();
    let r = svc
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: THING.into(),
            config: Some(pb::DynamicValue {
                msgpack: vec![0xc1],
                json: Vec::new(),
            }),
            ..Default::default()
        })
        .await;
    assert!(fake.take().is_empty());
    assert_eq!(
        summaries(&r.diagnostics),
        ["Invalid configuration from Terraform"]
    );
}

// ---- managed resources ----

#[tokio::test]
async fn plan_hands_prior_proposed_and_config_to_the_resource_apart() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    // Create: the configuration and the proposal differ (size), so a swap shows.
    let mut config = thing(None, "n", Some("pw"));
    config.set_attr("size", Value::Null);
    let proposed = thing(None, "n", Some("pw"));
    let r = svc
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: THING.into(),
            prior_state: mp(&Value::Null, &t),
            proposed_new_state: mp(&proposed, &t),
            config: mp(&config, &t),
            prior_private: b"before".to_vec(),
            ..Default::default()
        })
        .await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    // The default plan reached the resource: the computed id is unknown on create.
    let mut default_planned = proposed.clone();
    default_planned.set_attr("id", Value::Unknown);
    assert_eq!(
        fake.only("plan"),
        vec![
            Value::Null,
            proposed.clone(),
            config,
            bytes(b"before"),
            default_planned.clone()
        ]
    );
    let mut planned = default_planned;
    planned.set_attr("password", Value::Null);
    assert_eq!(back(&r.planned_state, &t), planned);
    assert_eq!(r.planned_private, b"planned");
    assert!(r.requires_replace.is_empty());

    // Update: the prior state arrives as sent.
    let prior = thing(Some("id-1"), "old", None);
    let proposed = thing(Some("id-1"), "new", None);
    svc.plan_resource_change(pb::plan_resource_change::Request {
        type_name: THING.into(),
        prior_state: mp(&prior, &t),
        proposed_new_state: mp(&proposed, &t),
        config: mp(&thing(None, "new", None), &t),
        ..Default::default()
    })
    .await;
    let got = fake.only("plan");
    assert_eq!(got[0], prior);
    assert_eq!(got[1], proposed);
    assert_eq!(got[4], proposed, "no unknowns on update");
}

#[tokio::test]
async fn apply_creates_updates_and_deletes_with_write_only_values_nulled() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let mut planned = thing(None, "n", None);
    planned.set_attr("id", Value::Unknown);
    let config = thing(None, "n", Some("pw"));
    let r = svc
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: THING.into(),
            prior_state: mp(&Value::Null, &t),
            planned_state: mp(&planned, &t),
            config: mp(&config, &t),
            planned_private: b"planned".to_vec(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        fake.only("create"),
        vec![Value::Null, planned, config.clone(), bytes(b"planned")]
    );
    // The fake set the password in its state; it must not reach Terraform.
    assert_eq!(back(&r.new_state, &t), thing(Some("id-1"), "n", None));
    assert_eq!(r.private, b"created");

    let prior = thing(Some("id-1"), "n", None);
    let planned = thing(Some("id-1"), "m", None);
    let r = svc
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: THING.into(),
            prior_state: mp(&prior, &t),
            planned_state: mp(&planned, &t),
            config: mp(&config, &t),
            ..Default::default()
        })
        .await;
    assert_eq!(
        fake.only("update"),
        vec![prior.clone(), planned.clone(), config, bytes(b"")]
    );
    assert_eq!(back(&r.new_state, &t), planned);

    let delete = |prior: Value| pb::apply_resource_change::Request {
        type_name: THING.into(),
        prior_state: mp(&prior, &t),
        planned_state: mp(&Value::Null, &t),
        config: mp(&Value::Null, &t),
        ..Default::default()
    };
    let r = svc.apply_resource_change(delete(prior.clone())).await;
    assert_eq!(fake.only("delete")[0], prior);
    assert_eq!(back(&r.new_state, &t), Value::Null);

    // A failed delete keeps the object in state.
    let stuck = thing(Some("id-2"), "undeletable", None);
    let r = svc.apply_resource_change(delete(stuck.clone())).await;
    fake.only("delete");
    assert_eq!(back(&r.new_state, &t), stuck);
    assert_eq!(summaries(&r.diagnostics), ["Cannot delete"]);
}

#[tokio::test]
async fn read_passes_state_and_private_and_nulls_write_only() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let state = thing(Some("id-1"), "n", None);
    let r = svc
        .read_resource(pb::read_resource::Request {
            type_name: THING.into(),
            current_state: mp(&state, &t),
            private: b"p".to_vec(),
            ..Default::default()
        })
        .await;
    assert_eq!(fake.only("read"), vec![state.clone(), bytes(b"p")]);
    assert_eq!(back(&r.new_state, &t), state);
    assert_eq!(r.private, b"read-private");

    // Nothing to read: no call, the private data is kept.
    let r = svc
        .read_resource(pb::read_resource::Request {
            type_name: THING.into(),
            current_state: mp(&Value::Null, &t),
            private: b"p".to_vec(),
            ..Default::default()
        })
        .await;
    assert!(fake.take().is_empty());
    assert_eq!(back(&r.new_state, &t), Value::Null);
    assert_eq!(r.private, b"p");
}

#[tokio::test]
async fn upgrade_reads_json_and_flatmap_raw_state() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let upgrade = |raw: pb::RawState| pb::upgrade_resource_state::Request {
        type_name: THING.into(),
        version: 0,
        raw_state: Some(raw),
    };
    let stored = thing(Some("id-1"), "n", Some("pw"));
    let r = svc
        .upgrade_resource_state(upgrade(pb::RawState {
            json: br#"{"id":"id-1","name":"n","size":5,"tags":["a"],"password":"pw",
                "rule":[{"port":5432,"proto":"tcp"}]}"#
                .to_vec(),
            flatmap: HashMap::new(),
        }))
        .await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(fake.only("upgrade"), vec![Value::int(0), stored.clone()]);
    assert_eq!(back(&r.upgraded_state, &t), thing(Some("id-1"), "n", None));

    let flatmap: HashMap<String, String> = [
        ("id", "id-1"),
        ("name", "n"),
        ("size", "5"),
        ("tags.#", "1"),
        ("tags.1234", "a"),
        ("password", "pw"),
        ("rule.#", "1"),
        ("rule.0.port", "5432"),
        ("rule.0.proto", "tcp"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let r = svc
        .upgrade_resource_state(upgrade(pb::RawState {
            json: Vec::new(),
            flatmap,
        }))
        .await;
    assert_eq!(fake.only("upgrade"), vec![Value::int(0), stored]);
    assert_eq!(back(&r.upgraded_state, &t), thing(Some("id-1"), "n", None));

    let r = svc
        .upgrade_resource_state(upgrade(pb::RawState {
            json: b"{".to_vec(),
            flatmap: HashMap::new(),
        }))
        .await;
    assert!(fake.take().is_empty());
    assert!(r.upgraded_state.is_none());
    assert_eq!(summaries(&r.diagnostics), ["Unreadable stored state"]);
}

#[tokio::test]
async fn import_returns_typed_states_without_write_only_values() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let r = svc
        .import_resource_state(pb::import_resource_state::Request {
            type_name: THING.into(),
            id: "abc".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(fake.only("import"), vec![Value::string("abc")]);
    assert_eq!(r.imported_resources.len(), 1);
    let imported = &r.imported_resources[0];
    assert_eq!(imported.type_name, THING);
    assert_eq!(
        back(&imported.state, &t),
        thing(Some("abc"), "imported", None)
    );
}

/// Calls each RPC with `type_name: "nope"` and checks the "Unknown … type" diagnostic.
macro_rules! assert_unknown_type {
    ($svc:expr, $kind:literal: $($rpc:ident),* $(,)?) => {$(
        let r = $svc
            .$rpc(pb::$rpc::Request {
                type_name: "nope".into(),
                ..Default::default()
            })
            .await;
        let d = &r.diagnostics;
        assert_eq!(summaries(d), [concat!("Unknown ", $kind, " type")], stringify!($rpc));
        assert!(d[0].detail.contains("\"nope\""), "{}", d[0].detail);
    )*};
}

#[tokio::test]
async fn unknown_type_names_are_diagnostics() {
    let (svc, fake) = service();
    assert_unknown_type!(svc, "resource":
        validate_resource_config,
        upgrade_resource_state,
        plan_resource_change,
        import_resource_state,
    );
    assert_unknown_type!(svc, "data source": validate_data_resource_config, read_data_source);
    assert_unknown_type!(svc, "ephemeral resource":
        validate_ephemeral_resource_config,
        open_ephemeral_resource,
        renew_ephemeral_resource,
        close_ephemeral_resource,
    );
    // Read and apply hand the state back unchanged.
    let t = ty(thing_schema());
    let state = mp(&thing(Some("i"), "n", None), &t);
    let r = svc
        .read_resource(pb::read_resource::Request {
            type_name: "nope".into(),
            current_state: state.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(summaries(&r.diagnostics), ["Unknown resource type"]);
    assert_eq!(r.new_state, state);
    let r = svc
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "nope".into(),
            prior_state: state.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(summaries(&r.diagnostics), ["Unknown resource type"]);
    assert_eq!(r.new_state, state);
    assert!(fake.take().is_empty());
}

#[tokio::test]
async fn move_resource_state_names_the_provider() {
    let (svc, _) = service();
    let r = svc
        .move_resource_state(pb::move_resource_state::Request {
            source_type_name: "old_thing".into(),
            source_provider_address: "example.com/x/old".into(),
            target_type_name: THING.into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        r.diagnostics[0].detail,
        "fake cannot move old_thing (example.com/x/old) into fake_thing. Remove the `moved` \
         block, then `terraform import` the object as fake_thing."
    );
}

// ---- provider, data sources, ephemeral resources ----

#[tokio::test]
async fn configure_passes_config_and_terraform_version() {
    let (svc, fake) = service();
    let cfg = Value::object([("region", Value::string("eu-west-1"))]);
    let r = svc
        .configure_provider(pb::configure_provider::Request {
            terraform_version: "1.9.0".into(),
            config: mp(&cfg, &ty(provider_schema())),
            ..Default::default()
        })
        .await;
    assert!(r.diagnostics.is_empty());
    assert_eq!(fake.only("configure"), vec![cfg, Value::string("1.9.0")]);
}

#[tokio::test]
async fn data_source_read_round_trips() {
    let (svc, fake) = service();
    let t = ty(lookup_schema());
    let cfg = Value::object([("name", Value::string("db")), ("result", Value::Null)]);
    let r = svc
        .read_data_source(pb::read_data_source::Request {
            type_name: LOOKUP.into(),
            config: mp(&cfg, &t),
            ..Default::default()
        })
        .await;
    assert_eq!(fake.only("read_data"), vec![cfg]);
    assert_eq!(
        back(&r.state, &t),
        Value::object([
            ("name", Value::string("db")),
            ("result", Value::string("found:db"))
        ])
    );
}

#[tokio::test]
async fn ephemeral_open_renew_close() {
    let (svc, fake) = service();
    let t = ty(token_schema());
    let cfg = Value::object([("name", Value::string("u")), ("token", Value::Null)]);
    let r = svc
        .open_ephemeral_resource(pb::open_ephemeral_resource::Request {
            type_name: TOKEN.into(),
            config: mp(&cfg, &t),
            ..Default::default()
        })
        .await;
    assert_eq!(fake.only("open"), vec![cfg]);
    assert_eq!(
        back(&r.result, &t),
        Value::object([
            ("name", Value::string("u")),
            ("token", Value::string("tok"))
        ])
    );
    assert_eq!(r.renew_at.map(|t| t.seconds), Some(100));
    assert_eq!(r.private.as_deref(), Some(&b"opened"[..]));

    let r = svc
        .renew_ephemeral_resource(pb::renew_ephemeral_resource::Request {
            type_name: TOKEN.into(),
            private: Some(b"opened".to_vec()),
        })
        .await;
    assert_eq!(r.private.as_deref(), Some(&b"opened"[..]));
    let r = svc
        .close_ephemeral_resource(pb::close_ephemeral_resource::Request {
            type_name: TOKEN.into(),
            private: Some(b"opened".to_vec()),
        })
        .await;
    assert!(r.diagnostics.is_empty());
    assert_eq!(fake.only("close"), vec![bytes(b"opened")]);
}

// ---- functions ----

#[tokio::test]
async fn call_function_checks_arguments_before_calling() {
    let (svc, fake) = service();
    let s = &Type::String;
    let call = |args: Vec<Option<pb::DynamicValue>>| pb::call_function::Request {
        name: JOIN.into(),
        arguments: args.into_iter().map(Option::unwrap_or_default).collect(),
    };
    let ok = |r: pb::call_function::Response| {
        assert!(r.error.is_none(), "{:?}", r.error);
        back(&r.result, s)
    };
    let err = |r: pb::call_function::Response| {
        assert!(r.result.is_none());
        let e = r.error.expect("a function error");
        (e.text, e.function_argument)
    };
    let x = || mp(&Value::string("x"), s);

    let r = svc
        .call_function(call(vec![x(), mp(&Value::Null, s)]))
        .await;
    assert_eq!(ok(r), Value::string("x-none"));
    assert_eq!(fake.only("call"), vec![Value::string("x"), Value::Null]);
    let r = svc
        .call_function(call(vec![x(), mp(&Value::string("y"), s)]))
        .await;
    assert_eq!(ok(r), Value::string("x-y"));
    fake.only("call");

    // Unknown arguments give an unknown result without a call.
    let r = svc
        .call_function(call(vec![x(), mp(&Value::Unknown, s)]))
        .await;
    assert_eq!(ok(r), Value::Unknown);

    let r = svc.call_function(call(vec![x()])).await;
    assert_eq!(err(r), ("fake_join takes 2 arguments, got 1.".into(), None));
    let r = svc.call_function(call(vec![x(), x(), x()])).await;
    assert_eq!(err(r), ("fake_join takes 2 arguments.".into(), Some(2)));
    let r = svc
        .call_function(call(vec![mp(&Value::Null, s), x()]))
        .await;
    assert_eq!(err(r), ("Argument \"a\" must not be null.".into(), Some(0)));
    let garbage = Some(pb::DynamicValue {
        msgpack: vec![0xc1],
        json: Vec::new(),
    });
    let r = svc.call_function(call(vec![x(), garbage])).await;
    assert_eq!(
        err(r),
        ("Argument \"b\" could not be decoded.".into(), Some(1))
    );
    assert!(fake.take().is_empty());

    let r = svc
        .call_function(call(vec![mp(&Value::string("bad"), s), x()]))
        .await;
    assert_eq!(err(r), ("a must not be bad".into(), Some(0)));
    fake.only("call");

    let r = svc
        .call_function(pb::call_function::Request {
            name: "nope".into(),
            arguments: Vec::new(),
        })
        .await;
    assert_eq!(
        err(r),
        ("This provider has no function \"nope\".".into(), None)
    );
}

// ---- life cycle, schemas, the tonic service ----

#[tokio::test]
async fn stop_provider_cancels_work_in_flight_and_later_requests_get_a_fresh_ctx() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let read = || pb::read_resource::Request {
        type_name: THING.into(),
        current_state: mp(&thing(Some("i"), "n", None), &t),
        ..Default::default()
    };
    let ctx_of_last_read = || fake.ctx.lock().unwrap().clone().expect("read ran");
    svc.read_resource(read()).await;
    let before = ctx_of_last_read();
    assert!(!before.cancel.is_cancelled());
    svc.stop_provider(pb::stop_provider::Request::default())
        .await;
    assert!(before.cancel.is_cancelled());
    svc.read_resource(read()).await;
    assert!(!ctx_of_last_read().cancel.is_cancelled());
}

#[tokio::test]
async fn schemas_are_computed_once_and_served_from_the_cache() {
    let (svc, fake) = service();
    // Provider, resource, data source, ephemeral resource: once each at start-up.
    assert_eq!(fake.schema_calls.load(Ordering::SeqCst), 4);
    let a = svc
        .get_provider_schema(pb::get_provider_schema::Request::default())
        .await;
    svc.plan_resource_change(pb::plan_resource_change::Request {
        type_name: THING.into(),
        ..Default::default()
    })
    .await;
    svc.validate_resource_config(pb::validate_resource_config::Request {
        type_name: THING.into(),
        ..Default::default()
    })
    .await;
    let b = svc
        .get_provider_schema(pb::get_provider_schema::Request::default())
        .await;
    assert_eq!(fake.schema_calls.load(Ordering::SeqCst), 4);
    assert_eq!(a, b);
    assert_eq!(a.resource_schemas[THING].version, 1);
    assert!(a.data_source_schemas.contains_key(LOOKUP));
    assert!(a.ephemeral_resource_schemas.contains_key(TOKEN));
    assert_eq!(a.functions[JOIN].parameters.len(), 2);

    let m = svc.get_metadata(pb::get_metadata::Request::default()).await;
    assert_eq!(m.resources[0].type_name, THING);
    assert_eq!(m.data_sources[0].type_name, LOOKUP);
    assert_eq!(m.ephemeral_resources[0].type_name, TOKEN);
    assert_eq!(m.functions[0].name, JOIN);
}

#[tokio::test]
async fn the_tonic_service_dispatches_and_refuses_what_it_does_not_offer() {
    use pb::provider_server::Provider as _;
    let (svc, fake) = service();
    let grpc = GrpcProvider(svc);
    let t = ty(thing_schema());
    let cfg = thing(None, "n", None);
    let r = grpc
        .validate_resource_config(Request::new(pb::validate_resource_config::Request {
            type_name: THING.into(),
            config: mp(&cfg, &t),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fake.only("validate"), vec![cfg]);
    assert_eq!(summaries(&r.diagnostics), ["resource checked"]);

    let st = grpc
        .lock_state(Request::new(pb::lock_state::Request::default()))
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::Unimplemented);
    assert_eq!(st.message(), "this provider has no state stores");
    let st = grpc
        .plan_action(Request::new(pb::plan_action::Request::default()))
        .await
        .unwrap_err();
    assert_eq!(st.message(), "this provider has no actions");
}

// ---- resource identity ----

#[tokio::test]
async fn identity_schemas_are_served_with_types_and_import_flags() {
    let (svc, _) = service();
    let r = svc
        .get_resource_identity_schemas(pb::get_resource_identity_schemas::Request {})
        .await;
    assert!(r.diagnostics.is_empty());
    assert_eq!(r.identity_schemas.len(), 1, "only resources with identity");
    let s = &r.identity_schemas[THING];
    assert_eq!(s.version, 2);
    let attrs: Vec<_> = s
        .identity_attributes
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                Type::from_json_bytes(&a.r#type).unwrap(),
                a.required_for_import,
                a.optional_for_import,
            )
        })
        .collect();
    assert_eq!(
        attrs,
        [
            ("name", Type::String, true, false),
            ("tags", Type::list(Type::String), false, true),
        ]
    );
}

#[tokio::test]
async fn read_plan_and_apply_return_the_identity_of_the_state_they_return() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let state = thing(Some("id-1"), "n", None);

    // Terraform >= 1.12 sends the stored identity; older versions send none. Same answer.
    for current_identity in [identity_data(&identity("n")), None] {
        let r = svc
            .read_resource(pb::read_resource::Request {
                type_name: THING.into(),
                current_state: mp(&state, &t),
                current_identity,
                ..Default::default()
            })
            .await;
        fake.take();
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        assert_eq!(back_identity(&r.new_identity), identity("n"));
    }

    // A known plan has its identity; one whose name is unknown has none yet.
    let plan = |proposed: Value, config: Value| pb::plan_resource_change::Request {
        type_name: THING.into(),
        prior_state: mp(&Value::Null, &t),
        proposed_new_state: mp(&proposed, &t),
        config: mp(&config, &t),
        ..Default::default()
    };
    let known = thing(None, "n", None);
    let r = svc.plan_resource_change(plan(known.clone(), known)).await;
    fake.take();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(back_identity(&r.planned_identity), identity("n"));
    let mut unknown = thing(None, "n", None);
    unknown.set_attr("name", Value::Unknown);
    let r = svc
        .plan_resource_change(plan(unknown.clone(), unknown))
        .await;
    fake.take();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert!(r.planned_identity.is_none());

    // Create: the new state's identity. Delete: none.
    let planned = thing(None, "made", None);
    let r = svc
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: THING.into(),
            prior_state: mp(&Value::Null, &t),
            planned_state: mp(&planned, &t),
            config: mp(&planned, &t),
            planned_identity: identity_data(&identity("made")),
            ..Default::default()
        })
        .await;
    fake.take();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(back_identity(&r.new_identity), identity("made"));
    let r = svc
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: THING.into(),
            prior_state: mp(&state, &t),
            planned_state: mp(&Value::Null, &t),
            config: mp(&Value::Null, &t),
            planned_identity: None,
            ..Default::default()
        })
        .await;
    fake.take();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(back(&r.new_state, &t), Value::Null);
    assert!(r.new_identity.is_none());
}

#[tokio::test]
async fn import_by_identity_decodes_it_and_by_id_still_works() {
    let (svc, fake) = service();
    let t = ty(thing_schema());
    let wanted = Value::object([
        ("name", Value::string("x|y")),
        (
            "tags",
            Value::List(vec![Value::string("b"), Value::string("a")]),
        ),
    ]);
    for dv in [mp(&wanted, &identity_ty()), json(&wanted, &identity_ty())] {
        let r = svc
            .import_resource_state(pb::import_resource_state::Request {
                type_name: THING.into(),
                id: String::new(),
                identity: Some(pb::ResourceIdentityData { identity_data: dv }),
                ..Default::default()
            })
            .await;
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        assert_eq!(fake.only("import_identity"), vec![wanted.clone()]);
        let imported = &r.imported_resources[0];
        assert_eq!(
            back(&imported.state, &t),
            thing(Some("by-identity"), "x|y", None)
        );
        assert_eq!(back_identity(&imported.identity), identity("x|y"));
    }

    // An ID (all Terraform versions): the ID path, and the identity comes back too.
    let r = svc
        .import_resource_state(pb::import_resource_state::Request {
            type_name: THING.into(),
            id: "abc".into(),
            identity: None,
            ..Default::default()
        })
        .await;
    assert_eq!(fake.only("import"), vec![Value::string("abc")]);
    assert_eq!(
        back_identity(&r.imported_resources[0].identity),
        identity("imported")
    );

    // An identity of the wrong shape is an error, not a call.
    let wrong = Value::object([("name", Value::List(vec![Value::string("x")]))]);
    let wrong_ty = Type::object([("name", Type::list(Type::String))]);
    let r = svc
        .import_resource_state(pb::import_resource_state::Request {
            type_name: THING.into(),
            identity: Some(pb::ResourceIdentityData {
                identity_data: mp(&wrong, &wrong_ty),
            }),
            ..Default::default()
        })
        .await;
    assert!(fake.take().is_empty());
    assert!(r.imported_resources.is_empty());
    assert_eq!(
        summaries(&r.diagnostics),
        ["Invalid identity from Terraform"]
    );
}

#[tokio::test]
async fn upgrade_identity_reads_the_stored_json() {
    let (svc, fake) = service();
    let r = svc
        .upgrade_resource_identity(pb::upgrade_resource_identity::Request {
            type_name: THING.into(),
            version: 1,
            raw_identity: Some(pb::RawState {
                json: br#"{"name":"n","tags":["a"]}"#.to_vec(),
                flatmap: HashMap::new(),
            }),
        })
        .await;
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    assert_eq!(
        fake.only("upgrade_identity"),
        vec![Value::int(1), identity("n")]
    );
    let up = r
        .upgraded_identity
        .as_ref()
        .map(|i| i.identity_data.clone());
    assert_eq!(back(&up.flatten(), &identity_ty()), identity("n"));

    let r = svc
        .upgrade_resource_identity(pb::upgrade_resource_identity::Request {
            type_name: THING.into(),
            version: 0,
            raw_identity: Some(pb::RawState {
                json: br#"{"name":["not a string"]}"#.to_vec(),
                flatmap: HashMap::new(),
            }),
        })
        .await;
    assert!(fake.take().is_empty());
    assert!(r.upgraded_identity.is_none());
    assert_eq!(summaries(&r.diagnostics), ["Unreadable stored identity"]);
}
