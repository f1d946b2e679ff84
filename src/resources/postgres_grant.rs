//! `resource "rdsiam_postgres_grant"`: privileges of one role on a database, a schema, or
//! tables / sequences / routines of a schema (listed, or every one). Additive by default: it
//! grants, and on removal revokes, only the privileges it manages, so several grant resources
//! on one object never fight. `authoritative = true` also revokes whatever else the role holds
//! on the same targets. Reads answer from a per-database catalog snapshot
//! ([`crate::pg::catalog`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize};
use tokio_postgres::error::SqlState;

use crate::pg::catalog::{Catalog, Object, Snapshot};
use crate::pg::ident::quote_ident;
use crate::pg::row::col;
use crate::pg::{Pg, PgError};
use crate::resources::import_id::{decode_field, join_fields, join_list, split_list};
use crate::resources::managed::{CreateError, ManagedResource, Op, Postgres};
use crate::resources::privileges::{
    Kind, Verb, check_server_has, flag, key, major, name_key, object_type, privileges_attr,
    revokes, statement, unknown_object_type,
};
use crate::tfplugin::{
    Attribute, AttributePath, Block, Diagnostic, Diagnostics, Maybe, Schema, Type, Validator,
    Value, from_value, to_value,
};
use crate::validators::pg_name;

#[derive(Default)]
pub struct PostgresGrant {
    /// Shared by every instance of the resource in this provider process.
    catalog: Catalog,
}

impl PostgresGrant {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The grantee name meaning PUBLIC (a role cannot be called `public`).
const PUBLIC: &str = "public";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ObjectType {
    Database,
    Schema,
    Table,
    Sequence,
    Function,
    Procedure,
    Routine,
}

/// In declaration order: [`ObjectType::name`] indexes it.
const OBJECT_TYPES: [&str; 7] = [
    "database",
    "schema",
    "table",
    "sequence",
    "function",
    "procedure",
    "routine",
];

impl ObjectType {
    fn parse(s: &str) -> Option<ObjectType> {
        from_value(&Value::string(s)).ok()
    }

    /// As written in configurations and import IDs (serde's name).
    fn name(self) -> &'static str {
        OBJECT_TYPES[self as usize]
    }

    /// The privilege vocabulary of the type.
    fn kind(self) -> Kind {
        match self {
            ObjectType::Database => Kind::Database,
            ObjectType::Schema => Kind::Schema,
            ObjectType::Table => Kind::Table,
            ObjectType::Sequence => Kind::Sequence,
            _ => Kind::Routine,
        }
    }

    /// Catalog kinds that count as this type: relkind or prokind.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            ObjectType::Table => &["r", "v", "m", "f", "p"],
            ObjectType::Sequence => &["S"],
            // ALL FUNCTIONS covers aggregates and window functions, not procedures.
            ObjectType::Function => &["f", "a", "w"],
            ObjectType::Procedure => &["p"],
            ObjectType::Routine => &["f", "a", "w", "p"],
            _ => &[],
        }
    }

    fn is_routine(self) -> bool {
        matches!(
            self,
            ObjectType::Function | ObjectType::Procedure | ObjectType::Routine
        )
    }

    /// `ALL … IN SCHEMA` keyword.
    fn plural(self) -> &'static str {
        match self {
            ObjectType::Table => "TABLES",
            ObjectType::Sequence => "SEQUENCES",
            ObjectType::Function => "FUNCTIONS",
            ObjectType::Procedure => "PROCEDURES",
            _ => "ROUTINES",
        }
    }
}

/// The resource's desired or recorded state; `id` comes from [`GrantSpec::id`]. The
/// attributes outside the id are [`Maybe`]s so a plan where they are not known yet still
/// decodes and shows the id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantSpec {
    role: String,
    database: String,
    object_type: ObjectType,
    schema: Option<String>,
    /// None or empty: every object of the type in the schema.
    objects: Option<Vec<String>>,
    #[serde(default, deserialize_with = "whole_set")]
    privileges: Maybe<BTreeSet<String>>,
    #[serde(default)]
    with_grant_option: Maybe<bool>,
    #[serde(default)]
    authoritative: Maybe<bool>,
}

/// A set with an unknown element (`[var.x]` at plan time) is not known as a whole.
fn whole_set<'de, D: Deserializer<'de>>(d: D) -> Result<Maybe<BTreeSet<String>>, D::Error> {
    Ok(match Maybe::<Vec<Maybe<String>>>::deserialize(d)? {
        Maybe::Known(v) => v
            .into_iter()
            .map(|p| match p {
                Maybe::Known(p) => Some(p),
                _ => None,
            })
            .collect::<Option<BTreeSet<String>>>()
            .map_or(Maybe::Unknown, Maybe::Known),
        Maybe::Null => Maybe::Null,
        Maybe::Unknown => Maybe::Unknown,
    })
}

static NO_PRIVILEGES: BTreeSet<String> = BTreeSet::new();

impl GrantSpec {
    fn privileges(&self) -> &BTreeSet<String> {
        self.privileges.known().unwrap_or(&NO_PRIVILEGES)
    }

    fn grant_option(&self) -> bool {
        self.with_grant_option.known() == Some(&true)
    }

    fn is_authoritative(&self) -> bool {
        self.authoritative.known() == Some(&true)
    }

    fn schema_name(&self) -> &str {
        self.schema.as_deref().unwrap_or_default()
    }

    /// The listed objects; empty means every object of the type.
    fn listed(&self) -> &[String] {
        self.objects.as_deref().unwrap_or_default()
    }

    fn id(&self) -> String {
        let fields = [
            &self.role,
            &self.database,
            self.object_type.name(),
            self.schema_name(),
        ];
        format!("{}|{}", join_fields(&fields), join_list(self.listed()))
    }

    /// The managed privileges with `ALL` expanded for the server.
    fn managed(&self, version: i32) -> BTreeSet<String> {
        self.object_type
            .kind()
            .expand(self.privileges(), major(version))
    }

    fn grantee_sql(&self) -> String {
        if self.role == PUBLIC {
            "PUBLIC".to_string()
        } else {
            quote_ident(&self.role)
        }
    }

    fn grantee(&self) -> Option<&str> {
        (self.role != PUBLIC).then_some(self.role.as_str())
    }
}

const ID_FORMAT: &str = "role|database|object_type|schema|objects[|privileges[|options]]: \
     lists comma-separated, `%`, `|`, `,` and control characters percent-encoded (`%25`, `%7C`, \
     `%2C`); empty schema for database and schema-less grants, empty objects for every object; \
     privileges omitted = what the role holds now; options: `authoritative`";

/// What an import ID says; privileges not given = take what the role holds.
struct ImportId {
    spec: GrantSpec,
    privileges_given: bool,
}

fn parse_import_id(id: &str) -> Result<ImportId, String> {
    let fields: Vec<&str> = id.split('|').collect();
    if !(5..=7).contains(&fields.len()) {
        return Err(format!(
            "expected 5 to 7 `|`-separated fields, found {}",
            fields.len()
        ));
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let ty = decode_field(field(2))?;
    let object_type =
        ObjectType::parse(&ty).ok_or_else(|| unknown_object_type(&ty, &OBJECT_TYPES))?;
    let schema = decode_field(field(3))?;
    let objects = split_list(field(4))?;
    let privileges: BTreeSet<String> = split_list(field(5))?.into_iter().collect();
    let mut authoritative = false;
    for o in split_list(field(6))? {
        match o.as_str() {
            "authoritative" => authoritative = true,
            other => return Err(format!("unknown option {other:?} (known: authoritative)")),
        }
    }
    Ok(ImportId {
        privileges_given: !privileges.is_empty(),
        spec: GrantSpec {
            role: decode_field(field(0))?,
            database: decode_field(field(1))?,
            object_type,
            schema: (!schema.is_empty()).then_some(schema),
            objects: (!objects.is_empty()).then_some(objects),
            privileges: Maybe::Known(privileges),
            with_grant_option: Maybe::Known(false),
            authoritative: Maybe::Known(authoritative),
        },
    })
}

/// Parses the ID and checks it as the configuration it stands for, before anything connects.
fn checked_import_id(id: &str) -> Result<ImportId, Diagnostics> {
    let invalid = |text: String| -> Diagnostics {
        Diagnostic::error(
            "Invalid import ID",
            format!("{id:?}: {text}\n\nFormat: {ID_FORMAT}."),
        )
        .into()
    };
    let parsed = parse_import_id(id).map_err(|e| invalid(format!("{e}.")))?;
    let mut config = parsed.spec.clone();
    if !parsed.privileges_given {
        config.privileges = Maybe::Known(["ALL".to_string()].into());
    }
    let schema = PostgresGrant::schema();
    let config = to_value(&config, &schema.implied_type()).map_err(|e| invalid(e.to_string()))?;
    let mut checks = schema.validate(&config);
    checks.extend(PostgresGrant::validate(&config));
    if checks.has_errors() {
        let text = checks
            .0
            .iter()
            .map(|d| format!("{}: {}", d.summary, d.detail))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(invalid(text));
    }
    Ok(parsed)
}

// ---- reading: what the catalog says, kept to what the resource manages ----

/// Privileges (with grant option) the role holds on each target; None when the container
/// (the database or the schema) is gone, which means the grant is gone too.
fn held(snap: &Snapshot, spec: &GrantSpec) -> Option<Vec<BTreeMap<String, bool>>> {
    let grantee = spec.grantee();
    let one = |o: &Object| vec![o.privileges_of(grantee)];
    match spec.object_type {
        ObjectType::Database => snap.databases.get(&spec.database).map(one),
        ObjectType::Schema => snap.schemas.get(spec.schema_name()).map(one),
        ty => {
            let schema = spec.schema_name();
            snap.schemas.get(schema)?;
            let pool = if ty.is_routine() {
                snap.routines.get(schema)
            } else {
                snap.relations.get(schema)
            };
            let of_type: Vec<&Object> = pool
                .into_iter()
                .flatten()
                .filter(|o| ty.kinds().contains(&o.sub.as_str()))
                .collect();
            let listed = spec.listed();
            if listed.is_empty() {
                return Some(of_type.iter().map(|o| o.privileges_of(grantee)).collect());
            }
            let mut out = Vec::new();
            for name in listed {
                let matching: Vec<&&Object> = of_type.iter().filter(|o| &o.name == name).collect();
                if matching.is_empty() {
                    // A listed object that does not exist holds nothing: drift, and the
                    // repairing GRANT names the missing object in its error.
                    out.push(BTreeMap::new());
                }
                // Every overload of a routine name counts.
                out.extend(matching.iter().map(|o| o.privileges_of(grantee)));
            }
            Some(out)
        }
    }
}

/// The state as the database sees it. Additive: only managed privileges count, and one counts
/// as held only where every target holds it (new objects lacking it are drift). Authoritative:
/// anything else the role holds on a target shows up too, so the plan revokes it.
fn observed(spec: &GrantSpec, held: &[BTreeMap<String, bool>], version: i32) -> GrantSpec {
    let managed = spec.managed(version);
    let on_all: BTreeSet<String> = managed
        .iter()
        .filter(|p| held.iter().all(|h| h.contains_key(*p)))
        .cloned()
        .collect();
    let mut extra = BTreeSet::new();
    let mut extra_grant_option = false;
    if spec.is_authoritative() {
        for h in held {
            for (p, grantable) in h {
                if !managed.contains(p) {
                    extra.insert(p.clone());
                } else if *grantable {
                    extra_grant_option = true;
                }
            }
        }
    }
    let privileges = if on_all == managed && extra.is_empty() {
        spec.privileges().clone() // keeps `ALL` as written
    } else {
        on_all.union(&extra).cloned().collect()
    };
    let with_grant_option = if spec.grant_option() {
        let managed_held = |h: &BTreeMap<String, bool>| {
            h.iter()
                .filter(|(p, _)| managed.contains(*p))
                .all(|(_, g)| *g)
        };
        held.iter().all(managed_held)
    } else {
        extra_grant_option
    };
    GrantSpec {
        privileges: Maybe::Known(privileges),
        with_grant_option: Maybe::Known(with_grant_option),
        authoritative: Maybe::Known(spec.is_authoritative()),
        ..spec.clone()
    }
}

// ---- writing ----

/// `DATABASE "d"`, `ALL TABLES IN SCHEMA "s"`, `TABLE "s"."a", "s"."b"`,
/// `ROUTINE "s"."f"(integer, text)`. `signatures` are the listed routines' overloads.
fn target_sql(spec: &GrantSpec, signatures: &[(String, String)]) -> String {
    let schema = spec.schema_name();
    let listed = spec.listed();
    match spec.object_type {
        ObjectType::Database => format!("DATABASE {}", quote_ident(&spec.database)),
        ObjectType::Schema => format!("SCHEMA {}", quote_ident(schema)),
        ty if listed.is_empty() => {
            format!("ALL {} IN SCHEMA {}", ty.plural(), quote_ident(schema))
        }
        ty if ty.is_routine() => format!(
            // ROUTINE names functions, aggregates and procedures alike.
            "ROUTINE {}",
            signatures
                .iter()
                .map(|(name, args)| format!(
                    "{}.{}({args})",
                    quote_ident(schema),
                    quote_ident(name)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ty => format!(
            "{} {}",
            if ty == ObjectType::Sequence {
                "SEQUENCE"
            } else {
                "TABLE"
            },
            listed
                .iter()
                .map(|o| format!("{}.{}", quote_ident(schema), quote_ident(o)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `ALL PRIVILEGES` or a list of known privilege keywords (never free text).
fn privileges_sql(ty: ObjectType, privileges: &BTreeSet<String>) -> Option<String> {
    if privileges.contains("ALL") {
        return Some("ALL PRIVILEGES".into());
    }
    let known = ty.kind().known().iter().copied();
    let known: Vec<&str> = known.filter(|p| privileges.contains(*p)).collect();
    (!known.is_empty()).then(|| known.join(", "))
}

fn grant_sql(spec: &GrantSpec, target: &str) -> Option<String> {
    let p = privileges_sql(spec.object_type, spec.privileges())?;
    Some(statement(
        Verb::Grant,
        &p,
        target,
        &spec.grantee_sql(),
        spec.grant_option(),
    ))
}

fn revoke_all_sql(spec: &GrantSpec, target: &str) -> String {
    statement(
        Verb::Revoke,
        "ALL PRIVILEGES",
        target,
        &spec.grantee_sql(),
        false,
    )
}

fn create_sql(spec: &GrantSpec, target: &str) -> Vec<String> {
    let revoke_all = spec
        .is_authoritative()
        .then(|| revoke_all_sql(spec, target));
    revoke_all
        .into_iter()
        .chain(grant_sql(spec, target))
        .collect()
}

/// From `prior` (as the last read saw it) to `to`. The GRANT is always repeated: it is
/// idempotent and repairs objects that lost a privilege.
fn update_sql(prior: &GrantSpec, to: &GrantSpec, target: &str, version: i32) -> Vec<String> {
    if to.is_authoritative() {
        return create_sql(to, target);
    }
    let (old, new) = (prior.managed(version), to.managed(version));
    let revokes = revokes(&old, prior.grant_option(), &new, to.grant_option());
    let revokes = revokes.iter().filter_map(|(verb, p)| {
        let p = privileges_sql(to.object_type, p)?;
        Some(statement(*verb, &p, target, &to.grantee_sql(), false))
    });
    revokes.chain(grant_sql(to, target)).collect()
}

fn delete_sql(spec: &GrantSpec, target: &str) -> Vec<String> {
    if spec.is_authoritative() {
        return vec![revoke_all_sql(spec, target)];
    }
    let p = privileges_sql(spec.object_type, spec.privileges());
    let revoke = |p: String| statement(Verb::Revoke, &p, target, &spec.grantee_sql(), false);
    p.map(revoke).into_iter().collect()
}

const SIGNATURES: &str = "SELECT p.proname::text, oidvectortypes(p.proargtypes) \
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
     WHERE n.nspname = $1 AND p.proname = ANY($2) AND p.prokind::text = ANY($3) \
     ORDER BY 1, 2";

/// The overloads of the listed routine names that exist.
async fn overloads(pg: &Pg, spec: &GrantSpec) -> Result<Vec<(String, String)>, PgError> {
    let kinds: Vec<String> = spec
        .object_type
        .kinds()
        .iter()
        .map(|k| k.to_string())
        .collect();
    let rows = pg
        .query(
            Some(&spec.database),
            SIGNATURES,
            &[&spec.schema_name(), &spec.listed(), &kinds],
        )
        .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// Every overload of the listed routine names; an error names any that does not exist.
async fn signatures(pg: &Pg, spec: &GrantSpec) -> Result<Vec<(String, String)>, PgError> {
    let ty = spec.object_type;
    if !ty.is_routine() || spec.listed().is_empty() {
        return Ok(Vec::new());
    }
    let out = overloads(pg, spec).await?;
    if let Some(missing) = spec
        .listed()
        .iter()
        .find(|n| !out.iter().any(|(o, _)| o == *n))
    {
        return Err(PgError {
            message: format!(
                "no {} named {:?} in schema {:?}",
                ty.name(),
                missing,
                spec.schema_name()
            ),
            code: Some(SqlState::UNDEFINED_FUNCTION.code().to_string()),
        });
    }
    Ok(out)
}

/// The grant's object or role is gone: nothing left to revoke.
fn target_missing(e: &PgError) -> bool {
    e.database_missing()
        || [
            SqlState::UNDEFINED_TABLE,
            SqlState::UNDEFINED_FUNCTION,
            SqlState::INVALID_SCHEMA_NAME,
            SqlState::UNDEFINED_OBJECT,
            SqlState::UNDEFINED_DATABASE,
        ]
        .iter()
        .any(|s| e.is(s))
}

fn write_error(action: &str, spec: &GrantSpec, e: &PgError) -> Diagnostics {
    // Name the objects too: a lock timeout or a missing object is about one of them.
    let target = match (&spec.schema, spec.objects.as_deref()) {
        (Some(schema), Some(objects)) if !objects.is_empty() => {
            let names: Vec<String> = objects.iter().map(|o| format!("{schema}.{o}")).collect();
            format!(" {}", names.join(", "))
        }
        (Some(schema), _) if spec.object_type != ObjectType::Schema => {
            format!(" (all in schema {schema})")
        }
        (Some(schema), _) => format!(" {schema}"),
        (None, _) => String::new(),
    };
    let privileges = spec
        .privileges()
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let (ty, database, role) = (spec.object_type.name(), &spec.database, &spec.role);
    let mut detail = format!(
        "{action} of {privileges} on {ty}{target} in database {database:?} for {role:?} failed: {e}"
    );
    if e.is(&SqlState::INSUFFICIENT_PRIVILEGE) {
        detail.push_str(
            "\n\nThe provider's login role may grant a privilege only on objects it owns (or \
             whose owning role it is a member of), or where it holds the privilege WITH GRANT \
             OPTION. Create the objects as that role (or a role it belongs to), or have their \
             owner grant it the privileges WITH GRANT OPTION.",
        );
    } else if e.is(&SqlState::UNDEFINED_OBJECT) {
        detail.push_str("\n\nThe role does not exist (names are case-sensitive).");
    } else if e.is(&SqlState::DEPENDENT_PRIVILEGE_DESCRIPTORS_STILL_EXIST) {
        detail.push_str(
            "\n\nThe role passed these privileges on WITH GRANT OPTION; revoke those grants \
             first (the provider never revokes with CASCADE).",
        );
    }
    Diagnostic::error(format!("Cannot {action} PostgreSQL privileges"), detail).into()
}

// ---- validation: one attribute in the schema, across attributes in `validate` ----

fn not_upper_public() -> Validator {
    Validator::string(|s| match s {
        "PUBLIC" => Err(
            "write PUBLIC as \"public\" (a role named \"PUBLIC\" is refused to avoid confusion)"
                .into(),
        ),
        _ => Ok(()),
    })
}

fn all_alone() -> Validator {
    Validator::new(|v| {
        let names = v.as_list().unwrap_or_default();
        if names.len() > 1 && names.iter().any(|p| p.as_str() == Some("ALL")) {
            Err("ALL already means every privilege; list it alone".into())
        } else {
            Ok(())
        }
    })
}

/// The checks that depend on `object_type`, and the non-empty privileges (not a schema
/// validator: a state read back after drift may hold none, and must still refresh).
fn check_across(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let privileges = config.get("privileges");
    if privileges.as_list().is_some_and(<[Value]>::is_empty) {
        d.error_at(
            AttributePath::root("privileges"),
            "Invalid privileges",
            "at least one privilege (or ALL) is required",
        );
    }
    let Some(ty) = config
        .get("object_type")
        .as_str()
        .and_then(ObjectType::parse)
    else {
        return d;
    };
    let given = |n: &str| {
        let v = config.get(n);
        !v.is_null() && !v.is_unknown()
    };
    match ty {
        ObjectType::Database => {
            for n in ["schema", "objects"].into_iter().filter(|n| given(n)) {
                d.error_at(
                    AttributePath::root(n),
                    format!("Unexpected {n}"),
                    format!(
                        "object_type = \"database\" grants on the database named in `database`; remove {n}."
                    ),
                );
            }
        }
        _ => {
            if config.get("schema").is_null() {
                d.error_at(
                    AttributePath::root("schema"),
                    "Missing schema",
                    "schema is required here",
                );
            }
            if ty == ObjectType::Schema && given("objects") {
                d.error_at(
                    AttributePath::root("objects"),
                    "Unexpected objects",
                    "object_type = \"schema\" grants on the schema named in `schema`; remove objects (one resource per schema).",
                );
            }
        }
    }
    let known = ty.kind().known();
    let names = privileges.as_list().unwrap_or_default();
    for p in names
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| *p != "ALL")
    {
        if !known.contains(&p) {
            let hint = if known.contains(&p.to_ascii_uppercase().as_str()) {
                " Privileges are written in upper case."
            } else if p.eq_ignore_ascii_case("TEMP") {
                " Write TEMPORARY."
            } else {
                ""
            };
            d.error_at(
                AttributePath::root("privileges"),
                "Invalid privileges",
                format!(
                    "{p:?} is not a privilege on a {}: use {} or ALL.{hint}",
                    ty.name(),
                    known.join(", ")
                ),
            );
        }
    }
    d
}

// ---- the resource ----

impl PostgresGrant {
    /// Runs `sql` in the grant's database and forgets the database's snapshot.
    async fn write(&self, pg: &Pg, database: &str, sql: &[String]) -> Result<(), PgError> {
        if sql.is_empty() {
            return Ok(());
        }
        let res = pg.write(Some(database), sql).await;
        self.catalog.invalidate(database);
        res
    }

    async fn apply(
        &self,
        pg: &Pg,
        prior: Option<&GrantSpec>,
        spec: &GrantSpec,
    ) -> Result<(), Diagnostics> {
        let action = if prior.is_some() { "update" } else { "grant" };
        let fail = |e: &PgError| write_error(action, spec, e);
        let sigs = signatures(pg, spec).await.map_err(|e| fail(&e))?;
        let target = target_sql(spec, &sigs);
        let sql = match prior {
            None => create_sql(spec, &target),
            Some(prior) => {
                let version = self
                    .catalog
                    .server_version(pg, &spec.database)
                    .await
                    .map_err(|e| fail(&e))?;
                update_sql(prior, spec, &target, version)
            }
        };
        self.write(pg, &spec.database, &sql)
            .await
            .map_err(|e| fail(&e))
    }

    /// Destroy after a REVOKE failed on a missing object: revoke on the listed objects that
    /// still exist; nothing left means nothing to do.
    async fn delete_remaining(&self, pg: &Pg, spec: &GrantSpec) -> Result<(), Diagnostics> {
        let fail = |e: &PgError| write_error("revoke", spec, e);
        let snap = match self.catalog.snapshot(pg, &spec.database).await {
            Ok(s) => s,
            Err(e) if e.database_missing() => return Ok(()),
            Err(e) => return Err(fail(&e)),
        };
        if held(&snap, spec).is_none() || spec.listed().is_empty() || spec.object_type.is_routine()
        {
            return Ok(());
        }
        let relations = snap.relations.get(spec.schema_name());
        let kinds = spec.object_type.kinds();
        let exists = |n: &&String| {
            let mut pool = relations.into_iter().flatten();
            pool.any(|o| &o.name == *n && kinds.contains(&o.sub.as_str()))
        };
        let existing: Vec<String> = spec.listed().iter().filter(exists).cloned().collect();
        if existing.is_empty() {
            return Ok(());
        }
        let narrowed = GrantSpec {
            objects: Some(existing),
            ..spec.clone()
        };
        let sql = delete_sql(&narrowed, &target_sql(&narrowed, &[]));
        match self.write(pg, &spec.database, &sql).await {
            // UNDEFINED_OBJECT: the role itself is gone, and its privileges with it.
            Err(e) if !e.is(&SqlState::UNDEFINED_OBJECT) => Err(fail(&e)),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl ManagedResource for PostgresGrant {
    type Engine = Postgres;
    type Model = GrantSpec;
    const TYPE_NAME: &'static str = "rdsiam_postgres_grant";
    const PLAN_NEEDS_DB: bool = true;

    async fn check_plan(
        &self,
        op: &mut Op<'_, Pg>,
        planned: &GrantSpec,
    ) -> Result<(), Diagnostics> {
        let privileges: Vec<&String> = planned.privileges().iter().collect();
        check_server_has(op.db, planned.object_type.kind(), &privileges).await
    }

    fn schema() -> Schema {
        Schema::new(
            Block::new(
                "Privileges of one role on a database, a schema, or tables / sequences / \
                 functions / procedures / routines of a schema. **Additive** by default: grants, \
                 and on removal or destroy revokes, only the privileges listed here, so several \
                 grant resources on one object never fight; drift is reported only for those \
                 privileges. With `objects` omitted the grant covers every object of the type \
                 in the schema (`GRANT … ON ALL TABLES IN SCHEMA`), and an object that lacks a \
                 privilege — including one created later — shows as drift, repaired by the \
                 next apply (use `rdsiam_postgres_default_privileges` for future objects). An \
                 owner's implicit privileges count as held.\n\nImport ID: \
                 `role|database|object_type|schema|objects[|privileges[|options]]`, lists \
                 comma-separated, `%`, `|` and `,` percent-encoded; options: `authoritative`.",
            )
            .attr(
                Attribute::string("id")
                    .computed()
                    .description("`role|database|object_type|schema|objects`, percent-encoded as in the import ID."),
            )
            .attr(
                name_key("role")
                    .validate(not_upper_public())
                    .description("The grantee, kept exactly (case, dots, `@`, quotes); `public` means PUBLIC."),
            )
            .attr(
                name_key("database")
                    .description("The database the objects live in (for `object_type = \"database\"`, the database granted on)."),
            )
            .attr(
                key("object_type")
                    .validate(object_type(&OBJECT_TYPES))
                    .description("`database`, `schema`, `table` (tables, views, materialized views, foreign and partitioned tables), `sequence`, `function` (with aggregates), `procedure` or `routine` (all three)."),
            )
            .attr(
                Attribute::string("schema")
                    .optional()
                    .requires_replace()
                    .validate(pg_name())
                    .description("The schema: the object granted on for `object_type = \"schema\"`, the objects' schema otherwise; not allowed for `database`."),
            )
            .attr(
                Attribute::list_of("objects", Type::String)
                    .optional()
                    .requires_replace()
                    .each(pg_name().summary("Invalid object name"))
                    .description("Object names in `schema`; omitted (or empty) = every object of the type. A function name covers all its overloads. Not allowed for `database` and `schema`."),
            )
            .attr(
                privileges_attr()
                    .validate(all_alone())
                    .description("Upper-case privileges valid for the object type, or `ALL` alone (compared as every privilege the server knows for the type: PostgreSQL 17 adds `MAINTAIN` on tables). Changed in place."),
            )
            .attr(
                flag("with_grant_option")
                    .description("Grant WITH GRANT OPTION (default `false`). Changed in place."),
            )
            .attr(
                flag("authoritative")
                    .description("Also revoke every other privilege the role holds on the same targets, now and on destroy (default `false`). Only one resource per role and target should be authoritative. Changed in place."),
            ),
        )
    }

    fn validate(config: &Value) -> Diagnostics {
        check_across(config)
    }

    fn id(spec: &GrantSpec) -> String {
        spec.id()
    }

    async fn read(
        &self,
        op: &mut Op<'_, Pg>,
        recorded: GrantSpec,
    ) -> Result<Option<GrantSpec>, Diagnostics> {
        let snap = match self.catalog.snapshot(op.db, &recorded.database).await {
            Ok(s) => s,
            // The database is gone, and the grant with it: Terraform plans to create it.
            Err(e) if e.database_missing() => return Ok(None),
            Err(e) => {
                return Err(Diagnostic::error(
                    "Cannot read PostgreSQL privileges",
                    format!("Reading the catalog of {:?} failed: {e}", recorded.database),
                )
                .into());
            }
        };
        Ok(held(&snap, &recorded).map(|h| observed(&recorded, &h, snap.version)))
    }

    async fn create(&self, op: &mut Op<'_, Pg>, spec: GrantSpec) -> Result<GrantSpec, CreateError> {
        // GRANT is idempotent: a failed create leaves no state and the next apply repeats it.
        self.apply(op.db, None, &spec).await?;
        Ok(spec)
    }

    async fn update(
        &self,
        op: &mut Op<'_, Pg>,
        prior: GrantSpec,
        spec: GrantSpec,
    ) -> Result<GrantSpec, Diagnostics> {
        self.apply(op.db, Some(&prior), &spec).await?;
        Ok(spec)
    }

    async fn delete(&self, op: &mut Op<'_, Pg>, spec: GrantSpec) -> Result<(), Diagnostics> {
        let pg = op.db;
        let fail = |e: &PgError| write_error("revoke", &spec, e);
        let sigs = match signatures(pg, &spec).await {
            Ok(s) => s,
            // Some listed routines are gone: revoke on those that remain.
            Err(e) if target_missing(&e) => match overloads(pg, &spec).await {
                Ok(s) if s.is_empty() => return Ok(()),
                Ok(s) => s,
                Err(e) if target_missing(&e) => return Ok(()),
                Err(e) => return Err(fail(&e)),
            },
            Err(e) => return Err(fail(&e)),
        };
        let target = target_sql(&spec, &sigs);
        match self
            .write(pg, &spec.database, &delete_sql(&spec, &target))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if target_missing(&e) => self.delete_remaining(pg, &spec).await,
            Err(e) => Err(fail(&e)),
        }
    }

    fn check_import_id(id: &str) -> Result<(), Diagnostics> {
        checked_import_id(id).map(drop)
    }

    async fn import(&self, op: &mut Op<'_, Pg>, id: &str) -> Result<Vec<GrantSpec>, Diagnostics> {
        let ImportId {
            mut spec,
            privileges_given,
        } = checked_import_id(id)?;
        let fail = |detail: String| -> Diagnostics {
            Diagnostic::error("Cannot import PostgreSQL privileges", detail).into()
        };
        let snap = self
            .catalog
            .snapshot(op.db, &spec.database)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let Some(h) = held(&snap, &spec) else {
            let (what, name) = match spec.object_type {
                ObjectType::Database => ("database", spec.database.as_str()),
                _ => ("schema", spec.schema_name()),
            };
            return Err(fail(format!("The {what} {name:?} does not exist.")));
        };
        if !privileges_given {
            // What every target holds, as explicit names.
            let all = spec.object_type.kind().all(major(snap.version));
            let held_on_all: BTreeSet<String> = all
                .into_iter()
                .filter(|p| h.iter().all(|x| x.contains_key(*p)))
                .map(str::to_string)
                .collect();
            if held_on_all.is_empty() {
                return Err(fail(format!(
                    "{:?} holds no privilege on every target of {id:?}.",
                    spec.role
                )));
            }
            spec.privileges = Maybe::Known(held_on_all);
        }
        let managed = spec.managed(snap.version);
        spec.with_grant_option = Maybe::Known(
            !h.is_empty()
                && h.iter()
                    .all(|x| managed.iter().all(|p| x.get(p) == Some(&true))),
        );
        Ok(vec![observed(&spec, &h, snap.version)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::privileges::test_support::{config, paths, set};

    const ROLE: &str = "\"mario.rossi@example.com\"";

    fn spec(ty: ObjectType, privileges: &[&str]) -> GrantSpec {
        GrantSpec {
            role: "mario.rossi@example.com".into(),
            database: "myapp".into(),
            object_type: ty,
            schema: Some("public".into()),
            objects: None,
            privileges: Maybe::Known(set(privileges)),
            with_grant_option: Maybe::Known(false),
            authoritative: Maybe::Known(false),
        }
    }

    fn held_map(items: &[(&str, bool)]) -> BTreeMap<String, bool> {
        items.iter().map(|(p, g)| (p.to_string(), *g)).collect()
    }

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn model_round_trips_and_plans_keep_the_id() {
        for name in OBJECT_TYPES {
            assert_eq!(ObjectType::parse(name).map(ObjectType::name), Some(name));
        }
        let ty = PostgresGrant::schema().implied_type();
        let mut s = spec(ObjectType::Sequence, &["USAGE", "SELECT"]);
        s.objects = Some(vec!["s1".into()]);
        let v = ok(to_value(&s, &ty));
        assert_eq!(v.get("object_type"), &Value::string("sequence"));
        assert!(matches!(v.get("privileges"), Value::Set(_)));
        assert_eq!(from_value::<GrantSpec>(&v).as_ref(), Ok(&s));
        // Unknown privileges and flags at plan time: the model (and so the id) still decodes.
        let mut planned = v.clone();
        let privileges = Value::Set(vec![Value::string("USAGE"), Value::Unknown]);
        planned.set_attr("privileges", privileges);
        planned.set_attr("authoritative", Value::Unknown);
        let p: GrantSpec = ok(from_value(&planned));
        assert!(p.privileges.is_unknown() && p.authoritative.is_unknown());
        assert_eq!(PostgresGrant::id(&p), s.id());
        // An unknown identifying attribute leaves the id unknown.
        planned.set_attr("schema", Value::Unknown);
        assert!(from_value::<GrantSpec>(&planned).is_err());
    }

    #[test]
    fn import_id_round_trips_nasty_names() {
        for role in [
            "mario.rossi@example.com",
            "a\"b",
            "Mixed.Case",
            "x|y,z%2C",
            "a/b_c",
        ] {
            let mut s = spec(ObjectType::Function, &["EXECUTE"]);
            s.role = role.into();
            s.database = "My DB/1".into();
            s.schema = Some("Sch.e\"ma|".into());
            s.objects = Some(vec!["f,1".into(), "G%".into(), "tab\tle".into()]);
            let id = format!("{}|{}", s.id(), join_list(&["EXECUTE".to_string()]));
            let parsed = parse_import_id(&id).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(parsed.privileges_given);
            assert_eq!(parsed.spec, s, "{id}");
        }
        let mut s = spec(ObjectType::Table, &["SELECT"]);
        assert_eq!(s.id(), "mario.rossi@example.com|myapp|table|public|");
        s.objects = Some(vec!["a,b".into(), "c".into()]);
        assert_eq!(s.id(), "mario.rossi@example.com|myapp|table|public|a%2Cb,c");
        let p = ok(parse_import_id("r|d|database|||ALL|authoritative"));
        assert!(p.spec.is_authoritative() && p.spec.schema.is_none() && p.spec.objects.is_none());
        assert!(!ok(parse_import_id("r|d|table|s||")).privileges_given);
        let bad = [
            "r|d|table",
            "r|d|nope|s|",
            "r|d|table|s|%zz",
            "r|d|table|s||SELECT|bogus",
        ];
        for bad in bad {
            assert!(parse_import_id(bad).is_err(), "{bad}");
        }
        // Checked like a configuration before anything connects.
        assert!(checked_import_id("r|d|table|s||").is_ok());
        for bad in [
            "r|d|table|||SELECT",
            "PUBLIC|d|schema|s||USAGE",
            "r|d|table|s||select",
        ] {
            let d = checked_import_id(bad).err().unwrap_or_default();
            let invalid = d.0.iter().any(|d| d.summary == "Invalid import ID");
            assert!(invalid, "{bad}: {d:?}");
        }
    }

    #[test]
    fn sql_is_quoted() {
        let mut s = spec(ObjectType::Table, &["SELECT", "INSERT"]);
        s.role = "a\"b".into();
        let t = target_sql(&s, &[]);
        assert_eq!(t, "ALL TABLES IN SCHEMA \"public\"");
        let want = "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA \"public\" TO \"a\"\"b\"";
        assert_eq!(create_sql(&s, &t), vec![want]);
        s.objects = Some(vec!["T1".into(), "x\"; DROP TABLE y; --".into()]);
        let want = "TABLE \"public\".\"T1\", \"public\".\"x\"\"; DROP TABLE y; --\"";
        assert_eq!(target_sql(&s, &[]), want);
        let mut f = spec(ObjectType::Function, &["EXECUTE"]);
        f.objects = Some(vec!["f".into()]);
        let sigs = [("f", "integer, text"), ("f", "")].map(|(n, a)| (n.to_string(), a.to_string()));
        let want = "ROUTINE \"public\".\"f\"(integer, text), \"public\".\"f\"()";
        assert_eq!(target_sql(&f, &sigs), want);
        let mut d = spec(ObjectType::Database, &["CONNECT"]);
        d.role = PUBLIC.into();
        d.with_grant_option = Maybe::Known(true);
        let t = target_sql(&d, &[]);
        let want = "GRANT CONNECT ON DATABASE \"myapp\" TO PUBLIC WITH GRANT OPTION";
        assert_eq!(create_sql(&d, &t), vec![want]);
        d.authoritative = Maybe::Known(true);
        let want = "REVOKE ALL PRIVILEGES ON DATABASE \"myapp\" FROM PUBLIC";
        assert_eq!(delete_sql(&d, &t), vec![want]);
        // Free text in state never reaches SQL.
        let evil = spec(ObjectType::Table, &["SELECT; DROP TABLE x"]);
        assert!(create_sql(&evil, "TABLE t").is_empty());
    }

    #[test]
    fn update_revokes_only_what_is_dropped() {
        let from = spec(ObjectType::Table, &["ALL"]);
        let mut to = spec(ObjectType::Table, &["SELECT", "INSERT"]);
        let t = "TABLE x";
        let revoke = |p: &str| format!("REVOKE {p} ON TABLE x FROM {ROLE}");
        let grant = |p: &str| format!("GRANT {p} ON TABLE x TO {ROLE}");
        let want = [
            revoke("UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"),
            grant("SELECT, INSERT"),
        ];
        assert_eq!(update_sql(&from, &to, t, 150_000), want);
        assert!(update_sql(&from, &to, t, 170_000)[0].contains("TRIGGER, MAINTAIN ON"));
        let mut from = to.clone();
        from.with_grant_option = Maybe::Known(true);
        to.privileges = Maybe::Known(set(&["SELECT"]));
        let want = [
            revoke("INSERT"),
            revoke("GRANT OPTION FOR SELECT"),
            grant("SELECT"),
        ];
        assert_eq!(update_sql(&from, &to, t, 170_000), want);
        to.authoritative = Maybe::Known(true);
        let want = [revoke("ALL PRIVILEGES"), grant("SELECT")];
        assert_eq!(update_sql(&from, &to, t, 170_000), want);
    }

    #[test]
    fn read_is_additive_and_compares_all_as_its_expansion() {
        let s = spec(ObjectType::Table, &["SELECT"]);
        let rich = held_map(&[("SELECT", false), ("DELETE", false)]);
        // Unmanaged DELETE is not drift.
        assert_eq!(observed(&s, std::slice::from_ref(&rich), 170_000), s);
        // One table lacks SELECT: drift.
        let o = observed(&s, &[rich.clone(), held_map(&[])], 170_000);
        assert!(o.privileges().is_empty());
        // No tables at all: nothing lacks anything.
        assert_eq!(observed(&s, &[], 170_000), s);
        // Authoritative: the extra privilege shows, so the plan revokes it.
        let mut a = s.clone();
        a.authoritative = Maybe::Known(true);
        let o = observed(&a, &[rich], 170_000);
        assert_eq!(o.privileges(), &set(&["DELETE", "SELECT"]));
        // ALL: on 15 MAINTAIN is not part of it, on 17 it is.
        let all = spec(ObjectType::Table, &["ALL"]);
        let h: BTreeMap<String, bool> = Kind::Table
            .all(15)
            .into_iter()
            .map(|p| (p.to_string(), false))
            .collect();
        assert_eq!(observed(&all, std::slice::from_ref(&h), 150_000), all);
        let o = observed(&all, &[h], 170_000);
        assert!(!o.privileges().contains("ALL") && !o.privileges().contains("MAINTAIN"));
        // Grant option: reported lost when one target lacks it.
        let mut g = s.clone();
        g.with_grant_option = Maybe::Known(true);
        let h = [
            held_map(&[("SELECT", true)]),
            held_map(&[("SELECT", false)]),
        ];
        assert!(!observed(&g, &h, 170_000).grant_option());
        // A state that drifted to no privileges still passes the state checks.
        let schema = PostgresGrant::schema();
        let drifted = ok(to_value(
            &spec(ObjectType::Table, &[]),
            &schema.implied_type(),
        ));
        assert!(schema.validate(&drifted).is_empty());
    }

    #[test]
    fn validation_names_attributes() {
        let validate = |attrs: &[(&str, &str)], privileges: &[&str]| {
            let cfg = config(attrs, privileges);
            let mut d = PostgresGrant::schema().validate(&cfg);
            d.extend(PostgresGrant::validate(&cfg));
            d
        };
        let base = [("database", "myapp"), ("schema", "public")];
        let d = validate(
            &[("role", ""), base[0], ("object_type", "table")],
            &["select", "USAGE"],
        );
        assert_eq!(
            paths(&d),
            vec!["privileges", "privileges", "role", "schema"]
        );
        assert!(d.0.iter().any(|d| d.detail.contains("upper case")));
        let d = validate(
            &[
                ("role", "app"),
                base[0],
                base[1],
                ("object_type", "database"),
            ],
            &["ALL", "CONNECT"],
        );
        assert_eq!(paths(&d), vec!["privileges", "schema"]);
        let mut cfg = config(
            &[("role", "PUBLIC"), base[0], ("object_type", "tables")],
            &[],
        );
        cfg.set_attr("objects", Value::List(vec![Value::string("")]));
        let mut d = PostgresGrant::schema().validate(&cfg);
        d.extend(PostgresGrant::validate(&cfg));
        let summaries: BTreeSet<&str> = d.0.iter().map(|d| d.summary.as_str()).collect();
        let want = [
            "Invalid role",
            "Invalid object_type",
            "Invalid object name",
            "Invalid privileges",
        ];
        assert_eq!(summaries, BTreeSet::from(want));
        let ok = validate(
            &[
                ("role", "public"),
                base[0],
                base[1],
                ("object_type", "table"),
            ],
            &["MAINTAIN"],
        );
        assert!(ok.is_empty(), "{ok:?}");
        let mut unknown = config(&[base[0], base[1], ("object_type", "schema")], &[]);
        unknown.set_attr("role", Value::Unknown);
        unknown.set_attr("privileges", Value::Unknown);
        let mut d = PostgresGrant::schema().validate(&unknown);
        d.extend(PostgresGrant::validate(&unknown));
        assert!(d.is_empty(), "{d:?}");
    }
}
