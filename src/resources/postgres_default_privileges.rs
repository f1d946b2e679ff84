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
use std::sync::Arc;

use async_trait::async_trait;
use tokio_postgres::error::SqlState;

use crate::pg::ident::{quote_ident, validate_name};
use crate::pg::{Pg, PgError, PgSource};
use crate::resources::import_id::{decode_field, encode_field};
use crate::resources::pg_unavailable;
use crate::tfplugin::{
    ApplyRequest, Attribute, AttributePath, Block, Ctx, Diagnostic, Diagnostics, ImportResponse,
    PlanRequest, PlanResponse, ReadRequest, Resource, Schema, StateResponse, Type, Value,
};

pub struct PostgresDefaultPrivileges {
    pub pg: Arc<dyn PgSource>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ObjectType {
    Tables,
    Sequences,
    Functions,
    Types,
    Schemas,
}

const OBJECT_TYPES: &[&str] = &["tables", "sequences", "functions", "types", "schemas"];

impl ObjectType {
    fn parse(s: &str) -> Option<ObjectType> {
        Some(match s {
            "tables" => ObjectType::Tables,
            "sequences" => ObjectType::Sequences,
            "functions" => ObjectType::Functions,
            "types" => ObjectType::Types,
            "schemas" => ObjectType::Schemas,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            ObjectType::Tables => "TABLES",
            ObjectType::Sequences => "SEQUENCES",
            ObjectType::Functions => "FUNCTIONS",
            ObjectType::Types => "TYPES",
            ObjectType::Schemas => "SCHEMAS",
        }
    }

    /// `pg_default_acl.defaclobjtype`.
    fn defacl_char(self) -> &'static str {
        match self {
            ObjectType::Tables => "r",
            ObjectType::Sequences => "S",
            ObjectType::Functions => "f",
            ObjectType::Types => "T",
            ObjectType::Schemas => "n",
        }
    }

    /// What `ALL` means on a server of `major`: PostgreSQL 17 added MAINTAIN on tables.
    fn privileges(self, major: u32) -> Vec<&'static str> {
        match self {
            ObjectType::Tables => {
                let mut p = vec![
                    "SELECT",
                    "INSERT",
                    "UPDATE",
                    "DELETE",
                    "TRUNCATE",
                    "REFERENCES",
                    "TRIGGER",
                ];
                if major >= 17 {
                    p.push("MAINTAIN");
                }
                p
            }
            ObjectType::Sequences => vec!["USAGE", "SELECT", "UPDATE"],
            ObjectType::Functions => vec!["EXECUTE"],
            ObjectType::Types => vec!["USAGE"],
            ObjectType::Schemas => vec!["USAGE", "CREATE"],
        }
    }
}

/// Newest major whose privilege names validation knows.
const NEWEST_MAJOR: u32 = 17;

/// The resource's desired or recorded state as plain Rust.
#[derive(Clone, Debug, PartialEq)]
struct Spec {
    role: String,
    database: String,
    schema: Option<String>,
    owner: String,
    object_type: String,
    /// Upper case (validated), `ALL` unexpanded.
    privileges: Vec<String>,
    with_grant_option: bool,
}

impl Spec {
    fn from_value(v: &Value) -> Spec {
        let text = |n: &str| v.get(n).as_str().map(str::to_string);
        Spec {
            role: text("role").unwrap_or_default(),
            database: text("database").unwrap_or_default(),
            schema: text("schema"),
            owner: text("owner").unwrap_or_default(),
            object_type: text("object_type").unwrap_or_default(),
            privileges: v
                .get("privileges")
                .as_list()
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            with_grant_option: v.get("with_grant_option").as_bool().unwrap_or(false),
        }
    }

    fn to_value(&self) -> Value {
        Value::object([
            ("id", Value::string(self.id())),
            ("role", Value::string(&self.role)),
            ("database", Value::string(&self.database)),
            (
                "schema",
                self.schema
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            ),
            ("owner", Value::string(&self.owner)),
            ("object_type", Value::string(&self.object_type)),
            (
                "privileges",
                Value::Set(self.privileges.iter().map(Value::string).collect()),
            ),
            ("with_grant_option", Value::bool(self.with_grant_option)),
        ])
    }

    fn id(&self) -> String {
        format_id(&[
            &self.role,
            &self.database,
            self.schema.as_deref().unwrap_or(""),
            &self.owner,
            &self.object_type,
        ])
    }

    fn kind(&self) -> Option<ObjectType> {
        ObjectType::parse(&self.object_type)
    }

    /// The managed privileges, upper-cased, with ALL expanded for the server.
    fn expanded(&self, major: u32) -> BTreeSet<String> {
        expand(&self.privileges, self.kind(), major)
    }

    fn target(&self) -> String {
        let scope = match &self.schema {
            Some(s) => format!("in schema {s:?}"),
            None => "database-wide".to_string(),
        };
        format!(
            "{} of {:?} for {:?} ({scope}, database {:?})",
            self.object_type, self.owner, self.role, self.database
        )
    }
}

fn expand(privileges: &[String], kind: Option<ObjectType>, major: u32) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in privileges {
        let p = p.to_ascii_uppercase();
        if p == "ALL" {
            if let Some(k) = kind {
                out.extend(k.privileges(major).into_iter().map(str::to_string));
            }
        } else {
            out.insert(p);
        }
    }
    out
}

// ---- import ID ----

const ID_FIELDS: usize = 5;

fn format_id(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| encode_field(f))
        .collect::<Vec<_>>()
        .join("|")
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
    if ObjectType::parse(&object_type).is_none() {
        return Err(format!(
            "object_type {object_type:?} is not one of {}. {ID_HELP}",
            OBJECT_TYPES.join(", ")
        ));
    }
    if !privileges.is_empty() {
        // The same rules as the configuration.
        let d = validate_config(&Value::object([
            ("object_type", Value::string(&object_type)),
            (
                "privileges",
                Value::Set(privileges.iter().map(Value::string).collect()),
            ),
        ]));
        if let Some(e) = d.0.first() {
            return Err(format!("privileges field: {}. {ID_HELP}", e.detail));
        }
    }
    Ok(Spec {
        role,
        database,
        schema: (!schema.is_empty()).then_some(schema),
        owner,
        object_type,
        privileges,
        with_grant_option: false,
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
}

// A database-wide entry with no row means the built-in defaults, which give nothing to a role
// other than the owner (refused) or PUBLIC (not a role): no row is "nothing held". A row that
// exists because someone revoked the built-ins is read as it is. Only the grantee's own
// entries count, not PUBLIC's.
const OBSERVE: &str = "SELECT current_setting('server_version_num')::int4, \
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text), \
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2::text), \
       ($3::text IS NULL OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $3::text)), \
       coalesce((SELECT array_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END) \
         FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a \
         WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1::text) \
           AND d.defaclobjtype::text = $4::text \
           AND d.defaclnamespace = coalesce((SELECT oid FROM pg_namespace WHERE nspname = $3::text), 0) \
           AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2::text)), '{}')::text[]";

fn decode_err(e: &tokio_postgres::Error) -> PgError {
    PgError {
        message: format!("unexpected catalog row: {e}"),
        code: None,
    }
}

/// Connection errors carry no SQLSTATE field, only the text.
fn database_missing(e: &PgError) -> bool {
    e.is(&SqlState::INVALID_CATALOG_NAME) || e.message.contains("SQLSTATE 3D000")
}

async fn observe(pg: &Pg, spec: &Spec) -> Result<Observed, PgError> {
    let kind = spec.kind().ok_or_else(|| PgError {
        message: format!("unknown object_type {:?}", spec.object_type),
        code: None,
    })?;
    let rows = pg
        .query(
            Some(&spec.database),
            OBSERVE,
            &[
                &spec.owner,
                &spec.role,
                &spec.schema.as_deref(),
                &kind.defacl_char(),
            ],
        )
        .await?;
    let row = rows.first().ok_or_else(|| PgError {
        message: "the catalog query returned no row".into(),
        code: None,
    })?;
    let version: i32 = row.try_get(0).map_err(|e| decode_err(&e))?;
    let entries: Vec<String> = row.try_get(4).map_err(|e| decode_err(&e))?;
    let mut held = BTreeMap::new();
    for e in entries {
        let (p, grantable) = match e.strip_suffix('*') {
            Some(p) => (p.to_string(), true),
            None => (e, false),
        };
        let g = held.entry(p).or_insert(false);
        *g |= grantable;
    }
    Ok(Observed {
        major: u32::try_from(version / 10000).unwrap_or(0),
        owner_exists: row.try_get(1).map_err(|e| decode_err(&e))?,
        role_exists: row.try_get(2).map_err(|e| decode_err(&e))?,
        schema_exists: row.try_get(3).map_err(|e| decode_err(&e))?,
        held,
    })
}

impl Observed {
    fn exists(&self) -> bool {
        self.owner_exists && self.role_exists && self.schema_exists
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
    let kind = recorded.kind();
    let privileges = recorded
        .privileges
        .iter()
        .filter(|p| {
            expand(std::slice::from_ref(*p), kind, o.major)
                .iter()
                .all(|x| o.holds(x, recorded.with_grant_option))
        })
        .cloned()
        .collect();
    Spec {
        privileges,
        ..recorded.clone()
    }
}

/// An imported entry. With privileges in the ID: those, if all are held. Without: what the
/// grantee holds, as `ALL` when that is everything a type with several privileges offers.
/// `with_grant_option` is true when every imported privilege carries it.
fn imported_spec(target: &Spec, o: &Observed) -> Result<Spec, String> {
    let privileges = if target.privileges.is_empty() {
        let all = target
            .kind()
            .map(|k| k.privileges(o.major))
            .unwrap_or_default();
        if all.len() > 1 && all.iter().all(|p| o.held.contains_key(*p)) {
            vec!["ALL".to_string()]
        } else {
            o.held.keys().cloned().collect()
        }
    } else {
        target.privileges.clone()
    };
    let spec = Spec {
        privileges,
        ..target.clone()
    };
    let expanded = spec.expanded(o.major);
    let missing: Vec<&str> = expanded
        .iter()
        .filter(|p| !o.held.contains_key(*p))
        .map(String::as_str)
        .collect();
    if expanded.is_empty() || !missing.is_empty() {
        return Err(format!(
            "{} does not hold {} by default: nothing to import.",
            spec.role,
            if expanded.is_empty() {
                "any privilege".to_string()
            } else {
                missing.join(", ")
            }
        ));
    }
    Ok(Spec {
        with_grant_option: expanded.iter().all(|p| o.holds(p, true)),
        ..spec
    })
}

// ---- SQL ----

fn prefix(spec: &Spec) -> String {
    let mut s = format!(
        "ALTER DEFAULT PRIVILEGES FOR ROLE {}",
        quote_ident(&spec.owner)
    );
    if let Some(schema) = &spec.schema {
        s.push_str(&format!(" IN SCHEMA {}", quote_ident(schema)));
    }
    s
}

fn privilege_list(p: &BTreeSet<String>) -> String {
    // Only names from the validated list reach here; never identifiers.
    p.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn grant_sql(spec: &Spec, privileges: &BTreeSet<String>, kind: ObjectType) -> String {
    format!(
        "{} GRANT {} ON {} TO {}{}",
        prefix(spec),
        privilege_list(privileges),
        kind.sql(),
        quote_ident(&spec.role),
        if spec.with_grant_option {
            " WITH GRANT OPTION"
        } else {
            ""
        }
    )
}

fn revoke_sql(
    spec: &Spec,
    privileges: &BTreeSet<String>,
    kind: ObjectType,
    grant_option_only: bool,
) -> String {
    format!(
        "{} REVOKE {}{} ON {} FROM {}",
        prefix(spec),
        if grant_option_only {
            "GRANT OPTION FOR "
        } else {
            ""
        },
        privilege_list(privileges),
        kind.sql(),
        quote_ident(&spec.role)
    )
}

/// Statements turning `from` (None on create) into `to`, in one transaction. GRANT is
/// idempotent, so the whole managed set is granted every time: a skipped refresh cannot leave
/// a privilege missing.
fn apply_sql(from: Option<&Spec>, to: &Spec, major: u32) -> Vec<String> {
    let Some(kind) = to.kind() else {
        return Vec::new();
    };
    let want = to.expanded(major);
    let mut sql = Vec::new();
    if let Some(from) = from {
        let had = from.expanded(major);
        let dropped: BTreeSet<String> = had.difference(&want).cloned().collect();
        if !dropped.is_empty() {
            sql.push(revoke_sql(to, &dropped, kind, false));
        }
        if from.with_grant_option && !to.with_grant_option {
            let kept: BTreeSet<String> = had.intersection(&want).cloned().collect();
            if !kept.is_empty() {
                sql.push(revoke_sql(to, &kept, kind, true));
            }
        }
    }
    if !want.is_empty() {
        sql.push(grant_sql(to, &want, kind));
    }
    sql
}

fn delete_sql(spec: &Spec, major: u32) -> Vec<String> {
    let privileges = spec.expanded(major);
    match spec.kind() {
        Some(kind) if !privileges.is_empty() => vec![revoke_sql(spec, &privileges, kind, false)],
        _ => Vec::new(),
    }
}

// ---- permissions ----

/// What the login may do in `database` about `owner`.
struct Access {
    me: String,
    major: u32,
    can_act_for_owner: bool,
}

// ALTER DEFAULT PRIVILEGES FOR ROLE needs, up to 15, membership in owner (is_member_of_role:
// 'MEMBER'); from 16, the privileges of owner (has_privs_of_role: 'USAGE', so a membership
// WITH SET TRUE but INHERIT FALSE is not enough). Superusers pass both.
const ACCESS: &str = "SELECT current_user::text, current_setting('server_version_num')::int4, \
       coalesce((SELECT pg_has_role(current_user, r.oid, \
         CASE WHEN current_setting('server_version_num')::int4 >= 160000 THEN 'USAGE' ELSE 'MEMBER' END) \
         FROM pg_roles r WHERE r.rolname = $1::text), false)";

async fn access(pg: &Pg, spec: &Spec) -> Result<Access, PgError> {
    let rows = pg
        .query(Some(&spec.database), ACCESS, &[&spec.owner])
        .await?;
    let row = rows.first().ok_or_else(|| PgError {
        message: "the permission query returned no row".into(),
        code: None,
    })?;
    let version: i32 = row.try_get(1).map_err(|e| decode_err(&e))?;
    Ok(Access {
        me: row.try_get(0).map_err(|e| decode_err(&e))?,
        major: u32::try_from(version / 10000).unwrap_or(0),
        can_act_for_owner: row.try_get(2).map_err(|e| decode_err(&e))?,
    })
}

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

fn not_allowed(spec: &Spec, a: &Access, action: &str, cause: Option<&PgError>) -> Diagnostics {
    let requirement = if a.major >= 16 {
        "PostgreSQL 16 and later require the privileges of that role (membership WITH INHERIT \
         TRUE; SET alone is not enough)"
    } else {
        "PostgreSQL 15 and older require membership in that role"
    };
    let mut detail = String::new();
    if let Some(e) = cause {
        detail.push_str(&format!("{e}\n\n"));
    }
    detail.push_str(&format!(
        "The provider's login role {:?} may not change the default privileges of {:?}: only \
         its own, or those of roles whose privileges it has ({requirement}). The provider never \
         grants this itself. As a superuser, or as a role holding ADMIN OPTION on {:?} (on \
         Amazon RDS: the master user, if it created that role), run in any database:\n\n    {}\n\n\
         then apply again.",
        a.me,
        spec.owner,
        spec.owner,
        needed_grant(&spec.owner, &a.me, a.major),
    ));
    Diagnostic::error(
        format!(
            "Cannot {action} default privileges for role {:?}",
            spec.owner
        ),
        detail,
    )
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

/// Checks before a write: the objects exist, the server knows the privileges, and the login
/// may act for `owner`. Returns the server major.
async fn preflight(pg: &Pg, spec: &Spec, action: &str) -> Result<u32, Diagnostics> {
    let o = observe(pg, spec)
        .await
        .map_err(|e| failed(action, spec, &e))?;
    let a = access(pg, spec)
        .await
        .map_err(|e| failed(action, spec, &e))?;
    let mut d = Diagnostics::new();
    let missing = |what: &str, name: &str| {
        let place = if what == "Schema" {
            format!(" in database {:?}", spec.database)
        } else {
            String::new()
        };
        format!("{what} {name:?} does not exist{place} (names are case-sensitive).")
    };
    if !o.owner_exists {
        d.error_at(
            AttributePath::root("owner"),
            "Unknown owner",
            missing("Role", &spec.owner),
        );
    }
    if !o.role_exists {
        d.error_at(
            AttributePath::root("role"),
            "Unknown role",
            missing("Role", &spec.role),
        );
    }
    if !o.schema_exists {
        d.error_at(
            AttributePath::root("schema"),
            "Unknown schema",
            missing("Schema", spec.schema.as_deref().unwrap_or("")),
        );
    }
    if let Some(kind) = spec.kind() {
        let known = kind.privileges(o.major);
        for p in spec.expanded(o.major) {
            if !known.contains(&p.as_str()) {
                d.error_at(
                    AttributePath::root("privileges"),
                    "Privilege not supported by this server",
                    format!(
                        "{p} on {} needs a newer PostgreSQL than {}; this server knows {}.",
                        spec.object_type,
                        o.major,
                        known.join(", ")
                    ),
                );
            }
        }
    }
    if d.has_errors() {
        return Err(d);
    }
    if !a.can_act_for_owner {
        return Err(not_allowed(spec, &a, action, None));
    }
    Ok(o.major)
}

async fn write(pg: &Pg, spec: &Spec, sql: &[String], action: &str) -> Result<(), Diagnostics> {
    match pg.write(Some(&spec.database), sql).await {
        Ok(()) => Ok(()),
        Err(e) if e.is(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            // A membership revoked between the check and the write.
            match access(pg, spec).await {
                Ok(a) => Err(not_allowed(spec, &a, action, Some(&e))),
                Err(_) => Err(failed(action, spec, &e)),
            }
        }
        Err(e) => Err(failed(action, spec, &e)),
    }
}

// ---- validation ----

fn validate_name_at(d: &mut Diagnostics, config: &Value, attr: &str) {
    if let Some(s) = config.get(attr).as_str()
        && let Err(e) = validate_name(s)
    {
        d.error_at(
            AttributePath::root(attr),
            format!("Invalid {attr}"),
            format!("{s:?} {e}"),
        );
    }
}

fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    for attr in ["role", "database", "schema", "owner"] {
        validate_name_at(&mut d, config, attr);
    }
    let role = config.get("role").as_str();
    if let Some(r) = role
        && r.eq_ignore_ascii_case("public")
    {
        d.error_at(
            AttributePath::root("role"),
            "Invalid role",
            "PUBLIC is not supported as a grantee: default privileges here are for a role.",
        );
    }
    if role.is_some() && role == config.get("owner").as_str() {
        d.error_at(
            AttributePath::root("role"),
            "Invalid role",
            "role and owner are the same: an owner already holds every privilege on its own objects, and destroying this resource would revoke them.",
        );
    }
    let object_type = config.get("object_type");
    let kind = object_type.as_str().and_then(ObjectType::parse);
    if let Some(t) = object_type.as_str()
        && kind.is_none()
    {
        d.error_at(
            AttributePath::root("object_type"),
            "Invalid object_type",
            format!("{t:?} is not one of {}.", OBJECT_TYPES.join(", ")),
        );
    }
    if kind == Some(ObjectType::Schemas) && config.get("schema").as_str().is_some() {
        d.error_at(
            AttributePath::root("schema"),
            "Invalid schema",
            "default privileges on schemas are database-wide only: remove schema.",
        );
    }
    let privileges = config.get("privileges");
    let list = privileges.as_list().unwrap_or_default();
    if privileges.as_list().is_some() && list.is_empty() {
        d.error_at(
            AttributePath::root("privileges"),
            "Invalid privileges",
            "list at least one privilege (or ALL).",
        );
    }
    let known: BTreeSet<&str> = match kind {
        Some(k) => k.privileges(NEWEST_MAJOR).into_iter().collect(),
        None => OBJECT_TYPES
            .iter()
            .filter_map(|t| ObjectType::parse(t))
            .flat_map(|k| k.privileges(NEWEST_MAJOR))
            .collect(),
    };
    for (i, p) in list.iter().enumerate() {
        let Some(s) = p.as_str() else {
            continue;
        };
        let path = AttributePath::root("privileges").index(i);
        let upper = s.to_ascii_uppercase();
        if upper == "ALL" {
            if list.len() > 1 {
                d.error_at(
                    path.clone(),
                    "Invalid privileges",
                    "ALL already includes every privilege: list ALL alone.",
                );
            }
        } else if !known.contains(upper.as_str()) {
            let on = kind.map(|k| k.sql().to_ascii_lowercase());
            d.error_at(
                path.clone(),
                "Invalid privileges",
                format!(
                    "{s:?} is not a privilege on {}: use {} or ALL.",
                    on.as_deref().unwrap_or("these objects"),
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if *s != upper {
            // A set must plan exactly as configured, and import reads upper case.
            d.error_at(
                path,
                "Invalid privileges",
                format!("write privileges in upper case: {upper:?}, not {s:?}."),
            );
        }
    }
    d
}

#[async_trait]
impl Resource for PostgresDefaultPrivileges {
    fn type_name(&self) -> &'static str {
        "rdsiam_postgres_default_privileges"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "Privileges `role` receives on objects `owner` creates later: `ALTER DEFAULT \
                 PRIVILEGES FOR ROLE owner [IN SCHEMA schema] GRANT … ON TABLES TO role`. \
                 Additive: it grants, and on destroy revokes, only the privileges it lists; drift \
                 shows only for those. Read from `pg_default_acl` in `database`.\n\n\
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
                Attribute::string("role")
                    .required()
                    .requires_replace()
                    .description("The grantee, kept exactly (case, dots, `@`, quotes)."),
            )
            .attr(
                Attribute::string("database")
                    .required()
                    .requires_replace()
                    .description("The database whose default privileges are set (they are per database)."),
            )
            .attr(
                Attribute::string("schema")
                    .optional()
                    .requires_replace()
                    .description("Only objects created in this schema. Absent: database-wide (the only choice for `object_type = \"schemas\"`)."),
            )
            .attr(
                Attribute::string("owner")
                    .required()
                    .requires_replace()
                    .description("The role whose future objects are covered (`FOR ROLE owner`): the role that will create them."),
            )
            .attr(
                Attribute::string("object_type")
                    .required()
                    .requires_replace()
                    .description("`tables` (views included), `sequences`, `functions` (procedures included), `types` or `schemas`."),
            )
            .attr(
                Attribute::set_of("privileges", Type::String)
                    .required()
                    .description("Tables: SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN (PostgreSQL 17+). Sequences: USAGE, SELECT, UPDATE. Functions: EXECUTE. Types: USAGE. Schemas: USAGE, CREATE. Or `ALL`, compared as everything the server version offers. Upper case."),
            )
            .attr(
                Attribute::bool("with_grant_option")
                    .default_value(Value::bool(false))
                    .description("Grant with `WITH GRANT OPTION` (default `false`). `false` does not revoke a grant option given elsewhere."),
            ),
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    async fn modify_plan(&self, _ctx: &Ctx, _req: &PlanRequest, plan: &mut PlanResponse) {
        if !plan.planned_state.is_null()
            && let Some(id) = planned_id(&plan.planned_state)
        {
            plan.planned_state.set_attr("id", id);
        }
    }

    async fn read(&self, _ctx: &Ctx, req: ReadRequest) -> StateResponse {
        let recorded = Spec::from_value(&req.state);
        let pg = match self.pg.pg().await {
            Ok(pg) => pg,
            Err(e) => {
                return StateResponse {
                    state: req.state,
                    private: req.private,
                    diags: pg_unavailable(e),
                };
            }
        };
        match observe(&pg, &recorded).await {
            Ok(o) if o.exists() => StateResponse {
                state: observed_spec(&recorded, &o).to_value(),
                private: req.private,
                diags: Diagnostics::new(),
            },
            // Role, owner, schema or database dropped: the entry is gone with it.
            Ok(_) => StateResponse::default(),
            Err(e) if database_missing(&e) => StateResponse::default(),
            Err(e) => StateResponse {
                state: req.state,
                private: req.private,
                diags: Diagnostic::error(
                    "Cannot read default privileges",
                    format!("Reading {} failed: {e}", recorded.target()),
                )
                .into(),
            },
        }
    }

    async fn create(&self, _ctx: &Ctx, req: ApplyRequest) -> StateResponse {
        let spec = Spec::from_value(&req.planned_state);
        let pg = match self.pg.pg().await {
            Ok(pg) => pg,
            Err(e) => {
                return StateResponse {
                    diags: pg_unavailable(e),
                    ..StateResponse::default()
                };
            }
        };
        let result = async {
            let major = preflight(&pg, &spec, "create").await?;
            write(&pg, &spec, &apply_sql(None, &spec, major), "create").await
        }
        .await;
        match result {
            Ok(()) => StateResponse {
                state: spec.to_value(),
                ..StateResponse::default()
            },
            Err(diags) => StateResponse {
                diags,
                ..StateResponse::default()
            },
        }
    }

    async fn update(&self, _ctx: &Ctx, req: ApplyRequest) -> StateResponse {
        let prior = Spec::from_value(&req.prior_state);
        let spec = Spec::from_value(&req.planned_state);
        let pg = match self.pg.pg().await {
            Ok(pg) => pg,
            Err(e) => {
                return StateResponse {
                    state: req.prior_state,
                    diags: pg_unavailable(e),
                    ..StateResponse::default()
                };
            }
        };
        let result = async {
            let major = preflight(&pg, &spec, "update").await?;
            write(&pg, &spec, &apply_sql(Some(&prior), &spec, major), "update").await
        }
        .await;
        match result {
            Ok(()) => StateResponse {
                state: spec.to_value(),
                ..StateResponse::default()
            },
            Err(diags) => StateResponse {
                state: req.prior_state,
                diags,
                ..StateResponse::default()
            },
        }
    }

    async fn delete(&self, _ctx: &Ctx, req: ApplyRequest) -> Diagnostics {
        let spec = Spec::from_value(&req.prior_state);
        let pg = match self.pg.pg().await {
            Ok(pg) => pg,
            Err(e) => return pg_unavailable(e),
        };
        let o = match observe(&pg, &spec).await {
            Ok(o) => o,
            Err(e) if database_missing(&e) => return Diagnostics::new(),
            Err(e) => return failed("revoke", &spec, &e),
        };
        // Nothing to revoke when a role or the schema is gone or no managed privilege is held:
        // destroy then needs no right to act for owner.
        let sql = delete_sql(&spec, o.major);
        let holds_any = spec
            .expanded(o.major)
            .iter()
            .any(|p| o.held.contains_key(p));
        if !o.exists() || sql.is_empty() || !holds_any {
            return Diagnostics::new();
        }
        match access(&pg, &spec).await {
            Ok(a) if !a.can_act_for_owner => return not_allowed(&spec, &a, "revoke", None),
            Ok(_) => {}
            Err(e) => return failed("revoke", &spec, &e),
        }
        match write(&pg, &spec, &sql, "revoke").await {
            Ok(()) => Diagnostics::new(),
            Err(d) => d,
        }
    }

    async fn import(&self, _ctx: &Ctx, id: &str) -> ImportResponse {
        let fail = |summary: &str, detail: String| {
            let mut diags = Diagnostics::new();
            diags.error(summary, detail);
            ImportResponse {
                states: Vec::new(),
                diags,
            }
        };
        let target = match parse_id(id) {
            Ok(t) => t,
            Err(e) => return fail("Invalid import ID", e),
        };
        let pg = match self.pg.pg().await {
            Ok(pg) => pg,
            Err(e) => {
                return ImportResponse {
                    states: Vec::new(),
                    diags: pg_unavailable(e),
                };
            }
        };
        match observe(&pg, &target).await {
            Ok(o) if !o.exists() => fail(
                "Cannot import default privileges",
                format!(
                    "In database {:?}: {}.",
                    target.database,
                    [
                        (!o.owner_exists).then(|| format!("no role named {:?}", target.owner)),
                        (!o.role_exists).then(|| format!("no role named {:?}", target.role)),
                        (!o.schema_exists).then(|| format!(
                            "no schema named {:?}",
                            target.schema.as_deref().unwrap_or("")
                        )),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ")
                ),
            ),
            Ok(o) => match imported_spec(&target, &o) {
                Ok(spec) => ImportResponse {
                    states: vec![spec.to_value()],
                    diags: Diagnostics::new(),
                },
                Err(e) => fail(
                    "Cannot import default privileges",
                    format!("{e} (entry: {})", target.target()),
                ),
            },
            Err(e) => fail(
                "Cannot import default privileges",
                format!("Reading {} failed: {e}", target.target()),
            ),
        }
    }
}

fn planned_id(planned: &Value) -> Option<Value> {
    let keys = ["role", "database", "schema", "owner", "object_type"];
    Some(if keys.iter().all(|k| !planned.get(k).is_unknown()) {
        Value::string(Spec::from_value(planned).id())
    } else {
        Value::Unknown
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            role: "app_service".into(),
            database: "myapp".into(),
            schema: Some("public".into()),
            owner: "app_owner".into(),
            object_type: "tables".into(),
            privileges: vec!["SELECT".into(), "INSERT".into()],
            with_grant_option: false,
        }
    }

    fn observed(major: u32, held: &[(&str, bool)]) -> Observed {
        Observed {
            major,
            owner_exists: true,
            role_exists: true,
            schema_exists: true,
            held: held.iter().map(|(p, g)| (p.to_string(), *g)).collect(),
        }
    }

    #[test]
    fn create_sql_is_quoted() {
        let mut s = spec();
        s.owner = "Owner \"x\"".into();
        s.schema = Some("My.Schema".into());
        s.role = "mario.rossi@example.com".into();
        assert_eq!(
            apply_sql(None, &s, 17),
            vec![
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"Owner \"\"x\"\"\" IN SCHEMA \"My.Schema\" \
                 GRANT INSERT, SELECT ON TABLES TO \"mario.rossi@example.com\""
            ]
        );
        s.schema = None;
        s.with_grant_option = true;
        s.privileges = vec!["ALL".into()];
        s.object_type = "sequences".into();
        assert_eq!(
            apply_sql(None, &s, 15),
            vec![
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"Owner \"\"x\"\"\" GRANT SELECT, UPDATE, USAGE \
                 ON SEQUENCES TO \"mario.rossi@example.com\" WITH GRANT OPTION"
            ]
        );
    }

    #[test]
    fn all_expands_per_version() {
        let mut s = spec();
        s.privileges = vec!["ALL".into()];
        assert!(!s.expanded(15).contains("MAINTAIN"));
        assert!(s.expanded(17).contains("MAINTAIN"));
        assert_eq!(s.expanded(17).len(), 8);
    }

    #[test]
    fn update_revokes_only_what_left() {
        let from = Spec {
            privileges: vec!["SELECT".into(), "INSERT".into(), "DELETE".into()],
            with_grant_option: true,
            ..spec()
        };
        let to = Spec {
            privileges: vec!["SELECT".into(), "UPDATE".into()],
            ..spec()
        };
        assert_eq!(
            apply_sql(Some(&from), &to, 17),
            vec![
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_owner\" IN SCHEMA \"public\" REVOKE DELETE, INSERT ON TABLES FROM \"app_service\"",
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_owner\" IN SCHEMA \"public\" REVOKE GRANT OPTION FOR SELECT ON TABLES FROM \"app_service\"",
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_owner\" IN SCHEMA \"public\" GRANT SELECT, UPDATE ON TABLES TO \"app_service\"",
            ]
        );
        assert_eq!(
            delete_sql(&to, 17),
            vec![
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"app_owner\" IN SCHEMA \"public\" REVOKE SELECT, UPDATE ON TABLES FROM \"app_service\""
            ]
        );
    }

    #[test]
    fn read_keeps_only_held_managed_privileges() {
        let s = spec();
        // Extra privileges (from elsewhere) are not reported; a missing one is drift.
        let o = observed(17, &[("SELECT", false), ("TRUNCATE", false)]);
        assert_eq!(observed_spec(&s, &o).privileges, vec!["SELECT"]);
        let o = observed(17, &[("SELECT", false), ("INSERT", false)]);
        assert_eq!(observed_spec(&s, &o), s);
        // Grant option wanted but absent: drift.
        let g = Spec {
            with_grant_option: true,
            ..s.clone()
        };
        let o = observed(17, &[("SELECT", true), ("INSERT", false)]);
        assert_eq!(observed_spec(&g, &o).privileges, vec!["SELECT"]);
        // ALL is held only when its whole expansion for the version is.
        let all = Spec {
            privileges: vec!["ALL".into()],
            ..s
        };
        let seven: Vec<(&str, bool)> = ObjectType::Tables
            .privileges(15)
            .into_iter()
            .map(|p| (p, false))
            .collect();
        assert_eq!(
            observed_spec(&all, &observed(15, &seven)).privileges,
            vec!["ALL"]
        );
        assert!(
            observed_spec(&all, &observed(17, &seven))
                .privileges
                .is_empty()
        );
    }

    #[test]
    fn import_reads_what_is_held() {
        let t =
            parse_id("app_service|myapp|public|app_owner|tables").unwrap_or_else(|e| panic!("{e}"));
        let full: Vec<(&str, bool)> = ObjectType::Tables
            .privileges(17)
            .into_iter()
            .map(|p| (p, true))
            .collect();
        let i = imported_spec(&t, &observed(17, &full)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.privileges, vec!["ALL"]);
        assert!(i.with_grant_option);
        let held = observed(17, &[("SELECT", false), ("DELETE", true)]);
        let i = imported_spec(&t, &held).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.privileges, vec!["DELETE", "SELECT"]);
        assert!(!i.with_grant_option);
        assert!(imported_spec(&t, &observed(17, &[])).is_err());
        // Explicit privileges: exactly those, if held; the grant option of those only.
        let t = parse_id("app_service|myapp|public|app_owner|tables|DELETE")
            .unwrap_or_else(|e| panic!("{e}"));
        let i = imported_spec(&t, &held).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (i.privileges, i.with_grant_option),
            (vec!["DELETE".into()], true)
        );
        let t = parse_id("app_service|myapp|public|app_owner|tables|ALL")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(imported_spec(&t, &held).is_err());
        // A single-privilege type imports as that privilege, not ALL.
        let t =
            parse_id("app_service|myapp||app_owner|functions").unwrap_or_else(|e| panic!("{e}"));
        let i = imported_spec(&t, &observed(15, &[("EXECUTE", false)]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.privileges, vec!["EXECUTE"]);
        assert!(parse_id("a|b||d|functions|SELECT").is_err());
        assert!(parse_id("a|b||d|tables|select").is_err());
        assert_eq!(
            parse_id("a|b||d|tables|SELECT, INSERT").map(|s| s.privileges),
            Ok(vec!["SELECT".to_string(), "INSERT".to_string()])
        );
    }

    #[test]
    fn id_round_trips() {
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
                let s = Spec {
                    role: n.into(),
                    database: n.into(),
                    schema: schema.map(str::to_string),
                    owner: n.into(),
                    privileges: Vec::new(),
                    ..spec()
                };
                let id = s.id();
                assert_eq!(id.split('|').count(), 5, "{id}");
                assert_eq!(parse_id(&id), Ok(s), "{id}");
            }
        }
        assert_eq!(spec().id(), "app_service|myapp|public|app_owner|tables");
        assert_eq!(encode_field("50%|off"), "50%25%7Coff");
        // Typed by hand: upper case, quotes and `/` need no escaping.
        let s = parse_id("App\"User|my/db||Owner.X|functions").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.role, "App\"User");
        assert_eq!(s.schema, None);
        assert!(parse_id("a|b|c|d").is_err());
        assert!(parse_id("a|b|c|d|views").is_err());
        assert!(parse_id("a|b|c|d|tables|x").is_err());
        assert!(parse_id("a|b|c|d|tables|SELECT|x").is_err());
        assert!(parse_id("a%zz|b|c|d|tables").is_err());
        assert!(parse_id("|b|c|d|tables").is_err());
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter()
            .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
            .collect()
    }

    #[test]
    fn validation_names_attributes() {
        let cfg = Value::object([
            ("role", Value::string("app")),
            ("database", Value::string("")),
            ("owner", Value::string("app")),
            ("schema", Value::string("public")),
            ("object_type", Value::string("schemas")),
            (
                "privileges",
                Value::Set(vec![
                    Value::string("usage"),
                    Value::string("SELECT"),
                    Value::string("CREATE"),
                ]),
            ),
        ]);
        assert_eq!(
            paths(&validate_config(&cfg)),
            vec![
                "database",
                "role",
                "schema",
                "privileges[0]",
                "privileges[1]"
            ]
        );
        let cfg = Value::object([
            ("object_type", Value::string("views")),
            (
                "privileges",
                Value::Set(vec![Value::string("ALL"), Value::string("SELECT")]),
            ),
        ]);
        assert_eq!(
            paths(&validate_config(&cfg)),
            vec!["object_type", "privileges[0]"]
        );
        let ok = Value::object([
            ("role", Value::string("mario.rossi@example.com")),
            ("database", Value::string("myapp")),
            ("owner", Value::string("app_owner")),
            ("schema", Value::string("public")),
            ("object_type", Value::string("tables")),
            (
                "privileges",
                Value::Set(vec![Value::string("SELECT"), Value::string("MAINTAIN")]),
            ),
        ]);
        assert!(validate_config(&ok).is_empty());
        // Unknown values (from other resources) are not judged.
        let unknown = Value::object([
            ("role", Value::Unknown),
            ("owner", Value::Unknown),
            ("object_type", Value::Unknown),
            ("privileges", Value::Unknown),
        ]);
        assert!(validate_config(&unknown).is_empty());
    }

    #[test]
    fn needed_grant_depends_on_version() {
        assert_eq!(
            needed_grant("app owner", "admin", 15),
            "GRANT \"app owner\" TO \"admin\";"
        );
        assert_eq!(
            needed_grant("app_owner", "rds_like_admin", 17),
            "GRANT \"app_owner\" TO \"rds_like_admin\" WITH INHERIT TRUE, SET FALSE;"
        );
    }
}
