//! `resource "rdsiam_postgres_grant"`: privileges of one role on a database, a schema, or
//! tables / sequences / routines of a schema (listed, or every one). Additive by default: it
//! grants, and on removal revokes, only the privileges it manages, so several grant resources
//! on one object never fight. `authoritative = true` also revokes whatever else the role holds
//! on the same objects. Everything is per object: the read says which objects lack what, a
//! revoke reaches every object still holding the privilege, objects the grantee owns are left
//! alone, and every write re-reads the ACLs in its transaction to check that PostgreSQL did
//! what was asked. Reads answer from a per-database catalog snapshot ([`crate::pg::catalog`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize};
use tokio_postgres::error::SqlState;

use crate::pg::catalog::{self, Catalog, OBJECTS_SQL, Object, Snapshot};
use crate::pg::ident::quote_ident;
use crate::pg::row::col;
use crate::pg::{Pg, PgError, Script, ScriptError, Tx};
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
    /// Computed: the objects in scope that differ from the configuration, a line per object and difference.
    #[serde(default)]
    drift: Maybe<Vec<String>>,
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
            drift: Maybe::Null,
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

// ---- the catalog, per object ----

/// What one object in the grant's scope gives the role.
struct Held<'a> {
    object: &'a Object,
    /// The role's own ACL entries: privilege -> grantable.
    explicit: BTreeMap<String, bool>,
    /// What PUBLIC holds (so the role does too); empty when the grantee is PUBLIC.
    public: BTreeSet<String>,
}

impl Held<'_> {
    fn usable(&self, p: &str) -> bool {
        self.explicit.contains_key(p) || self.public.contains(p)
    }

    fn grantable(&self, p: &str) -> bool {
        self.explicit.get(p) == Some(&true)
    }
}

/// The objects a grant covers. Objects the grantee owns are left out everywhere (read, GRANT,
/// REVOKE): an owner holds every privilege implicitly, and nobody else may grant or revoke
/// them. `absent`: listed names with no object of the type.
struct Scope<'a> {
    held: Vec<Held<'a>>,
    absent: Vec<String>,
}

fn scope<'a>(spec: &GrantSpec, candidates: impl IntoIterator<Item = &'a Object>) -> Scope<'a> {
    let (kinds, listed, grantee) = (spec.object_type.kinds(), spec.listed(), spec.grantee());
    let of_type: Vec<&Object> = candidates
        .into_iter()
        .filter(|o| kinds.is_empty() || kinds.contains(&o.sub.as_str()))
        .filter(|o| listed.is_empty() || listed.contains(&o.name))
        .collect();
    let absent = listed
        .iter()
        .filter(|n| !of_type.iter().any(|o| &o.name == *n))
        .cloned()
        .collect();
    let held = of_type
        .into_iter()
        .filter(|o| grantee != Some(o.owner.as_str()))
        .map(|o| Held {
            object: o,
            explicit: o.privileges_of(grantee),
            public: match grantee {
                Some(_) => o.privileges_of(None).into_keys().collect(),
                None => BTreeSet::new(),
            },
        })
        .collect();
    Scope { held, absent }
}

/// The scope's candidates in a snapshot; None when the database or the schema is gone (and
/// the grant with it).
fn in_snapshot<'a>(snap: &'a Snapshot, spec: &GrantSpec) -> Option<Vec<&'a Object>> {
    let schema = spec.schema_name();
    match spec.object_type {
        ObjectType::Database => snap.databases.get(&spec.database).map(|o| vec![o]),
        ObjectType::Schema => snap.schemas.get(schema).map(|o| vec![o]),
        ty => {
            snap.schemas.get(schema)?;
            let pool = if ty.is_routine() {
                &snap.routines
            } else {
                &snap.relations
            };
            Some(pool.get(schema).into_iter().flatten().collect())
        }
    }
}

async fn found(
    tx: &Tx<'_>,
    kind: &str,
    schema: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<Object>, ScriptError> {
    let rows = tx
        .query(OBJECTS_SQL, &[&Some(kind), &schema, &name])
        .await?;
    let objects = catalog::objects(&rows).map_err(ScriptError::Check)?;
    Ok(objects.into_iter().map(|(_, _, o)| o).collect())
}

/// The scope's candidates as the transaction sees them (see [`in_snapshot`]).
async fn in_tx(tx: &Tx<'_>, spec: &GrantSpec) -> Result<Option<Vec<Object>>, ScriptError> {
    let schema = spec.schema_name();
    let container = match spec.object_type {
        ObjectType::Database => found(tx, "d", None, Some(&spec.database)).await?,
        _ => found(tx, "n", None, Some(schema)).await?,
    };
    Ok(match spec.object_type {
        _ if container.is_empty() => None,
        ObjectType::Database | ObjectType::Schema => Some(container),
        ty => {
            let kind = if ty.is_routine() { "f" } else { "r" };
            Some(found(tx, kind, Some(schema), None).await?)
        }
    })
}

/// `app.orders`, `app.total(integer)`, or the database's or schema's name.
fn label(spec: &GrantSpec, o: &Object) -> String {
    match spec.object_type {
        ObjectType::Database | ObjectType::Schema => o.name.clone(),
        ty if ty.is_routine() => format!("{}.{}({})", spec.schema_name(), o.name, o.args),
        _ => format!("{}.{}", spec.schema_name(), o.name),
    }
}

fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The state as the catalog has it. `privileges`: the managed privileges some object holds,
/// so that removing one revokes it wherever it is left; in `authoritative` mode also every
/// other privilege some object holds explicitly, so the plan revokes it. They stay as written
/// when every object holds exactly them. `drift`: a line per object and difference.
fn observed(spec: &GrantSpec, scope: &Scope, version: i32) -> GrantSpec {
    let managed = spec.managed(version);
    let (option, authoritative) = (spec.grant_option(), spec.is_authoritative());
    let (mut somewhere, mut extra) = (BTreeSet::new(), BTreeSet::new());
    let mut option_somewhere = false;
    let mut drift: Vec<String> = scope
        .absent
        .iter()
        .map(|n| {
            let (ty, schema) = (spec.object_type.name(), spec.schema_name());
            format!("{schema}.{n} does not exist (no {ty} of that name)")
        })
        .collect();
    for h in &scope.held {
        let mut issues = Vec::new();
        let (has, lacks): (Vec<&String>, Vec<&String>) = managed.iter().partition(|p| h.usable(p));
        somewhere.extend(has.iter().map(|p| p.to_string()));
        if !lacks.is_empty() {
            issues.push(format!("lacks {}", list(lacks)));
        }
        let grantable: Vec<&String> = managed.iter().filter(|p| h.grantable(p)).collect();
        option_somewhere |= !grantable.is_empty();
        let no_option: Vec<&String> = has.into_iter().filter(|p| !h.grantable(p)).collect();
        if option && !no_option.is_empty() {
            issues.push(format!("lacks the grant option on {}", list(no_option)));
        }
        if authoritative {
            let others: Vec<&String> = h
                .explicit
                .keys()
                .filter(|p| !managed.contains(*p))
                .collect();
            extra.extend(others.iter().map(|p| p.to_string()));
            if !others.is_empty() {
                issues.push(format!("also holds {}", list(others)));
            }
            if !option && !grantable.is_empty() {
                issues.push(format!(
                    "also holds the grant option on {}",
                    list(grantable)
                ));
            }
        }
        let name = label(spec, h.object);
        drift.extend(issues.into_iter().map(|i| format!("{name} {i}")));
    }
    let unchanged = scope.held.is_empty() || (somewhere == managed && extra.is_empty());
    GrantSpec {
        privileges: Maybe::Known(if unchanged {
            spec.privileges().clone() // keeps `ALL` as written
        } else {
            somewhere.union(&extra).cloned().collect()
        }),
        with_grant_option: Maybe::Known(match () {
            _ if scope.held.is_empty() => option,
            _ => (option || authoritative) && option_somewhere,
        }),
        authoritative: Maybe::Known(authoritative),
        drift: Maybe::Known(drift),
        ..spec.clone()
    }
}

// ---- writing ----

/// `DATABASE "d"`, `SCHEMA "s"`, `TABLE "s"."a", "s"."b"`, `SEQUENCE …` or
/// `ROUTINE "s"."f"(integer, text)`: every object named, so nothing outside the scope (the
/// grantee's own objects) is touched.
fn target_sql(spec: &GrantSpec, objects: &[&Object]) -> String {
    let schema = quote_ident(spec.schema_name());
    let names = |name: &dyn Fn(&Object) -> String| {
        let names: Vec<String> = objects.iter().map(|o| name(o)).collect();
        names.join(", ")
    };
    let qualified = |o: &Object| format!("{schema}.{}", quote_ident(&o.name));
    match spec.object_type {
        ObjectType::Database => format!("DATABASE {}", names(&|o| quote_ident(&o.name))),
        ObjectType::Schema => format!("SCHEMA {}", names(&|o| quote_ident(&o.name))),
        ObjectType::Table => format!("TABLE {}", names(&qualified)),
        ObjectType::Sequence => format!("SEQUENCE {}", names(&qualified)),
        // ROUTINE names functions, aggregates and procedures alike; the argument types are
        // PostgreSQL's own rendering (format_type quotes what needs it).
        _ => format!(
            "ROUTINE {}",
            names(&|o| format!("{}({})", qualified(o), o.args))
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

#[derive(Clone, Copy)]
enum Change<'a> {
    Create(&'a GrantSpec),
    Update(&'a GrantSpec, &'a GrantSpec),
    Delete(&'a GrantSpec),
}

/// What the statements must leave on every object in scope: `want` held explicitly
/// (grantable when `option`), `gone` not held explicitly, `gone_option` not grantable.
#[derive(Debug, Default, PartialEq)]
struct Expect {
    want: BTreeSet<String>,
    option: bool,
    gone: BTreeSet<String>,
    gone_option: BTreeSet<String>,
}

impl Change<'_> {
    fn spec(&self) -> &GrantSpec {
        match *self {
            Change::Create(s) | Change::Update(_, s) | Change::Delete(s) => s,
        }
    }

    fn sql(&self, target: &str, version: i32) -> Vec<String> {
        match *self {
            Change::Create(to) => create_sql(to, target),
            Change::Update(prior, to) => update_sql(prior, to, target, version),
            Change::Delete(prior) => delete_sql(prior, target),
        }
    }

    fn expect(&self, version: i32) -> Expect {
        let spec = self.spec();
        let all: BTreeSet<String> = (spec.object_type.kind().all(major(version)).into_iter())
            .map(str::to_string)
            .collect();
        let managed = spec.managed(version);
        let others = || all.difference(&managed).cloned().collect();
        match *self {
            Change::Delete(_) if spec.is_authoritative() => Expect {
                gone: all,
                ..Expect::default()
            },
            Change::Delete(_) => Expect {
                gone: managed,
                ..Expect::default()
            },
            _ => Expect {
                gone: match *self {
                    _ if spec.is_authoritative() => others(),
                    Change::Update(prior, _) => prior.managed(version),
                    _ => BTreeSet::new(),
                }
                .difference(&managed)
                .cloned()
                .collect(),
                gone_option: match *self {
                    _ if spec.grant_option() => BTreeSet::new(),
                    Change::Update(prior, _) if prior.grant_option() => managed.clone(),
                    _ if spec.is_authoritative() => managed.clone(),
                    _ => BTreeSet::new(),
                },
                option: spec.grant_option(),
                want: managed,
            },
        }
    }
}

/// One write of a grant, inside its transaction: read the scope, run the statements on the
/// objects it names, read the ACLs again and check that PostgreSQL did what was asked (it
/// turns a GRANT or REVOKE it may not do into a warning and a no-op). Output: warnings.
struct Write<'a> {
    change: Change<'a>,
    version: i32,
}

/// What the check of one object found.
struct Finding<'a> {
    object: &'a Object,
    /// Privileges PostgreSQL did not grant, and those the role has only through PUBLIC.
    not_granted: Vec<&'a String>,
    through_public: Vec<&'a String>,
    /// Privileges (or grant options) still held after the REVOKE, and who granted them.
    left: Vec<&'a String>,
    grantors: BTreeSet<String>,
}

fn check<'a>(expect: &'a Expect, scope: &Scope<'a>, grantee: Option<&str>) -> Vec<Finding<'a>> {
    let mut out = Vec::new();
    for h in &scope.held {
        let missing =
            |p: &&String| !h.explicit.contains_key(*p) || expect.option && !h.grantable(p);
        let (through_public, not_granted): (Vec<&String>, Vec<&String>) = (expect.want.iter())
            .filter(missing)
            .partition(|p| !expect.option && h.public.contains(*p));
        let left: Vec<&String> = (expect.gone.iter())
            .filter(|p| h.explicit.contains_key(*p))
            .chain(expect.gone_option.iter().filter(|p| h.grantable(p)))
            .collect();
        let grantors = (h.object.acl.iter())
            .filter(|e| e.grantee.as_deref() == grantee && left.contains(&&e.privilege))
            .map(|e| e.grantor.clone())
            .collect();
        if !(not_granted.is_empty() && through_public.is_empty() && left.is_empty()) {
            out.push(Finding {
                object: h.object,
                not_granted,
                through_public,
                left,
                grantors,
            });
        }
    }
    out
}

impl Write<'_> {
    /// The findings in words: errors (nothing is committed) and warnings.
    fn explain(&self, findings: &[Finding], admin: &str) -> (Vec<String>, Vec<String>) {
        let spec = self.change.spec();
        let (grantee, role) = (spec.grantee_sql(), &spec.role);
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for f in findings {
            let (what, owner) = (label(spec, f.object), &f.object.owner);
            let target = target_sql(spec, &[f.object]);
            let admin_q = quote_ident(admin);
            if !f.not_granted.is_empty() {
                let p = list(f.not_granted.iter().copied());
                errors.push(format!(
                    "{what}: PostgreSQL granted nothing of {p} to {role:?}: the provider's login \
                     {admin:?} does not hold {p} there WITH GRANT OPTION (it is not the owner \
                     {owner:?} nor a member of it). As {owner:?} (or a superuser) run\n  GRANT \
                     {p} ON {target} TO {admin_q} WITH GRANT OPTION;\nthen apply again."
                ));
            }
            if !f.through_public.is_empty() {
                let p = list(f.through_public.iter().copied());
                warnings.push(format!(
                    "{what}: {role:?} holds {p} only through PUBLIC. PostgreSQL granted nothing \
                     explicitly, because the provider's login {admin:?} lacks the grant option \
                     there; the role keeps {p} as long as PUBLIC does. To grant it explicitly, \
                     as {owner:?} run GRANT {p} ON {target} TO {admin_q} WITH GRANT OPTION; and \
                     apply again."
                ));
            }
            if !f.left.is_empty() {
                let p = list(f.left.iter().copied());
                let by = list(&f.grantors);
                errors.push(format!(
                    "{what}: {role:?} still holds {p} after the REVOKE: granted by {by}, and \
                     PostgreSQL revokes only grants made by the provider's login {admin:?} (or \
                     by a role it is a member of). As {by} run\n  REVOKE {p} ON {target} FROM \
                     {grantee};\nthen apply again."
                ));
            }
        }
        (errors, warnings)
    }
}

#[async_trait]
impl Script for Write<'_> {
    type Output = Vec<String>;

    async fn run(&self, tx: &Tx<'_>) -> Result<Vec<String>, ScriptError> {
        let spec = self.change.spec();
        let deleting = matches!(self.change, Change::Delete(_));
        let Some(before) = in_tx(tx, spec).await? else {
            return match deleting {
                true => Ok(Vec::new()),
                false => Err(ScriptError::Check(container_missing(spec))),
            };
        };
        let before = scope(spec, &before);
        if !deleting && let Some(n) = before.absent.first() {
            let (ty, schema) = (spec.object_type.name(), spec.schema_name());
            return Err(ScriptError::Check(PgError {
                message: format!("no {ty} named {n:?} in schema {schema:?}"),
                code: Some(match spec.object_type.is_routine() {
                    true => SqlState::UNDEFINED_FUNCTION.code().to_string(),
                    false => SqlState::UNDEFINED_TABLE.code().to_string(),
                }),
            }));
        }
        let objects: Vec<&Object> = before.held.iter().map(|h| h.object).collect();
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        for sql in self.change.sql(&target_sql(spec, &objects), self.version) {
            tx.execute(&sql).await?;
        }
        let after = in_tx(tx, spec).await?.unwrap_or_default();
        let expect = self.change.expect(self.version);
        let findings = check(&expect, &scope(spec, &after), spec.grantee());
        if findings.is_empty() {
            return Ok(Vec::new());
        }
        let admin = tx.query("SELECT current_user::text", &[]).await?;
        let admin: String = match admin.first() {
            Some(r) => col(r, 0).map_err(ScriptError::Check)?,
            None => String::new(),
        };
        let (errors, warnings) = self.explain(&findings, &admin);
        match errors.is_empty() {
            true => Ok(warnings),
            false => Err(ScriptError::Check(PgError {
                message: format!("nothing was changed:\n{}", errors.join("\n")),
                code: None,
            })),
        }
    }
}

fn database_missing(database: &str) -> PgError {
    PgError {
        message: format!("database {database:?} does not exist"),
        code: Some(SqlState::UNDEFINED_DATABASE.code().to_string()),
    }
}

/// The database or (for every other type) the schema the grant lives in is gone.
fn container_missing(spec: &GrantSpec) -> PgError {
    match spec.object_type {
        ObjectType::Database => database_missing(&spec.database),
        _ => PgError {
            message: format!(
                "schema {:?} does not exist in database {:?}",
                spec.schema_name(),
                spec.database
            ),
            code: Some(SqlState::INVALID_SCHEMA_NAME.code().to_string()),
        },
    }
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
    /// Runs a change in the grant's database (warnings go to `op`) and forgets the database's
    /// snapshot.
    async fn write(&self, op: &mut Op<'_, Pg>, change: Change<'_>) -> Result<(), PgError> {
        let database = &change.spec().database;
        let version = self.catalog.server_version(op.db, database).await?;
        let res = op.db.run(Some(database), &Write { change, version }).await;
        self.catalog.invalidate(database);
        for w in res? {
            op.warnings.warning(
                "PostgreSQL granted less than asked; the role has it anyway",
                w,
            );
        }
        Ok(())
    }
}

#[async_trait]
impl ManagedResource for PostgresGrant {
    type Engine = Postgres;
    type Model = GrantSpec;
    const TYPE_NAME: &'static str = "rdsiam_postgres_grant";
    /// Resource identity: the import ID's fields (Terraform >= 1.12).
    const IDENTITY: &[(&str, bool)] = &[
        ("role", true),
        ("database", true),
        ("object_type", true),
        ("schema", false),
        ("objects", false),
    ];
    const PLAN_NEEDS_DB: bool = true;

    fn refine_plan(planned: &mut GrantSpec) {
        // After an apply nothing differs: drift plans as empty, so a drifted object shows.
        planned.drift = Maybe::Known(Vec::new());
    }

    /// What the server makes of the plan: privileges it lacks (an error), a database, schema
    /// or listed object that does not exist (yet), and what `authoritative` will revoke.
    async fn check_plan(
        &self,
        op: &mut Op<'_, Pg>,
        planned: &GrantSpec,
    ) -> Result<(), Diagnostics> {
        let privileges: Vec<&String> = planned.privileges().iter().collect();
        check_server_has(op.db, planned.object_type.kind(), &privileges).await?;
        let missing = |e: PgError| {
            Diagnostic::warning(
                "Grant target does not exist",
                format!("{e}: the apply fails unless it exists by then."),
            )
        };
        let snap = match self.catalog.snapshot(op.db, &planned.database).await {
            Ok(s) => s,
            Err(e) if e.database_missing() => {
                op.warnings
                    .push(missing(database_missing(&planned.database)));
                return Ok(());
            }
            Err(_) => return Ok(()), // the apply reports it
        };
        let Some(candidates) = in_snapshot(&snap, planned) else {
            op.warnings.push(missing(container_missing(planned)));
            return Ok(());
        };
        let found = scope(planned, candidates);
        if !found.absent.is_empty() {
            let (ty, schema) = (planned.object_type.name(), planned.schema_name());
            op.warnings.push(missing(PgError {
                message: format!("no {ty} named {} in schema {schema:?}", list(&found.absent)),
                code: None,
            }));
        }
        if planned.is_authoritative() {
            let drift = observed(planned, &found, snap.version).drift;
            let drift = drift.known().cloned().unwrap_or_default();
            let revoked: Vec<&String> = drift.iter().filter(|d| d.contains("also holds")).collect();
            if !revoked.is_empty() {
                op.warnings.warning(
                    "authoritative = true revokes privileges not in the configuration",
                    format!(
                        "This apply revokes from {:?} what these objects give it beyond the \
                         configuration: {}.",
                        planned.role,
                        revoked
                            .iter()
                            .map(|d| d.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                );
            }
        }
        Ok(())
    }

    fn schema() -> Schema {
        Schema::new(
            Block::new(
                "Privileges of one role on a database, a schema, or tables / sequences / \
                 functions / procedures / routines of a schema. **Additive** by default: grants, \
                 and on removal or destroy revokes, only the privileges listed here, so several \
                 grant resources on one object never fight. With `objects` omitted the grant \
                 covers every object of the type in the schema, one by one: an object that lacks \
                 a privilege — including one created later — shows in `drift` and is repaired \
                 by the next apply (use `rdsiam_postgres_default_privileges` for future \
                 objects), and a revoke reaches every object that still holds the privilege. \
                 Objects the grantee owns are left out (an owner holds every privilege \
                 implicitly). A privilege the role holds through PUBLIC counts as held. Every \
                 apply re-reads the ACLs: a GRANT or REVOKE PostgreSQL only warned about (the \
                 provider's login lacks the grant option, or another role granted the \
                 privilege) fails naming the object and the statement that fixes it; nothing is \
                 changed then.\n\nImport ID: \
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
                Attribute::list_of("drift", Type::String)
                    .computed()
                    .description("Objects in scope that differ from the configuration, a line per object and difference (`app.orders lacks INSERT`, `app.t also holds DELETE` when authoritative); empty after every apply."),
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
        let candidates = in_snapshot(&snap, &recorded);
        Ok(candidates.map(|c| observed(&recorded, &scope(&recorded, c), snap.version)))
    }

    async fn create(&self, op: &mut Op<'_, Pg>, spec: GrantSpec) -> Result<GrantSpec, CreateError> {
        // GRANT is idempotent: a failed create leaves no state and the next apply repeats it.
        let change = Change::Create(&spec);
        let done = self.write(op, change).await;
        done.map_err(|e| write_error("grant", &spec, &e))?;
        Ok(spec)
    }

    async fn update(
        &self,
        op: &mut Op<'_, Pg>,
        prior: GrantSpec,
        spec: GrantSpec,
    ) -> Result<GrantSpec, Diagnostics> {
        let done = self.write(op, Change::Update(&prior, &spec)).await;
        done.map_err(|e| write_error("update", &spec, &e))?;
        Ok(spec)
    }

    async fn delete(&self, op: &mut Op<'_, Pg>, spec: GrantSpec) -> Result<(), Diagnostics> {
        match self.write(op, Change::Delete(&spec)).await {
            // The database or the role is gone, and its privileges with it.
            Err(e) if e.database_missing() || e.is(&SqlState::UNDEFINED_OBJECT) => Ok(()),
            done => done.map_err(|e| write_error("revoke", &spec, &e)),
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
        let Some(candidates) = in_snapshot(&snap, &spec) else {
            return Err(fail(format!("{}.", container_missing(&spec))));
        };
        let found = scope(&spec, candidates);
        let on_all = |p: &str, option: bool| {
            let holds = |h: &Held| h.explicit.get(p).is_some_and(|g| *g || !option);
            !found.held.is_empty() && found.held.iter().all(holds)
        };
        if !privileges_given {
            // What every object grants the role itself (not what it has through PUBLIC).
            let all = spec.object_type.kind().all(major(snap.version));
            let held: BTreeSet<String> = (all.into_iter().filter(|p| on_all(p, false)))
                .map(str::to_string)
                .collect();
            if held.is_empty() {
                let public: BTreeSet<&String> =
                    found.held.iter().flat_map(|h| h.public.iter()).collect();
                let through = match public.is_empty() {
                    true => String::new(),
                    false => format!(
                        " It has {} through PUBLIC: name the privileges to manage in the ID \
                         (`{id}|{}`).",
                        list(public.iter().copied()),
                        list(public.iter().copied()).replace(", ", ",")
                    ),
                };
                return Err(fail(format!(
                    "{:?} is granted no privilege on every object of {id:?}.{through}",
                    spec.role
                )));
            }
            spec.privileges = Maybe::Known(held);
        }
        let managed = spec.managed(snap.version);
        spec.with_grant_option = Maybe::Known(managed.iter().all(|p| on_all(p, true)));
        Ok(vec![observed(&spec, &found, snap.version)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::catalog::AclEntry;
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
            drift: Maybe::Null,
        }
    }

    /// An object owned by `owner` whose ACL gives `(grantee, privilege, grantable)`, granted
    /// by the admin; grantee None = PUBLIC.
    fn obj(name: &str, owner: &str, acl: &[(Option<&str>, &str, bool)]) -> Object {
        let acl = acl.iter().map(|(g, p, o)| AclEntry {
            grantee: g.map(str::to_string),
            grantor: "admin".into(),
            privilege: p.to_string(),
            grantable: *o,
        });
        Object {
            name: name.into(),
            owner: owner.into(),
            sub: "r".into(),
            acl: acl.collect(),
            ..Object::default()
        }
    }

    const ME: Option<&str> = Some("mario.rossi@example.com");

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn identity_names_the_import_id() {
        let mut s = spec(ObjectType::Table, &["SELECT"]);
        crate::resources::managed::assert_identity_names_the_id::<PostgresGrant>(&s);
        s.objects = Some(vec!["a,b".into(), "c|d".into()]);
        s.role = "x%y".into();
        crate::resources::managed::assert_identity_names_the_id::<PostgresGrant>(&s);
        let mut db = spec(ObjectType::Database, &["CONNECT"]);
        db.schema = None;
        crate::resources::managed::assert_identity_names_the_id::<PostgresGrant>(&db);
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
    fn sql_is_quoted_and_names_every_object() {
        let mut s = spec(ObjectType::Table, &["SELECT", "INSERT"]);
        s.role = "a\"b".into();
        let objects = [obj("T1", "o", &[]), obj("x\"; DROP TABLE y; --", "o", &[])];
        let t = target_sql(&s, &objects.iter().collect::<Vec<_>>());
        let want = "TABLE \"public\".\"T1\", \"public\".\"x\"\"; DROP TABLE y; --\"";
        assert_eq!(t, want);
        let grant = format!("GRANT SELECT, INSERT ON {want} TO \"a\"\"b\"");
        assert_eq!(create_sql(&s, &t), vec![grant]);
        let f = spec(ObjectType::Function, &["EXECUTE"]);
        let mut overloads = [obj("f", "o", &[]), obj("f", "o", &[])];
        overloads[0].args = "integer, text".into();
        let want = "ROUTINE \"public\".\"f\"(integer, text), \"public\".\"f\"()";
        assert_eq!(target_sql(&f, &overloads.iter().collect::<Vec<_>>()), want);
        let mut d = spec(ObjectType::Database, &["CONNECT"]);
        d.role = PUBLIC.into();
        d.with_grant_option = Maybe::Known(true);
        let t = target_sql(&d, &[&obj("myapp", "o", &[])]);
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
    fn read_is_per_object_and_additive() {
        let s = spec(ObjectType::Table, &["SELECT", "INSERT"]);
        let read =
            |s: &GrantSpec, objects: &[Object], version| observed(s, &scope(s, objects), version);
        let full = obj("a", "o", &[(ME, "SELECT", false), (ME, "INSERT", false)]);
        let rich = obj(
            "b",
            "o",
            &[
                (ME, "SELECT", false),
                (ME, "INSERT", false),
                (ME, "DELETE", false),
            ],
        );
        // Unmanaged DELETE is not drift; no objects at all: nothing lacks anything.
        let o = read(&s, &[full.clone(), rich.clone()], 170_000);
        assert_eq!(
            (o.privileges(), o.drift.known()),
            (s.privileges(), Some(&vec![]))
        );
        assert_eq!(read(&s, &[], 170_000).privileges(), s.privileges());
        // A later table lacks both: the state keeps them (the others hold them, a removal must
        // revoke there) and drift names the table.
        let later = obj("later", "o", &[]);
        let o = read(&s, &[full.clone(), later.clone()], 170_000);
        assert_eq!(o.privileges(), s.privileges());
        assert_eq!(
            o.drift.known(),
            Some(&vec!["public.later lacks INSERT, SELECT".to_string()])
        );
        // One held nowhere drops out; the grantee's own table and PUBLIC's privileges count.
        let some = obj("s", "o", &[(ME, "SELECT", false)]);
        let mine = obj("mine", "mario.rossi@example.com", &[]);
        let public = obj("p", "o", &[(None, "INSERT", false), (ME, "SELECT", false)]);
        let o = read(&s, &[some.clone(), mine], 170_000);
        assert_eq!(o.privileges(), &set(&["SELECT"]));
        assert_eq!(o.drift.known().map(Vec::len), Some(1));
        let o = read(&s, &[public], 170_000);
        assert_eq!(
            (o.privileges(), o.drift.known()),
            (s.privileges(), Some(&vec![]))
        );
        // Authoritative: the extra privilege and grant option show, so the plan revokes them.
        let mut a = s.clone();
        a.authoritative = Maybe::Known(true);
        let granting = obj("g", "o", &[(ME, "SELECT", true), (ME, "INSERT", false)]);
        let o = read(&a, &[rich, granting], 170_000);
        assert_eq!(o.privileges(), &set(&["DELETE", "INSERT", "SELECT"]));
        assert!(o.grant_option());
        let drift = o.drift.known().cloned().unwrap_or_default().join("; ");
        assert!(drift.contains("public.b also holds DELETE"), "{drift}");
        assert!(
            drift.contains("public.g also holds the grant option on SELECT"),
            "{drift}"
        );
        // ALL: on 15 MAINTAIN is not part of it, on 17 it is.
        let all = spec(ObjectType::Table, &["ALL"]);
        let acl: Vec<(Option<&str>, &str, bool)> = Kind::Table
            .all(15)
            .into_iter()
            .map(|p| (ME, p, false))
            .collect();
        let held = obj("t", "o", &acl);
        assert_eq!(
            read(&all, std::slice::from_ref(&held), 150_000).privileges(),
            all.privileges()
        );
        let o = read(&all, &[held], 170_000);
        assert!(!o.privileges().contains("ALL") && !o.privileges().contains("MAINTAIN"));
        // Grant option: kept while some object has it (a change to false must revoke it).
        let mut g = s.clone();
        g.with_grant_option = Maybe::Known(true);
        let o = read(&g, &[granting_all(), full], 170_000);
        assert!(o.grant_option());
        assert!(
            format!("{:?}", o.drift).contains("public.a lacks the grant option on INSERT, SELECT")
        );
        // A state that drifted to no privileges still passes the state checks.
        let schema = PostgresGrant::schema();
        let drifted = ok(to_value(
            &spec(ObjectType::Table, &[]),
            &schema.implied_type(),
        ));
        assert!(schema.validate(&drifted).is_empty());
    }

    fn granting_all() -> Object {
        obj("all", "o", &[(ME, "SELECT", true), (ME, "INSERT", true)])
    }

    #[test]
    fn writes_are_checked_per_object() {
        let s = spec(ObjectType::Table, &["SELECT", "INSERT"]);
        // Create: the GRANT must have reached every object; through PUBLIC is a warning.
        let expect = Change::Create(&s).expect(170_000);
        assert_eq!((expect.want.len(), expect.gone.len()), (2, 0));
        let objects = [
            obj("ok", "o", &[(ME, "SELECT", false), (ME, "INSERT", false)]),
            obj("noop", "owner", &[(ME, "SELECT", false)]),
            obj(
                "public",
                "o",
                &[(ME, "SELECT", false), (None, "INSERT", false)],
            ),
        ];
        let found = check(&expect, &scope(&s, &objects), ME);
        let names: Vec<&str> = found.iter().map(|f| f.object.name.as_str()).collect();
        assert_eq!(names, ["noop", "public"]);
        assert_eq!(
            (found[0].not_granted.len(), found[1].through_public.len()),
            (1, 1)
        );
        let write = Write {
            change: Change::Create(&s),
            version: 170_000,
        };
        let (errors, warnings) = write.explain(&found, "dbadmin");
        assert_eq!((errors.len(), warnings.len()), (1, 1));
        let fix = "As \"owner\" (or a superuser) run\n  GRANT INSERT ON TABLE \"public\".\"noop\" TO \"dbadmin\" WITH GRANT OPTION;";
        assert!(
            errors[0].starts_with("public.noop: ") && errors[0].contains(fix),
            "{}",
            errors[0]
        );
        // Update dropping INSERT: left behind on one object, granted by someone else.
        let mut to = s.clone();
        to.privileges = Maybe::Known(set(&["SELECT"]));
        let expect = Change::Update(&s, &to).expect(170_000);
        assert_eq!(expect.gone, set(&["INSERT"]));
        let mut left = obj("left", "o", &[(ME, "SELECT", false), (ME, "INSERT", false)]);
        left.acl[1].grantor = "migrator".into();
        let left = [left];
        let found = check(&expect, &scope(&to, &left), ME);
        let (errors, _) = write.explain(&found, "dbadmin");
        assert!(
            errors[0].contains("granted by migrator")
                && errors[0].contains("REVOKE INSERT ON TABLE"),
            "{errors:?}"
        );
        // Destroy of an authoritative grant: nothing may be left; the grant option goes too.
        let mut a = s.clone();
        a.authoritative = Maybe::Known(true);
        assert_eq!(Change::Delete(&a).expect(150_000).gone.len(), 7);
        let mut from = s.clone();
        from.with_grant_option = Maybe::Known(true);
        assert_eq!(
            Change::Update(&from, &s).expect(150_000).gone_option.len(),
            2
        );
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
