//! `resource "rdsiam_postgres_default_privileges"`: privileges a role receives on objects that
//! another role (`owner`) creates later — `ALTER DEFAULT PRIVILEGES FOR ROLE owner [IN SCHEMA s]
//! GRANT … ON TABLES TO role`. Additive: it grants, reads back and on destroy revokes only the
//! privileges it lists, read from `pg_default_acl` in `database`.
//!
//! Import ID: `role|database|schema|owner|object_type`, each field percent-encoded (only `%`,
//! `|` and control characters are encoded, so `@`, `.`, `_`, `/`, quotes and case are typed as
//! they are); an empty schema field means database-wide. An optional sixth field
//! (`|SELECT,INSERT` or `|ALL`) imports exactly those privileges, to match a configuration.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::pg::ident::{quote_ident, validate_name};
use crate::pg::row::col;
use crate::pg::{Pg, PgError, Script, ScriptError, Tx};
use crate::resources::import_id::{decode_field, join_fields};
use crate::resources::managed::{CreateError, ManagedResource, Op, Postgres};
use crate::resources::privileges::{
    Kind, Verb, check_server_has, flag, key, major, name_key, object_type, privileges_attr,
    revokes, statement, unknown_object_type,
};
use crate::tfplugin::{
    Attribute, AttributePath, Block, Diagnostic, Diagnostics, Maybe, Schema, Validator, Value,
};
use crate::validators::pg_name;

pub struct PostgresDefaultPrivileges;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    Tables,
    Sequences,
    Functions,
    Types,
    Schemas,
}

/// In declaration order: [`ObjectType::name`] indexes it.
const NAMES: [&str; 5] = ["tables", "sequences", "functions", "types", "schemas"];

impl ObjectType {
    const ALL: [ObjectType; 5] = [
        ObjectType::Tables,
        ObjectType::Sequences,
        ObjectType::Functions,
        ObjectType::Types,
        ObjectType::Schemas,
    ];

    /// `pg_default_acl.defaclobjtype` and the privilege vocabulary.
    fn info(self) -> (&'static &'static str, Kind) {
        match self {
            ObjectType::Tables => (&"r", Kind::Table),
            ObjectType::Sequences => (&"S", Kind::Sequence),
            ObjectType::Functions => (&"f", Kind::Routine),
            ObjectType::Types => (&"T", Kind::Type),
            ObjectType::Schemas => (&"n", Kind::Schema),
        }
    }

    /// The configuration's name (as serde spells it).
    fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    fn parse(s: &str) -> Option<ObjectType> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// What `ALL` means on a server of `major`.
    fn privileges(self, major: u32) -> Vec<&'static str> {
        self.info().1.all(major)
    }
}

/// Newest major whose privilege names validation knows.
const NEWEST_MAJOR: u32 = 17;

/// The resource's desired or recorded state. `privileges` and `with_grant_option` may be
/// unknown in a plan: the id does not depend on them, so the plan still shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    role: String,
    database: String,
    schema: Option<String>,
    owner: String,
    object_type: ObjectType,
    /// Upper case (validated), `ALL` unexpanded.
    #[serde(default)]
    privileges: Maybe<Vec<String>>,
    #[serde(default)]
    with_grant_option: Maybe<bool>,
}

impl Spec {
    fn privileges(&self) -> &[String] {
        self.privileges.known().map_or(&[], Vec::as_slice)
    }

    fn grant_option(&self) -> bool {
        self.with_grant_option.known() == Some(&true)
    }

    /// The managed privileges, upper-cased, with ALL expanded for the server.
    fn expanded(&self, major: u32) -> BTreeSet<String> {
        self.object_type.info().1.expand(self.privileges(), major)
    }

    fn target(&self) -> String {
        let scope = match &self.schema {
            Some(s) => format!("in schema {s:?}"),
            None => "database-wide".to_string(),
        };
        format!(
            "{} of {:?} for {:?} ({scope}, database {:?})",
            self.object_type.name(),
            self.owner,
            self.role,
            self.database
        )
    }
}

// ---- import ID ----

const ID_FIELDS: usize = 5;

fn format_id(spec: &Spec) -> String {
    let schema = spec.schema.as_deref().unwrap_or("");
    join_fields(&[
        &spec.role,
        &spec.database,
        schema,
        &spec.owner,
        spec.object_type.name(),
    ])
}

const ID_HELP: &str = "The ID is `role|database|schema|owner|object_type`, optionally followed \
     by `|PRIVILEGE,PRIVILEGE` (or `|ALL`) to import exactly those; schema empty for \
     database-wide; `%` and `|` inside a field written `%25` and `%7C`. For example \
     `app_service|myapp|public|app_owner|tables|SELECT,INSERT` or \
     `app_service|myapp||app_owner|sequences`.";

/// Parses an import ID: the five target fields, and optionally a sixth listing the privileges
/// to import (`SELECT,INSERT` or `ALL`, as the configuration spells them).
fn parse_id(id: &str) -> Result<Spec, String> {
    let parts: Vec<&str> = id.split('|').collect();
    if parts.len() != ID_FIELDS && parts.len() != ID_FIELDS + 1 {
        return Err(format!(
            "{id:?} has {} field(s), expected {ID_FIELDS} (or {} with privileges). {ID_HELP}",
            parts.len(),
            ID_FIELDS + 1
        ));
    }
    let mut f = Vec::with_capacity(parts.len());
    for p in parts {
        f.push(decode_field(p).map_err(|e| format!("{e}. {ID_HELP}"))?);
    }
    let privileges: Vec<String> = match f.get(ID_FIELDS) {
        Some(list) => list.split(',').map(|p| p.trim().to_string()).collect(),
        None => Vec::new(),
    };
    f.truncate(ID_FIELDS);
    let [role, database, schema, owner, object_type] = <[String; ID_FIELDS]>::try_from(f)
        .map_err(|_| format!("{id:?} is not a valid ID. {ID_HELP}"))?;
    for (what, v) in [("role", &role), ("database", &database), ("owner", &owner)] {
        validate_name(v).map_err(|e| format!("{what} {v:?} {e}. {ID_HELP}"))?;
    }
    if !schema.is_empty() {
        validate_name(&schema).map_err(|e| format!("schema {schema:?} {e}. {ID_HELP}"))?;
    }
    let Some(kind) = ObjectType::parse(&object_type) else {
        return Err(format!(
            "{}. {ID_HELP}",
            unknown_object_type(&object_type, &NAMES)
        ));
    };
    if !privileges.is_empty() {
        // The same rules as the configuration.
        let v = Value::object([
            ("object_type", Value::string(&object_type)),
            (
                "privileges",
                Value::Set(privileges.iter().map(Value::string).collect()),
            ),
        ]);
        let mut d = PostgresDefaultPrivileges::validate(&v);
        d.extend(PostgresDefaultPrivileges::schema().validate(&v));
        if let Some(e) = d.0.first() {
            return Err(format!("privileges field: {}. {ID_HELP}", e.detail));
        }
    }
    Ok(Spec {
        role,
        database,
        schema: (!schema.is_empty()).then_some(schema),
        owner,
        object_type: kind,
        privileges: Maybe::Known(privileges),
        with_grant_option: Maybe::Known(false),
    })
}

// ---- catalog ----

/// What `database` says about one (owner, schema, object type, grantee) entry.
struct Observed {
    major: u32,
    owner_exists: bool,
    role_exists: bool,
    schema_exists: bool,
    /// Privileges the grantee holds in the entry, and whether with grant option.
    held: BTreeMap<String, bool>,
    /// For a schema's entry: what the database-wide entry gives the grantee.
    wide: BTreeMap<String, bool>,
}

// A database-wide entry with no row means the built-in defaults, which give nothing to a role
// other than the owner (refused) or PUBLIC (not a role): no row is "nothing held". A row that
// exists because someone revoked the built-ins is read as it is. Only the grantee's own
// entries count, not PUBLIC's. Columns 4 and 5: the entry, and for a schema's entry the
// database-wide one (namespace 0), which PostgreSQL adds to it.
const OBSERVE: &str = "WITH e AS (SELECT d.defaclnamespace = 0 AS wide, \
         a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS p \
         FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a \
         WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1::text) \
           AND d.defaclobjtype::text = $4::text \
           AND d.defaclnamespace IN (0, coalesce((SELECT oid FROM pg_namespace WHERE nspname = $3::text), 0)) \
           AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2::text)) \
       SELECT current_setting('server_version_num')::int4, \
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text), \
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2::text), \
       ($3::text IS NULL OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $3::text)), \
       coalesce((SELECT array_agg(p) FROM e WHERE wide = ($3::text IS NULL)), '{}')::text[], \
       coalesce((SELECT array_agg(p) FROM e WHERE wide AND $3::text IS NOT NULL), '{}')::text[]";

/// An error of the provider's own (no SQLSTATE).
fn error(message: String) -> PgError {
    PgError {
        message,
        code: None,
    }
}

fn observe_params(s: &Spec) -> [&(dyn ToSql + Sync); 4] {
    [&s.owner, &s.role, &s.schema, s.object_type.info().0]
}

async fn observe(pg: &Pg, spec: &Spec) -> Result<Observed, PgError> {
    let params = observe_params(spec);
    Observed::of(&pg.query(Some(&spec.database), OBSERVE, &params).await?)
}

impl Observed {
    fn of(rows: &[Row]) -> Result<Observed, PgError> {
        let no_row = || error("the catalog query returned no row".into());
        let row = rows.first().ok_or_else(no_row)?;
        let acl = |i: usize| -> Result<BTreeMap<String, bool>, PgError> {
            let mut held = BTreeMap::new();
            for e in col::<Vec<String>>(row, i)? {
                let (p, grantable) = match e.strip_suffix('*') {
                    Some(p) => (p.to_string(), true),
                    None => (e, false),
                };
                *held.entry(p).or_insert(false) |= grantable;
            }
            Ok(held)
        };
        Ok(Observed {
            major: major(col(row, 0)?),
            owner_exists: col(row, 1)?,
            role_exists: col(row, 2)?,
            schema_exists: col(row, 3)?,
            held: acl(4)?,
            wide: acl(5)?,
        })
    }

    fn exists(&self) -> bool {
        self.owner_exists && self.role_exists && self.schema_exists
    }

    /// The missing objects, by attribute: `no role named "x"`.
    fn absent(&self, spec: &Spec) -> Vec<(&'static str, String)> {
        let (s, db) = (spec.schema.as_deref().unwrap_or(""), &spec.database);
        let owner = format!("no role named {:?} (the owner)", spec.owner);
        let role = format!("no role named {:?}", spec.role);
        let schema = format!("no schema named {s:?} in database {db:?}");
        [("owner", owner), ("role", role), ("schema", schema)]
            .into_iter()
            .zip([self.owner_exists, self.role_exists, self.schema_exists])
            .filter_map(|(a, exists)| (!exists).then_some(a))
            .collect()
    }

    fn absent_text(&self, spec: &Spec) -> String {
        let absent: Vec<String> = self.absent(spec).into_iter().map(|a| a.1).collect();
        absent.join("; ")
    }

    fn holds(&self, privilege: &str, with_grant_option: bool) -> bool {
        self.held
            .get(privilege)
            .is_some_and(|g| *g || !with_grant_option)
    }
}

/// The state as the database sees it: each recorded privilege kept only while held (ALL only
/// while its whole expansion is), spelled as recorded.
fn observed_spec(recorded: &Spec, o: &Observed) -> Spec {
    let kind = recorded.object_type.info().1;
    let held = |p: &&String| {
        let all = kind.expand([*p], o.major);
        all.iter().all(|x| o.holds(x, recorded.grant_option()))
    };
    let privileges = recorded.privileges().iter().filter(held).cloned().collect();
    Spec {
        privileges: Maybe::Known(privileges),
        ..recorded.clone()
    }
}

/// An imported entry. With privileges in the ID: those, if all are held. Without: what the
/// grantee holds, as `ALL` when that is everything a type with several privileges offers.
/// `with_grant_option` is true when every imported privilege carries it.
fn imported_spec(target: &Spec, o: &Observed) -> Result<Spec, String> {
    let privileges = if target.privileges().is_empty() {
        let all = target.object_type.privileges(o.major);
        if all.len() > 1 && all.iter().all(|p| o.held.contains_key(*p)) {
            vec!["ALL".to_string()]
        } else {
            o.held.keys().cloned().collect()
        }
    } else {
        target.privileges().to_vec()
    };
    let spec = Spec {
        privileges: Maybe::Known(privileges),
        ..target.clone()
    };
    let expanded = spec.expanded(o.major);
    let missing: Vec<&str> = expanded
        .iter()
        .filter(|p| !o.held.contains_key(*p))
        .map(String::as_str)
        .collect();
    if expanded.is_empty() || !missing.is_empty() {
        let what = match expanded.is_empty() {
            true => "any privilege".to_string(),
            false => missing.join(", "),
        };
        return Err(format!(
            "{} does not hold {what} by default: nothing to import.",
            spec.role
        ));
    }
    Ok(Spec {
        with_grant_option: Maybe::Known(expanded.iter().all(|p| o.holds(p, true))),
        ..spec
    })
}

// ---- SQL ----

/// `ALTER DEFAULT PRIVILEGES FOR ROLE owner [IN SCHEMA s] GRANT … TO role` (or a REVOKE) for
/// the spec's entry. Only names from the validated privilege list reach `privileges`.
fn acl_sql(spec: &Spec, verb: Verb, privileges: &BTreeSet<String>) -> String {
    let schema = spec.schema.as_ref();
    let schema = schema.map_or(String::new(), |s| format!(" IN SCHEMA {}", quote_ident(s)));
    let privileges = privileges.iter().cloned().collect::<Vec<_>>().join(", ");
    let target = spec.object_type.name().to_ascii_uppercase();
    let role = quote_ident(&spec.role);
    let acl = statement(verb, &privileges, &target, &role, spec.grant_option());
    format!(
        "ALTER DEFAULT PRIVILEGES FOR ROLE {}{schema} {acl}",
        quote_ident(&spec.owner)
    )
}

/// One statement: a verb and its privileges.
type Step = (Verb, BTreeSet<String>);

/// A write of the entry: the [`Script`] create, update and destroy run.
enum Change<'a> {
    Create(&'a Spec),
    Update(&'a Spec, &'a Spec),
    Delete(&'a Spec),
}

impl Change<'_> {
    fn spec(&self) -> &Spec {
        match *self {
            Change::Create(s) | Change::Update(_, s) | Change::Delete(s) => s,
        }
    }

    /// The statements as (verb, privileges) for a server of `major`, in order. GRANT is
    /// idempotent, so the whole managed set is granted every time: a skipped refresh cannot
    /// leave a privilege missing.
    fn steps(&self, major: u32) -> Vec<Step> {
        let mut steps = match *self {
            Change::Delete(s) => vec![(Verb::Revoke, s.expanded(major))],
            Change::Create(s) => vec![(Verb::Grant, s.expanded(major))],
            Change::Update(from, to) => {
                let (had, want) = (from.expanded(major), to.expanded(major));
                let mut steps = revokes(&had, from.grant_option(), &want, to.grant_option());
                steps.push((Verb::Grant, want));
                steps
            }
        };
        steps.retain(|(_, p)| !p.is_empty());
        steps
    }
}

// ---- permissions ----

/// The grant that lets `me` run ALTER DEFAULT PRIVILEGES FOR ROLE `owner`, for the server.
fn needed_grant(owner: &str, me: &str, major: u32) -> String {
    if major >= 16 {
        format!(
            "GRANT {} TO {} WITH INHERIT TRUE, SET FALSE;",
            quote_ident(owner),
            quote_ident(me)
        )
    } else {
        format!("GRANT {} TO {};", quote_ident(owner), quote_ident(me))
    }
}

/// ALTER DEFAULT PRIVILEGES FOR ROLE failed with `cause`, permission denied: the login `me`
/// may not act for owner (up to 15: not a member; from 16: without its privileges, so a
/// membership WITH SET TRUE but INHERIT FALSE is not enough).
fn not_allowed(spec: &Spec, me: &str, major: u32, action: &str, cause: &PgError) -> Diagnostics {
    let requirement = if major >= 16 {
        "PostgreSQL 16 and later require the privileges of that role (membership WITH INHERIT \
         TRUE; SET alone is not enough)"
    } else {
        "PostgreSQL 15 and older require membership in that role"
    };
    let detail = format!(
        "{cause}\n\nThe provider's login role {:?} may not change the default privileges of {:?}: only \
         its own, or those of roles whose privileges it has ({requirement}). The provider never \
         grants this itself. As a superuser, or as a role holding ADMIN OPTION on {:?} (on \
         Amazon RDS: the master user, if it created that role), run in any database:\n\n    {}\n\n\
         then apply again.",
        me,
        spec.owner,
        spec.owner,
        needed_grant(&spec.owner, me, major),
    );
    let summary = format!(
        "Cannot {action} default privileges for role {:?}",
        spec.owner
    );
    Diagnostic::error(summary, detail)
        .at(AttributePath::root("owner"))
        .into()
}

fn failed(action: &str, spec: &Spec, e: &PgError) -> Diagnostics {
    Diagnostic::error(
        format!("Cannot {action} default privileges"),
        format!("Default privileges on {}: {e}", spec.target()),
    )
    .into()
}

// ---- writes ----

/// Each step's privileges that `held` (privilege → grantable) does not show done.
fn unmet(steps: &[Step], option: bool, held: &BTreeMap<String, bool>) -> Vec<Step> {
    let done = |verb: Verb, p: &String| match verb {
        Verb::Grant => held.get(p).is_some_and(|g| *g || !option),
        Verb::Revoke => !held.contains_key(p),
        Verb::RevokeGrantOption => held.get(p) != Some(&true),
    };
    let missed = |(verb, p): &Step| {
        let p: BTreeSet<String> = p.iter().filter(|p| !done(*verb, p)).cloned().collect();
        (!p.is_empty()).then_some((*verb, p))
    };
    steps.iter().filter_map(missed).collect()
}

/// `"app" still receives SELECT{how}\n  ALTER DEFAULT PRIVILEGES … REVOKE SELECT …;`
fn fix(spec: &Spec, (verb, privileges): &Step, how: &str) -> String {
    let p = privileges.iter().cloned().collect::<Vec<_>>().join(", ");
    let what = match verb {
        Verb::Grant => "does not receive",
        Verb::Revoke => "still receives",
        Verb::RevokeGrantOption => "still receives the grant option of",
    };
    let sql = acl_sql(spec, *verb, privileges);
    format!("{:?} {what} {p}{how}\n  {sql};", spec.role)
}

/// In the write's transaction: the statements, then the entry read again; an entry that does
/// not show what was asked rolls everything back (never success followed by drift). Output:
/// warnings, for a schema's REVOKE that the database-wide entry undoes.
#[async_trait]
impl Script for Change<'_> {
    type Output = Vec<String>;

    async fn run(&self, tx: &Tx<'_>) -> Result<Vec<String>, ScriptError> {
        let spec = self.spec();
        let read = async || match tx.query(OBSERVE, &observe_params(spec)).await {
            Ok(rows) => Observed::of(&rows).map_err(ScriptError::Check),
            Err(e) => Err(e),
        };
        let before = read().await?;
        let steps = self.steps(before.major);
        let held = |(_, p): &Step| p.iter().any(|p| before.held.contains_key(p));
        match self {
            // Gone with its role, owner or schema, or nothing held: nothing to revoke (and no
            // need to be allowed to act for owner).
            Change::Delete(_) if !before.exists() || !steps.iter().any(held) => {
                return Ok(Vec::new());
            }
            _ if !before.exists() => {
                let absent = before.absent_text(spec);
                let absent = error(format!("{absent} (names are case-sensitive)"));
                return Err(ScriptError::Check(absent));
            }
            _ => {}
        }
        for (verb, p) in &steps {
            tx.execute(&acl_sql(spec, *verb, p)).await?;
        }
        let after = read().await?;
        let unmet_here = unmet(&steps, spec.grant_option(), &after.held);
        if !unmet_here.is_empty() {
            let lines: Vec<String> = unmet_here.iter().map(|u| fix(spec, u, "; run")).collect();
            return Err(ScriptError::Check(error(format!(
                "PostgreSQL did not change the entry as asked, so nothing was changed. As {:?} \
                 (or a role that may act for it):\n{}\nthen apply again.",
                spec.owner,
                lines.join("\n")
            ))));
        }
        // PostgreSQL adds the database-wide entry to every schema's: a per-schema REVOKE
        // cannot take away what it grants.
        let Some(schema) = &spec.schema else {
            return Ok(Vec::new());
        };
        let (mut wide, owner) = (spec.clone(), &spec.owner);
        wide.schema = None;
        let how = format!(
            " on {} {owner:?} creates in schema {schema:?}: {owner:?}'s database-wide default \
             privileges grant it, and a per-schema REVOKE cannot take those away. If it must \
             not, remove it from what grants it database-wide, or run (for every schema)",
            spec.object_type.name()
        );
        let masked = unmet(&steps, false, &after.wide).into_iter();
        let masked = masked.filter(|(verb, _)| *verb != Verb::Grant);
        Ok(masked.map(|u| fix(&wide, &u, &how)).collect())
    }
}

/// Runs `change` in the entry's database; warnings go to `op`.
async fn write(op: &mut Op<'_, Pg>, change: Change<'_>, action: &str) -> Result<(), Diagnostics> {
    let spec = change.spec();
    let privileges: Vec<&String> = spec.privileges().iter().collect();
    check_server_has(op.db, spec.object_type.info().1, &privileges).await?;
    match op.db.run(Some(&spec.database), &change).await {
        Ok(warnings) => {
            for w in warnings {
                op.warnings.warning("Still granted database-wide", w);
            }
            Ok(())
        }
        Err(e) if matches!(change, Change::Delete(_)) && e.database_missing() => Ok(()),
        Err(e) if e.is(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            let me = &op.db.pool.settings().username;
            match op.db.server_version().await {
                Ok(v) => Err(not_allowed(spec, me, major(v), action, &e)),
                Err(_) => Err(failed(action, spec, &e)),
            }
        }
        Err(e) => Err(failed(action, spec, &e)),
    }
}

// ---- validation ----

/// Single-attribute checks live in the schema; what needs `object_type` or the whole list of
/// privileges (for the element path) is checked here.
fn not_public() -> Validator {
    Validator::string(|r| {
        if r.eq_ignore_ascii_case("public") {
            Err(
                "PUBLIC is not supported as a grantee: default privileges here are for a role."
                    .into(),
            )
        } else {
            Ok(())
        }
    })
}

/// A set must plan exactly as configured, and import reads upper case.
fn upper_case() -> Validator {
    Validator::string(|s| {
        let upper = s.to_ascii_uppercase();
        if *s == upper {
            Ok(())
        } else {
            Err(format!(
                "write privileges in upper case: {upper:?}, not {s:?}."
            ))
        }
    })
}

#[async_trait]
impl ManagedResource for PostgresDefaultPrivileges {
    type Engine = Postgres;
    type Model = Spec;
    const TYPE_NAME: &'static str = "rdsiam_postgres_default_privileges";
    /// Resource identity: the import ID's fields (Terraform >= 1.12).
    const IDENTITY: &[(&str, bool)] = &[
        ("role", true),
        ("database", true),
        ("schema", false),
        ("owner", true),
        ("object_type", true),
    ];
    const PLAN_NEEDS_DB: bool = true;

    /// Privileges the server lacks (an error); a database, schema, owner or role that does
    /// not exist (yet).
    async fn check_plan(&self, op: &mut Op<'_, Pg>, planned: &Spec) -> Result<(), Diagnostics> {
        let privileges: Vec<&String> = planned.privileges().iter().collect();
        check_server_has(op.db, planned.object_type.info().1, &privileges).await?;
        let db = format!("no database named {:?}", planned.database);
        let missing = match observe(op.db, planned).await {
            Ok(o) => o.absent(planned),
            Err(e) if e.database_missing() => vec![("database", db)],
            Err(_) => Vec::new(), // the apply reports it
        };
        for (attr, m) in missing {
            let then = format!("{m}: the apply fails unless it exists by then.");
            let w = Diagnostic::warning(format!("Unknown {attr}"), then);
            op.warnings.push(w.at(AttributePath::root(attr)));
        }
        Ok(())
    }

    fn schema() -> Schema {
        Schema::new(
            Block::new(
                "Privileges `role` receives on objects `owner` creates later: `ALTER DEFAULT \
                 PRIVILEGES FOR ROLE owner [IN SCHEMA schema] GRANT … ON TABLES TO role`. \
                 Additive: it grants, and on destroy revokes, only the privileges it lists; drift \
                 shows only for those. Read from `pg_default_acl` in `database`, and again after \
                 every write, in its transaction: a change PostgreSQL did not make fails the apply \
                 with nothing changed. PostgreSQL adds `owner`'s database-wide entry to every \
                 schema's: removing from a schema's entry what the database-wide one grants warns.\n\n\
                 The provider's login must be able to act for `owner` (up to PostgreSQL 15: \
                 member of it; from 16: have its privileges, i.e. membership WITH INHERIT TRUE). \
                 It never grants that itself; the error says what to run.\n\n\
                 Import ID: `role|database|schema|owner|object_type`, `schema` empty for \
                 database-wide, `%` and `|` inside a name written `%25` and `%7C`, e.g. \
                 `app_service|myapp|public|app_owner|tables`. Import reads every privilege the \
                 role holds in that entry (`ALL` when it holds all of several); append \
                 `|SELECT,INSERT` (or `|ALL`) to import exactly the privileges your \
                 configuration lists.",
            )
            .attr(
                Attribute::string("id")
                    .computed()
                    .description("`role|database|schema|owner|object_type`, percent-encoded (`%` → `%25`, `|` → `%7C`)."),
            )
            .attr(
                name_key("role")
                    .validate(not_public())
                    .description("The grantee, kept exactly (case, dots, `@`, quotes)."),
            )
            .attr(
                name_key("database")
                    .description("The database whose default privileges are set (they are per database)."),
            )
            .attr(
                Attribute::string("schema")
                    .optional()
                    .requires_replace()
                    .validate(pg_name())
                    .description("Only objects created in this schema. Absent: database-wide (the only choice for `object_type = \"schemas\"`)."),
            )
            .attr(
                name_key("owner")
                    .description("The role whose future objects are covered (`FOR ROLE owner`): the role that will create them."),
            )
            .attr(
                key("object_type")
                    .validate(object_type(&NAMES))
                    .description("`tables` (views included), `sequences`, `functions` (procedures included), `types` or `schemas`."),
            )
            .attr(
                privileges_attr()
                    .each(upper_case())
                    .description("Tables: SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN (PostgreSQL 17+). Sequences: USAGE, SELECT, UPDATE. Functions: EXECUTE. Types: USAGE. Schemas: USAGE, CREATE. Or `ALL`, compared as everything the server version offers. Upper case."),
            )
            .attr(
                flag("with_grant_option")
                    .description("Grant with `WITH GRANT OPTION` (default `false`). `false` does not revoke a grant option given elsewhere."),
            ),
        )
    }

    fn validate(config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let role = config.get("role").as_str();
        if role.is_some() && role == config.get("owner").as_str() {
            d.error_at(
                AttributePath::root("role"),
                "Invalid role",
                "role and owner are the same: an owner already holds every privilege on its own objects, and destroying this resource would revoke them.",
            );
        }
        let kind = config
            .get("object_type")
            .as_str()
            .and_then(ObjectType::parse);
        if kind == Some(ObjectType::Schemas) && config.get("schema").as_str().is_some() {
            d.error_at(
                AttributePath::root("schema"),
                "Invalid schema",
                "default privileges on schemas are database-wide only: remove schema.",
            );
        }
        // An unknown or invalid object_type: any privilege of any type passes here.
        let known: BTreeSet<&str> = match kind {
            Some(k) => k.privileges(NEWEST_MAJOR).into_iter().collect(),
            None => ObjectType::ALL
                .into_iter()
                .flat_map(|k| k.privileges(NEWEST_MAJOR))
                .collect(),
        };
        let privileges = config.get("privileges");
        let list = privileges.as_list().unwrap_or_default();
        // Here, not in the schema: drift can leave a stored state with none.
        if privileges.as_list().is_some() && list.is_empty() {
            d.error_at(
                AttributePath::root("privileges"),
                "Invalid privileges",
                "list at least one privilege (or ALL).",
            );
        }
        for (i, p) in list.iter().enumerate() {
            let Some(s) = p.as_str() else {
                continue;
            };
            let path = AttributePath::root("privileges").index(i);
            let upper = s.to_ascii_uppercase();
            if upper == "ALL" {
                if list.len() > 1 {
                    d.error_at(
                        path,
                        "Invalid privileges",
                        "ALL already includes every privilege: list ALL alone.",
                    );
                }
            } else if !known.contains(upper.as_str()) {
                d.error_at(
                    path,
                    "Invalid privileges",
                    format!(
                        "{s:?} is not a privilege on {}: use {} or ALL.",
                        kind.map_or("these objects", ObjectType::name),
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        d
    }

    fn id(spec: &Spec) -> String {
        format_id(spec)
    }

    async fn read(&self, op: &mut Op<'_, Pg>, recorded: Spec) -> Result<Option<Spec>, Diagnostics> {
        match observe(op.db, &recorded).await {
            Ok(o) if o.exists() => Ok(Some(observed_spec(&recorded, &o))),
            // Role, owner, schema or database dropped: the entry is gone with it.
            Ok(_) => Ok(None),
            Err(e) if e.database_missing() => Ok(None),
            Err(e) => Err(Diagnostic::error(
                "Cannot read default privileges",
                format!("Reading {} failed: {e}", recorded.target()),
            )
            .into()),
        }
    }

    // GRANT is idempotent and additive: a create whose COMMIT is in doubt returns no state and
    // the next apply grants again, so nothing is kept as tainted.
    async fn create(&self, op: &mut Op<'_, Pg>, spec: Spec) -> Result<Spec, CreateError> {
        write(op, Change::Create(&spec), "create").await?;
        Ok(spec)
    }

    async fn update(
        &self,
        op: &mut Op<'_, Pg>,
        prior: Spec,
        spec: Spec,
    ) -> Result<Spec, Diagnostics> {
        write(op, Change::Update(&prior, &spec), "update").await?;
        Ok(spec)
    }

    async fn delete(&self, op: &mut Op<'_, Pg>, spec: Spec) -> Result<(), Diagnostics> {
        write(op, Change::Delete(&spec), "revoke").await
    }

    fn check_import_id(id: &str) -> Result<(), Diagnostics> {
        parse_id(id)
            .map(drop)
            .map_err(|e| Diagnostic::error("Invalid import ID", e).into())
    }

    async fn import(&self, op: &mut Op<'_, Pg>, id: &str) -> Result<Vec<Spec>, Diagnostics> {
        let fail = |detail: String| -> Diagnostics {
            Diagnostic::error("Cannot import default privileges", detail).into()
        };
        let target = parse_id(id).map_err(|e| Diagnostic::error("Invalid import ID", e))?;
        let o = observe(op.db, &target)
            .await
            .map_err(|e| fail(format!("Reading {} failed: {e}", target.target())))?;
        if !o.exists() {
            return Err(fail(format!("{}.", o.absent_text(&target))));
        }
        imported_spec(&target, &o)
            .map(|spec| vec![spec])
            .map_err(|e| fail(format!("{e} (entry: {})", target.target())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::import_id::encode_field;
    use crate::resources::privileges::test_support::{config, paths, set};
    use crate::tfplugin::from_value;

    fn privs(p: &[&str]) -> Maybe<Vec<String>> {
        Maybe::Known(p.iter().map(|p| p.to_string()).collect())
    }

    fn spec() -> Spec {
        Spec {
            role: "app_service".into(),
            database: "myapp".into(),
            schema: Some("public".into()),
            owner: "app_owner".into(),
            object_type: ObjectType::Tables,
            privileges: privs(&["SELECT", "INSERT"]),
            with_grant_option: Maybe::Known(false),
        }
    }

    fn observed(major: u32, held: &[(&str, bool)]) -> Observed {
        Observed {
            major,
            owner_exists: true,
            role_exists: true,
            schema_exists: true,
            held: held.iter().map(|(p, g)| (p.to_string(), *g)).collect(),
            wide: BTreeMap::new(),
        }
    }

    /// Every privilege of tables on `major`, with grant option `g`.
    fn all_tables(major: u32, g: bool) -> Vec<(&'static str, bool)> {
        ObjectType::Tables
            .privileges(major)
            .into_iter()
            .map(|p| (p, g))
            .collect()
    }

    fn sql(change: Change, major: u32) -> Vec<String> {
        let steps = change.steps(major);
        let acl = |(verb, p): &Step| acl_sql(change.spec(), *verb, p);
        steps.iter().map(acl).collect()
    }

    fn ok<T>(r: Result<T, String>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn create_sql_is_quoted() {
        let mut s = spec();
        s.owner = "Owner \"x\"".into();
        s.schema = Some("My.Schema".into());
        s.role = "mario.rossi@example.com".into();
        let want = "ALTER DEFAULT PRIVILEGES FOR ROLE \"Owner \"\"x\"\"\" IN SCHEMA \"My.Schema\" \
                    GRANT INSERT, SELECT ON TABLES TO \"mario.rossi@example.com\"";
        assert_eq!(sql(Change::Create(&s), 17), vec![want]);
        s.schema = None;
        s.with_grant_option = Maybe::Known(true);
        s.privileges = privs(&["ALL"]);
        s.object_type = ObjectType::Sequences;
        let want = "ALTER DEFAULT PRIVILEGES FOR ROLE \"Owner \"\"x\"\"\" GRANT SELECT, UPDATE, USAGE \
                    ON SEQUENCES TO \"mario.rossi@example.com\" WITH GRANT OPTION";
        assert_eq!(sql(Change::Create(&s), 15), vec![want]);
    }

    #[test]
    fn all_expands_per_version() {
        let mut s = spec();
        s.privileges = privs(&["ALL"]);
        assert!(!s.expanded(15).contains("MAINTAIN"));
        assert!(s.expanded(17).contains("MAINTAIN"));
        assert_eq!(s.expanded(17).len(), 8);
    }

    #[test]
    fn update_revokes_only_what_left() {
        let from = Spec {
            privileges: privs(&["SELECT", "INSERT", "DELETE"]),
            with_grant_option: Maybe::Known(true),
            ..spec()
        };
        let to = Spec {
            privileges: privs(&["SELECT", "UPDATE"]),
            ..spec()
        };
        let adp = "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_owner\" IN SCHEMA \"public\"";
        let want = [
            format!("{adp} REVOKE DELETE, INSERT ON TABLES FROM \"app_service\""),
            format!("{adp} REVOKE GRANT OPTION FOR SELECT ON TABLES FROM \"app_service\""),
            format!("{adp} GRANT SELECT, UPDATE ON TABLES TO \"app_service\""),
        ];
        assert_eq!(sql(Change::Update(&from, &to), 17), want);
        let want = format!("{adp} REVOKE SELECT, UPDATE ON TABLES FROM \"app_service\"");
        assert_eq!(sql(Change::Delete(&to), 17), vec![want]);
        // The check after the statements: what the entry does not show done, step by step.
        let steps = Change::Update(&from, &to).steps(17);
        let held = observed(
            17,
            &[("SELECT", false), ("UPDATE", false), ("TRUNCATE", true)],
        );
        assert!(unmet(&steps, false, &held.held).is_empty());
        let held = observed(17, &[("SELECT", true), ("INSERT", false)]).held;
        let want = [
            (Verb::Revoke, set(&["INSERT"])),
            (Verb::RevokeGrantOption, set(&["SELECT"])),
            (Verb::Grant, set(&["UPDATE"])),
        ];
        assert_eq!(unmet(&steps, false, &held), want);
        let grant = [(Verb::Grant, set(&["INSERT", "SELECT"]))];
        assert_eq!(
            unmet(&grant, true, &held),
            [(Verb::Grant, set(&["INSERT"]))]
        );
    }

    #[test]
    fn read_keeps_only_held_managed_privileges() {
        let s = spec();
        // Extra privileges (from elsewhere) are not reported; a missing one is drift.
        let o = observed(17, &[("SELECT", false), ("TRUNCATE", false)]);
        assert_eq!(observed_spec(&s, &o).privileges, privs(&["SELECT"]));
        let o = observed(17, &[("SELECT", false), ("INSERT", false)]);
        assert_eq!(observed_spec(&s, &o), s);
        // Grant option wanted but absent: drift.
        let g = Spec {
            with_grant_option: Maybe::Known(true),
            ..s.clone()
        };
        let o = observed(17, &[("SELECT", true), ("INSERT", false)]);
        assert_eq!(observed_spec(&g, &o).privileges, privs(&["SELECT"]));
        // ALL is held only when its whole expansion for the version is.
        let all = Spec {
            privileges: privs(&["ALL"]),
            ..s
        };
        let seven = all_tables(15, false);
        let o = observed_spec(&all, &observed(15, &seven));
        assert_eq!(o.privileges, privs(&["ALL"]));
        assert!(
            observed_spec(&all, &observed(17, &seven))
                .privileges()
                .is_empty()
        );
    }

    #[test]
    fn identity_names_the_import_id() {
        for id in [
            "app_service|myapp|public|app_owner|tables",
            "a%7Cb|myapp||app_owner|functions",
        ] {
            let t = ok(parse_id(id));
            crate::resources::managed::assert_identity_names_the_id::<PostgresDefaultPrivileges>(
                &t,
            );
            assert_eq!(format_id(&t), id);
        }
    }

    #[test]
    fn import_reads_what_is_held() {
        let t = ok(parse_id("app_service|myapp|public|app_owner|tables"));
        let i = ok(imported_spec(&t, &observed(17, &all_tables(17, true))));
        assert_eq!(i.privileges, privs(&["ALL"]));
        assert!(i.grant_option());
        let held = observed(17, &[("SELECT", false), ("DELETE", true)]);
        let i = ok(imported_spec(&t, &held));
        assert_eq!(i.privileges, privs(&["DELETE", "SELECT"]));
        assert!(!i.grant_option());
        assert!(imported_spec(&t, &observed(17, &[])).is_err());
        // Explicit privileges: exactly those, if held; the grant option of those only.
        let t = ok(parse_id("app_service|myapp|public|app_owner|tables|DELETE"));
        let i = ok(imported_spec(&t, &held));
        let want = (privs(&["DELETE"]), Maybe::Known(true));
        assert_eq!((i.privileges, i.with_grant_option), want);
        let t = ok(parse_id("app_service|myapp|public|app_owner|tables|ALL"));
        assert!(imported_spec(&t, &held).is_err());
        // A single-privilege type imports as that privilege, not ALL.
        let t = ok(parse_id("app_service|myapp||app_owner|functions"));
        let i = ok(imported_spec(&t, &observed(15, &[("EXECUTE", false)])));
        assert_eq!(i.privileges, privs(&["EXECUTE"]));
        assert!(parse_id("a|b||d|functions|SELECT").is_err());
        assert!(parse_id("a|b||d|tables|select").is_err());
        let p = parse_id("a|b||d|tables|SELECT, INSERT").map(|s| s.privileges);
        assert_eq!(p, Ok(privs(&["SELECT", "INSERT"])));
    }

    #[test]
    fn id_round_trips() {
        for name in NAMES {
            let v = from_value::<ObjectType>(&Value::string(name)).ok();
            assert_eq!(
                v.map(ObjectType::name),
                ObjectType::parse(name).map(ObjectType::name)
            );
            assert_eq!(v.map(ObjectType::name), Some(name));
        }
        let names = [
            "mario.rossi@example.com",
            "Mixed.Case",
            "a\"b",
            "it's",
            "a/b_c",
            "50%|off",
            "tab\there",
            "€uro",
            "%7C",
        ];
        for n in names {
            for schema in [None, Some(n)] {
                let schema = schema.map(str::to_string);
                let (role, database, owner) = (n.into(), n.into(), n.into());
                let s = Spec {
                    role,
                    database,
                    schema,
                    owner,
                    privileges: privs(&[]),
                    ..spec()
                };
                let id = format_id(&s);
                assert_eq!(id.split('|').count(), 5, "{id}");
                assert_eq!(parse_id(&id), Ok(s), "{id}");
            }
        }
        assert_eq!(
            format_id(&spec()),
            "app_service|myapp|public|app_owner|tables"
        );
        assert_eq!(encode_field("50%|off"), "50%25%7Coff");
        // Typed by hand: upper case, quotes and `/` need no escaping.
        let s = ok(parse_id("App\"User|my/db||Owner.X|functions"));
        assert_eq!(s.role, "App\"User");
        assert_eq!(s.schema, None);
        let bad = [
            "a|b|c|d",
            "a|b|c|d|views",
            "a|b|c|d|tables|x",
            "a|b|c|d|tables|SELECT|x",
            "a%zz|b|c|d|tables",
            "|b|c|d|tables",
        ];
        for bad in bad {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }

    fn validate_config(cfg: &Value) -> Diagnostics {
        let mut d = PostgresDefaultPrivileges::schema().validate(cfg);
        d.extend(PostgresDefaultPrivileges::validate(cfg));
        d
    }

    #[test]
    fn validation_names_attributes() {
        let attrs = [
            ("role", "app"),
            ("database", ""),
            ("owner", "app"),
            ("schema", "public"),
            ("object_type", "schemas"),
        ];
        let cfg = config(&attrs, &["usage", "SELECT", "CREATE"]);
        let want = [
            "database",
            "privileges[0]",
            "privileges[1]",
            "role",
            "schema",
        ];
        assert_eq!(paths(&validate_config(&cfg)), want);
        let cfg = config(&[("object_type", "views")], &["ALL", "SELECT"]);
        assert_eq!(
            paths(&validate_config(&cfg)),
            ["object_type", "privileges[0]"]
        );
        let attrs = [
            ("role", "mario.rossi@example.com"),
            ("database", "myapp"),
            ("owner", "app_owner"),
            ("schema", "public"),
            ("object_type", "tables"),
        ];
        assert!(validate_config(&config(&attrs, &["SELECT", "MAINTAIN"])).is_empty());
        // Unknown values (from other resources) are not judged.
        let unknown = ["role", "owner", "object_type", "privileges"].map(|k| (k, Value::Unknown));
        assert!(validate_config(&Value::object(unknown)).is_empty());
    }

    #[test]
    fn planned_id_needs_only_the_keys() {
        let attrs = [
            ("role", "app_service"),
            ("database", "myapp"),
            ("owner", "app_owner"),
            ("object_type", "tables"),
        ];
        let mut planned = config(&attrs, &[]);
        for k in ["id", "privileges", "with_grant_option"] {
            planned.set_attr(k, Value::Unknown);
        }
        let s: Spec = from_value(&planned).unwrap_or_else(|e| panic!("{e}"));
        let id = PostgresDefaultPrivileges::id(&s);
        assert_eq!(id, "app_service|myapp||app_owner|tables");
        planned.set_attr("owner", Value::Unknown);
        assert!(from_value::<Spec>(&planned).is_err());
    }

    #[test]
    fn needed_grant_depends_on_version() {
        let want = "GRANT \"app owner\" TO \"admin\";";
        assert_eq!(needed_grant("app owner", "admin", 15), want);
        let want = "GRANT \"app_owner\" TO \"rds_like_admin\" WITH INHERIT TRUE, SET FALSE;";
        assert_eq!(needed_grant("app_owner", "rds_like_admin", 17), want);
    }
}
