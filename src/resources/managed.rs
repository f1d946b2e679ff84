//! The lifecycle every database resource shares, written once: decode the typed model, check
//! values read back from state like configuration, connect lazily (keeping the prior state when
//! the database is unavailable), keep a create whose outcome is unknown as tainted, set the
//! `id`, and encode the result. A resource implements only [`ManagedResource`] on its model;
//! an engine (PostgreSQL today, MySQL next) implements [`Engine`].

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::pg::{Pg, PgSource};
use crate::resources::import_id::{encode_field, join_list};
use crate::tfplugin::{
    ApplyRequest, AttributePath, Ctx, Diagnostic, Diagnostics, IdentitySchema, ImportResponse,
    PlanRequest, PlanResponse, ReadRequest, Resource, Schema, StateResponse, Type, Value,
    from_value, to_value,
};

/// How a resource reaches its database.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// What the provider hands out (settings are read and the pool built lazily).
    type Source: ?Sized + Send + Sync;
    /// A handle to the database: a pool with its transactions and retries.
    type Conn: Send + Sync;
    /// Named in diagnostics: "PostgreSQL is not available".
    const NAME: &'static str;
    /// The database for one request: its work ends when Terraform stops the provider
    /// (`ctx.cancel`, fired by StopProvider).
    async fn connect(source: &Self::Source, ctx: &Ctx) -> Result<Arc<Self::Conn>, String>;
}

pub struct Postgres;

#[async_trait]
impl Engine for Postgres {
    type Source = dyn PgSource;
    type Conn = Pg;
    const NAME: &'static str = "PostgreSQL";
    async fn connect(source: &dyn PgSource, ctx: &Ctx) -> Result<Arc<Pg>, String> {
        let pg = source.pg().await?;
        Ok(Arc::new(pg.stopped_by(ctx.cancel.clone())))
    }
}

/// The provider could not give a resource its database (settings or connection).
pub fn unavailable<E: Engine>(e: impl std::fmt::Display) -> Diagnostics {
    Diagnostic::error(format!("{} is not available", E::NAME), e.to_string()).into()
}

/// A failed create. `Uncertain`: the write may have committed (the server could not say), so
/// the planned state is kept and Terraform marks it tainted: the next refresh drops it if the
/// object is absent, else the next apply replaces it. Never adopt an existing object silently.
pub enum CreateError {
    Failed(Diagnostics),
    Uncertain(Diagnostics),
}

impl CreateError {
    /// A failed write: `Uncertain` when its COMMIT's outcome is unknown.
    pub fn of_write(commit_unknown: bool, diags: Diagnostics) -> CreateError {
        if commit_unknown {
            CreateError::Uncertain(diags)
        } else {
            CreateError::Failed(diags)
        }
    }
}

impl From<Diagnostics> for CreateError {
    fn from(d: Diagnostics) -> Self {
        CreateError::Failed(d)
    }
}

/// One lifecycle call: the request context, the database, and warnings to return with the
/// result.
pub struct Op<'a, C> {
    pub ctx: &'a Ctx,
    pub db: &'a C,
    pub warnings: Diagnostics,
}

/// A resource on a typed model; `Model` is its whole state except `id`, which comes from
/// [`ManagedResource::id`].
#[async_trait]
pub trait ManagedResource: Send + Sync + 'static {
    type Engine: Engine;
    type Model: Serialize + DeserializeOwned + Clone + Send + Sync;
    const TYPE_NAME: &'static str;

    /// The schema, with its attribute validators and defaults.
    fn schema() -> Schema;
    /// Checks across attributes, beyond the schema's validators; values may be unknown.
    fn validate(_config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    fn id(model: &Self::Model) -> String;
    /// Resource identity (Terraform >= 1.12): the state attributes that name the object, in
    /// import-ID order, each with whether an import block's `identity` must give it. The
    /// adapter derives the identity from every state it returns, and imports an identity as
    /// the import ID [`ManagedResource::identity_import_id`] builds from it. Empty: none.
    const IDENTITY: &[(&str, bool)] = &[];
    /// The import ID naming what an identity names. By default a one-attribute identity is
    /// its value; otherwise the values in [`ManagedResource::IDENTITY`] order, joined by `|`
    /// (lists by `,`) with the import-ID codec, a null value an empty field.
    fn identity_import_id(identity: &Value) -> String {
        identity_fields(Self::IDENTITY, identity)
    }
    /// Refines a wholly known plan, e.g. computed attributes that always plan to one value
    /// so that drift shows as a change.
    fn refine_plan(_planned: &mut Self::Model) {}
    /// Whether [`ManagedResource::check_plan`] needs the database at plan time.
    const PLAN_NEEDS_DB: bool = false;
    /// Plan-time checks against the server (e.g. what its version supports), on a wholly
    /// known plan. Skipped when the database cannot be reached: apply reports that.
    async fn check_plan(
        &self,
        _op: &mut Op<'_, <Self::Engine as Engine>::Conn>,
        _planned: &Self::Model,
    ) -> Result<(), Diagnostics> {
        Ok(())
    }
    /// The observed state, or `None` when the object is gone.
    async fn read(
        &self,
        op: &mut Op<'_, <Self::Engine as Engine>::Conn>,
        recorded: Self::Model,
    ) -> Result<Option<Self::Model>, Diagnostics>;
    async fn create(
        &self,
        op: &mut Op<'_, <Self::Engine as Engine>::Conn>,
        planned: Self::Model,
    ) -> Result<Self::Model, CreateError>;
    async fn update(
        &self,
        op: &mut Op<'_, <Self::Engine as Engine>::Conn>,
        prior: Self::Model,
        planned: Self::Model,
    ) -> Result<Self::Model, Diagnostics>;
    async fn delete(
        &self,
        op: &mut Op<'_, <Self::Engine as Engine>::Conn>,
        prior: Self::Model,
    ) -> Result<(), Diagnostics>;
    /// Checks an import ID before anything connects.
    fn check_import_id(id: &str) -> Result<(), Diagnostics>;
    async fn import(
        &self,
        op: &mut Op<'_, <Self::Engine as Engine>::Conn>,
        id: &str,
    ) -> Result<Vec<Self::Model>, Diagnostics>;
}

/// Serves a [`ManagedResource`] as a protocol [`Resource`].
pub struct Managed<R: ManagedResource> {
    res: R,
    source: Arc<<R::Engine as Engine>::Source>,
    schema: Schema,
    ty: Type,
    identity: Option<IdentitySchema>,
    _r: PhantomData<R>,
}

/// The default import ID of an identity (see [`ManagedResource::identity_import_id`]).
pub fn identity_fields(names: &[(&str, bool)], identity: &Value) -> String {
    let field = |v: &Value| match v {
        Value::List(items) | Value::Set(items) => join_list(
            &items
                .iter()
                .map(|i| i.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>(),
        ),
        v => encode_field(v.as_str().unwrap_or_default()),
    };
    match names {
        [(name, _)] => identity.get(name).as_str().unwrap_or_default().to_string(),
        _ => names
            .iter()
            .map(|(n, _)| field(identity.get(n)))
            .collect::<Vec<_>>()
            .join("|"),
    }
}

impl<R: ManagedResource> Managed<R> {
    pub fn new(res: R, source: Arc<<R::Engine as Engine>::Source>) -> Self {
        let schema = R::schema();
        let ty = schema.implied_type();
        let identity = (!R::IDENTITY.is_empty())
            .then(|| IdentitySchema::of_state_attributes(&schema, R::IDENTITY));
        Managed {
            res,
            source,
            schema,
            ty,
            identity,
            _r: PhantomData,
        }
    }

    /// A state value from a model: `id` included, shaped by the schema's type.
    fn state(&self, m: &R::Model) -> Result<Value, Diagnostics> {
        let mut v = to_value(m, &self.ty).map_err(|e| self.bug("encode the new state", e))?;
        v.set_attr("id", Value::string(R::id(m)));
        Ok(v)
    }

    fn bug(&self, what: &str, e: impl std::fmt::Display) -> Diagnostics {
        Diagnostic::error(
            format!("Cannot {what}"),
            format!("{}: {e}. This is a bug in the provider.", R::TYPE_NAME),
        )
        .into()
    }

    /// Reads a model from state, refusing values configuration would not accept (a tampered
    /// or corrupted state must not reach SQL).
    fn recorded(&self, v: &Value) -> Result<R::Model, Diagnostics> {
        let checks = self.schema.validate(v);
        if checks.has_errors() {
            let mut d = Diagnostics::new();
            d.error(
                "Invalid value in the stored state",
                format!(
                    "{}'s state holds values its configuration would not accept; nothing was sent to the database. Fix or remove the object from state (terraform state rm) and import it again.",
                    R::TYPE_NAME
                ),
            );
            d.extend(checks);
            return Err(d);
        }
        from_value(v).map_err(|e| {
            Diagnostic::error(
                "Invalid value in the stored state",
                format!("{}: {e}", R::TYPE_NAME),
            )
            .into()
        })
    }

    async fn connect(&self, ctx: &Ctx) -> Result<Arc<<R::Engine as Engine>::Conn>, Diagnostics> {
        R::Engine::connect(&self.source, ctx)
            .await
            .map_err(unavailable::<R::Engine>)
    }
}

fn keep(state: Value, private: Vec<u8>, diags: Diagnostics) -> StateResponse {
    StateResponse {
        state,
        private,
        diags,
    }
}

fn failed(diags: Diagnostics) -> StateResponse {
    StateResponse {
        diags,
        ..StateResponse::default()
    }
}

#[async_trait]
impl<R: ManagedResource> Resource for Managed<R> {
    fn type_name(&self) -> &'static str {
        R::TYPE_NAME
    }

    fn schema(&self) -> Schema {
        self.schema.clone()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        R::validate(config)
    }

    async fn modify_plan(&self, ctx: &Ctx, _req: &PlanRequest, plan: &mut PlanResponse) {
        // The id is known at plan time once every attribute is; otherwise the default plan's
        // value stands (unknown on create, the prior id on update).
        if !plan.planned_state.is_null()
            && let Ok(mut m) = from_value::<R::Model>(&plan.planned_state)
        {
            R::refine_plan(&mut m);
            match self.state(&m) {
                Ok(v) => plan.planned_state = v,
                Err(d) => plan.diags.extend(d),
            }
            if R::PLAN_NEEDS_DB
                && let Ok(db) = self.connect(ctx).await
            {
                let mut op = Op {
                    ctx,
                    db: &*db,
                    warnings: Diagnostics::new(),
                };
                let checked = self.res.check_plan(&mut op, &m).await;
                plan.diags.extend(op.warnings);
                if let Err(d) = checked {
                    plan.diags.extend(d);
                }
            }
        }
    }

    async fn read(&self, ctx: &Ctx, req: ReadRequest) -> StateResponse {
        let recorded = match self.recorded(&req.state) {
            Ok(m) => m,
            Err(d) => return keep(req.state, req.private, d),
        };
        let db = match self.connect(ctx).await {
            Ok(db) => db,
            Err(d) => return keep(req.state, req.private, d),
        };
        let mut op = Op {
            ctx,
            db: &*db,
            warnings: Diagnostics::new(),
        };
        match self.res.read(&mut op, recorded).await {
            Ok(Some(m)) => match self.state(&m) {
                Ok(state) => keep(state, req.private, op.warnings),
                Err(d) => keep(req.state, req.private, d),
            },
            // Gone out of band: Terraform plans to create it again.
            Ok(None) => failed(op.warnings),
            Err(d) => keep(req.state, req.private, d),
        }
    }

    async fn create(&self, ctx: &Ctx, req: ApplyRequest) -> StateResponse {
        let planned = match from_value::<R::Model>(&req.planned_state) {
            Ok(m) => m,
            Err(e) => return failed(self.bug("read the planned state", e)),
        };
        let db = match self.connect(ctx).await {
            Ok(db) => db,
            Err(d) => return failed(d),
        };
        let mut op = Op {
            ctx,
            db: &*db,
            warnings: Diagnostics::new(),
        };
        let out = self.res.create(&mut op, planned.clone()).await;
        let mut warnings = op.warnings;
        match out {
            Ok(m) => match self.state(&m) {
                Ok(state) => keep(state, Vec::new(), warnings),
                Err(d) => failed(d),
            },
            Err(CreateError::Uncertain(d)) => {
                warnings.extend(d);
                match self.state(&planned) {
                    Ok(state) => keep(state, Vec::new(), warnings),
                    Err(d) => failed(d),
                }
            }
            Err(CreateError::Failed(d)) => {
                warnings.extend(d);
                failed(warnings)
            }
        }
    }

    async fn update(&self, ctx: &Ctx, req: ApplyRequest) -> StateResponse {
        let prior = match self.recorded(&req.prior_state) {
            Ok(m) => m,
            Err(d) => return keep(req.prior_state, Vec::new(), d),
        };
        let planned = match from_value::<R::Model>(&req.planned_state) {
            Ok(m) => m,
            Err(e) => return keep(req.prior_state, Vec::new(), self.bug("read the plan", e)),
        };
        let db = match self.connect(ctx).await {
            Ok(db) => db,
            Err(d) => return keep(req.prior_state, Vec::new(), d),
        };
        let mut op = Op {
            ctx,
            db: &*db,
            warnings: Diagnostics::new(),
        };
        let out = self.res.update(&mut op, prior, planned).await;
        let mut warnings = op.warnings;
        match out.and_then(|m| self.state(&m)) {
            Ok(state) => keep(state, Vec::new(), warnings),
            Err(d) => {
                warnings.extend(d);
                keep(req.prior_state, Vec::new(), warnings)
            }
        }
    }

    async fn delete(&self, ctx: &Ctx, req: ApplyRequest) -> Diagnostics {
        let prior = match self.recorded(&req.prior_state) {
            Ok(m) => m,
            Err(d) => return d,
        };
        let db = match self.connect(ctx).await {
            Ok(db) => db,
            Err(d) => return d,
        };
        let mut op = Op {
            ctx,
            db: &*db,
            warnings: Diagnostics::new(),
        };
        let out = self.res.delete(&mut op, prior).await;
        let mut diags = op.warnings;
        if let Err(d) = out {
            diags.extend(d);
        }
        diags
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        self.identity.clone()
    }

    fn identity(&self, state: &Value) -> Value {
        self.identity
            .as_ref()
            .map_or(Value::Null, |s| s.project(state))
    }

    async fn import_identity(&self, ctx: &Ctx, identity: &Value) -> ImportResponse {
        let mut diags = Diagnostics::new();
        for (name, _) in R::IDENTITY.iter().filter(|(_, required)| *required) {
            if identity.get(name).is_null() {
                diags.push(
                    Diagnostic::error(
                        "Missing identity attribute",
                        format!("Importing {} by identity needs `{name}`.", R::TYPE_NAME),
                    )
                    .at(AttributePath::root(name)),
                );
            }
        }
        if diags.has_errors() || R::IDENTITY.is_empty() {
            if R::IDENTITY.is_empty() {
                diags.error(
                    "Import by identity not supported",
                    format!(
                        "{} has no resource identity; use an import ID.",
                        R::TYPE_NAME
                    ),
                );
            }
            return ImportResponse {
                states: Vec::new(),
                diags,
            };
        }
        // The same model as `terraform import` with the equivalent ID.
        self.import(ctx, &R::identity_import_id(identity)).await
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> ImportResponse {
        let imported = async {
            R::check_import_id(id)?;
            let db = self.connect(ctx).await?;
            let mut op = Op {
                ctx,
                db: &*db,
                warnings: Diagnostics::new(),
            };
            let models = self.res.import(&mut op, id).await?;
            let states = models
                .iter()
                .map(|m| self.state(m))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, Diagnostics>((states, op.warnings))
        };
        match imported.await {
            Ok((states, diags)) => ImportResponse { states, diags },
            Err(diags) => ImportResponse {
                states: Vec::new(),
                diags,
            },
        }
    }
}

/// For resource tests: a model's identity, read off its state as the adapter does, names the
/// same import ID as the model's `id` (so import by identity and by ID agree).
#[cfg(test)]
pub fn assert_identity_names_the_id<R: ManagedResource>(m: &R::Model) {
    let schema = R::schema();
    let mut state = to_value(m, &schema.implied_type()).expect("model encodes");
    state.set_attr("id", Value::string(R::id(m)));
    let identity = IdentitySchema::of_state_attributes(&schema, R::IDENTITY).project(&state);
    assert!(!identity.is_null(), "{}: no identity", R::TYPE_NAME);
    assert_eq!(
        R::identity_import_id(&identity),
        R::id(m),
        "{}",
        R::TYPE_NAME
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_fields_use_the_import_id_codec() {
        let one = Value::object([("name", Value::string("a|b,c%"))]);
        assert_eq!(identity_fields(&[("name", true)], &one), "a|b,c%");
        let many = Value::object([
            ("role", Value::string("x|y")),
            ("schema", Value::Null),
            (
                "objects",
                Value::List(vec![Value::string("t,1"), Value::string("t2")]),
            ),
        ]);
        let names = [("role", true), ("schema", false), ("objects", false)];
        assert_eq!(identity_fields(&names, &many), "x%7Cy||t%2C1,t2");
    }
}
