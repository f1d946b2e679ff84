//! What a provider implements. The server decodes every request with the schema, calls these
//! with typed values, and encodes what they return; a resource file holds only its schema and
//! its logic.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::diagnostics::{AttributePath, Diagnostics};
use super::schema::{IdentitySchema, Schema};
use super::value::{Type, Value};

/// Per-request context. `cancel` fires when Terraform sends StopProvider (e.g. on Ctrl-C):
/// long-running work should stop at the next safe point.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub cancel: CancellationToken,
}

pub struct ConfigureRequest {
    pub terraform_version: String,
    pub config: Value,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider block's schema.
    fn schema(&self) -> Schema;
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        Vec::new()
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        Vec::new()
    }
    fn functions(&self) -> Vec<Arc<dyn Function>> {
        Vec::new()
    }
    /// Static checks of the provider block; values may be unknown.
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    async fn configure(&self, _ctx: &Ctx, _req: ConfigureRequest) -> Diagnostics {
        Diagnostics::new()
    }
}

/// Old state handed to UpgradeResourceState.
pub enum RawState {
    Json(Vec<u8>),
    Flatmap(std::collections::HashMap<String, String>),
}

pub struct ReadRequest {
    pub state: Value,
    pub private: Vec<u8>,
}

/// A resource's new state. `state` is Null when the object no longer exists (read) or was not
/// created (create).
#[derive(Default)]
pub struct StateResponse {
    pub state: Value,
    pub private: Vec<u8>,
    pub diags: Diagnostics,
}

pub struct PlanRequest {
    pub prior_state: Value,
    pub proposed_new_state: Value,
    pub config: Value,
    pub prior_private: Vec<u8>,
}

#[derive(Default)]
pub struct PlanResponse {
    pub planned_state: Value,
    pub requires_replace: Vec<AttributePath>,
    pub planned_private: Vec<u8>,
    pub diags: Diagnostics,
}

pub struct ApplyRequest {
    pub prior_state: Value,
    pub planned_state: Value,
    pub config: Value,
    pub planned_private: Vec<u8>,
}

#[derive(Default)]
pub struct ImportResponse {
    pub states: Vec<Value>,
    pub diags: Diagnostics,
}

#[async_trait]
pub trait Resource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    /// Turns state written by an older schema version into the current shape. The server has
    /// already decoded it with the current type (unknown attributes dropped, missing ones null).
    fn upgrade_state(&self, _from_version: i64, state: Value) -> Result<Value, Diagnostics> {
        Ok(state)
    }
    async fn read(&self, ctx: &Ctx, req: ReadRequest) -> StateResponse;
    /// Refines the framework's default plan (schema defaults, computed attributes unknown on
    /// create, `requires_replace`), which the server has computed from its cached schema.
    async fn modify_plan(&self, _ctx: &Ctx, _req: &PlanRequest, _plan: &mut PlanResponse) {}
    async fn create(&self, ctx: &Ctx, req: ApplyRequest) -> StateResponse;
    async fn update(&self, ctx: &Ctx, req: ApplyRequest) -> StateResponse;
    /// Returns diagnostics only: on success the server records a null state.
    async fn delete(&self, ctx: &Ctx, req: ApplyRequest) -> Diagnostics;
    async fn import(&self, _ctx: &Ctx, _id: &str) -> ImportResponse {
        let mut diags = Diagnostics::new();
        diags.error(
            "Import not supported",
            format!("{} does not support import.", self.type_name()),
        );
        ImportResponse {
            states: Vec::new(),
            diags,
        }
    }

    // ---- resource identity (Terraform >= 1.12; older versions never ask) ----

    /// The identity schema, or `None` for a resource without identity. Asked once, at start-up.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }
    /// The identity of a (non-null) state, shaped by the identity schema's type; `Null` when it
    /// cannot be known yet (a plan with unknown names). The server sends it with every state it
    /// returns.
    fn identity(&self, _state: &Value) -> Value {
        Value::Null
    }
    /// Turns an identity stored by an older identity schema version into the current shape.
    /// The server has already decoded it with the current type.
    fn upgrade_identity(&self, _from_version: i64, identity: Value) -> Result<Value, Diagnostics> {
        Ok(identity)
    }
    /// `import { identity = { … } }`: the identity is decoded with the identity schema's type.
    async fn import_identity(&self, _ctx: &Ctx, _identity: &Value) -> ImportResponse {
        let mut diags = Diagnostics::new();
        diags.error(
            "Import by identity not supported",
            format!(
                "{} cannot be imported by identity; use an import ID.",
                self.type_name()
            ),
        );
        ImportResponse {
            states: Vec::new(),
            diags,
        }
    }
}

#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    /// `config` is wholly known (Terraform defers the read otherwise). Returns the full state.
    async fn read(&self, ctx: &Ctx, config: Value) -> (Value, Diagnostics);
}

#[derive(Default)]
pub struct OpenResponse {
    pub result: Value,
    pub renew_at: Option<SystemTime>,
    pub private: Option<Vec<u8>>,
    pub diags: Diagnostics,
}

#[derive(Default)]
pub struct RenewResponse {
    pub renew_at: Option<SystemTime>,
    pub private: Option<Vec<u8>>,
    pub diags: Diagnostics,
}

#[async_trait]
pub trait EphemeralResource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    async fn open(&self, ctx: &Ctx, config: Value) -> OpenResponse;
    /// Renew cannot change the result; it may only extend its life.
    async fn renew(&self, _ctx: &Ctx, private: Option<Vec<u8>>) -> RenewResponse {
        RenewResponse {
            private,
            ..RenewResponse::default()
        }
    }
    async fn close(&self, _ctx: &Ctx, _private: Option<Vec<u8>>) -> Diagnostics {
        Diagnostics::new()
    }
}

#[derive(Clone, Debug)]
pub struct Parameter {
    pub name: String,
    pub ty: Type,
    pub allow_null: bool,
    pub allow_unknown: bool,
    pub description: String,
}

impl Parameter {
    pub fn string(name: &str, description: &str) -> Self {
        Parameter {
            name: name.to_string(),
            ty: Type::String,
            allow_null: false,
            allow_unknown: false,
            description: description.to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FunctionDef {
    pub parameters: Vec<Parameter>,
    pub variadic: Option<Parameter>,
    pub returns: Type,
    pub summary: String,
    pub description: String,
    pub deprecation_message: String,
}

/// A function error; `argument` is the zero-based index of the argument at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionError {
    pub text: String,
    pub argument: Option<usize>,
}

/// Provider-defined functions are called on an unconfigured provider and must be pure.
pub trait Function: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn definition(&self) -> FunctionDef;
    /// Arguments are already checked against the definition: count, and known non-null unless
    /// the parameter allows otherwise.
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError>;
}
