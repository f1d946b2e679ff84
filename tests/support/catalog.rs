//! The catalog side of the grant tests: what a role holds, per object, read with `aclexplode`
//! (a NULL ACL read as its `acldefault`), and the comparison of a Terraform state with it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::support::Workspace;
use crate::support::postgres::{PgCluster, quote_literal};

/// What one object's ACL gives a role.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectAcl {
    /// `schema.name` for relations, the name for databases and schemas.
    pub name: String,
    /// The role owns the object (it then holds every privilege implicitly).
    pub owned_by_role: bool,
    /// Entries naming the role itself: privilege -> grantable.
    pub explicit: BTreeMap<String, bool>,
    /// Privileges PUBLIC holds on the object (so the role does too).
    pub public: BTreeSet<String>,
}

impl ObjectAcl {
    /// Explicit and PUBLIC privileges: what the role can use without owning the object.
    pub fn usable(&self) -> BTreeSet<String> {
        self.explicit
            .keys()
            .cloned()
            .chain(self.public.iter().cloned())
            .collect()
    }
}

/// The objects a grant of `object_type` covers: the database `db`, the schema `schema`, or the
/// tables / sequences / routines of `schema` (only `objects` when not empty; a routine name
/// covers every overload) — with what their ACLs give `role`. Routines are named
/// `schema.name(argument types)`; `function` covers aggregates and window functions,
/// `routine` functions and procedures, as in `GRANT … ON ALL FUNCTIONS / ROUTINES`.
pub fn acl_per_object(
    pg: &PgCluster,
    db: &str,
    object_type: &str,
    schema: &str,
    objects: &[String],
    role: &str,
) -> Vec<ObjectAcl> {
    let names = |column: &str| {
        if objects.is_empty() {
            String::new()
        } else {
            format!(
                " AND {column} = ANY (ARRAY[{}]::text[])",
                objects
                    .iter()
                    .map(|o| quote_literal(o))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let objs = match object_type {
        "database" => format!(
            "SELECT d.datname::text AS name, d.datdba AS owner, \
               coalesce(d.datacl, acldefault('d', d.datdba)) AS acl \
             FROM pg_database d WHERE d.datname = {}",
            quote_literal(db)
        ),
        "schema" => format!(
            "SELECT n.nspname::text, n.nspowner, coalesce(n.nspacl, acldefault('n', n.nspowner)) \
             FROM pg_namespace n WHERE n.nspname = {}",
            quote_literal(schema)
        ),
        "table" | "sequence" => {
            let (kinds, def) = if object_type == "table" {
                ("'r', 'v', 'm', 'f', 'p'", "r")
            } else {
                ("'S'", "s")
            };
            format!(
                "SELECT n.nspname || '.' || c.relname, c.relowner, \
                   coalesce(c.relacl, acldefault('{def}', c.relowner)) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = {} AND c.relkind IN ({kinds}){}",
                quote_literal(schema),
                names("c.relname")
            )
        }
        "function" | "procedure" | "routine" => {
            let kinds = match object_type {
                "function" => "'f', 'a', 'w'",
                "procedure" => "'p'",
                _ => "'f', 'a', 'w', 'p'",
            };
            format!(
                "SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', \
                   p.proowner, coalesce(p.proacl, acldefault('f', p.proowner)) \
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = {} AND p.prokind IN ({kinds}){}",
                quote_literal(schema),
                names("p.proname")
            )
        }
        other => panic!("acl_per_object: object_type {other:?} not supported by the helper"),
    };
    let sql = format!(
        "WITH r AS (SELECT oid FROM pg_roles WHERE rolname = {role}), \
              o(name, owner, acl) AS ({objs}) \
         SELECT o.name, (o.owner = r.oid)::text, \
                CASE WHEN a.grantee IS NULL THEN '' WHEN a.grantee = 0 THEN 'public' ELSE 'role' END, \
                coalesce(a.privilege_type, ''), coalesce(a.is_grantable::text, '') \
         FROM o CROSS JOIN r \
         LEFT JOIN LATERAL aclexplode(o.acl) a ON a.grantee IN (r.oid, 0) \
         ORDER BY 1, 3, 4",
        role = quote_literal(role)
    );
    let mut out: Vec<ObjectAcl> = Vec::new();
    for line in pg.psql(db, &sql).lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 5, "acl_per_object: unexpected row {line:?}");
        if out.last().is_none_or(|o| o.name != f[0]) {
            out.push(ObjectAcl {
                name: f[0].to_string(),
                owned_by_role: f[1] == "true",
                ..ObjectAcl::default()
            });
        }
        let o = out.last_mut().expect("pushed above");
        match f[2] {
            "role" => {
                *o.explicit.entry(f[3].to_string()).or_insert(false) |= f[4] == "true";
            }
            "public" => {
                o.public.insert(f[3].to_string());
            }
            _ => {}
        }
    }
    out
}

/// Every privilege of `object_type` a server of `major` knows: what `ALL` means.
pub fn all_privileges(object_type: &str, major: u32) -> BTreeSet<String> {
    let list: &[&str] = match object_type {
        "database" => &["CREATE", "CONNECT", "TEMPORARY"],
        "schema" => &["USAGE", "CREATE"],
        "table" => &[
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "TRUNCATE",
            "REFERENCES",
            "TRIGGER",
        ],
        "sequence" => &["USAGE", "SELECT", "UPDATE"],
        "function" | "procedure" | "routine" => &["EXECUTE"],
        "type" => &["USAGE"],
        _ => &[],
    };
    let mut out: BTreeSet<String> = list.iter().map(|p| p.to_string()).collect();
    if object_type == "table" && major >= 17 {
        out.insert("MAINTAIN".into());
    }
    out
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The `values` of every resource of `type_name` in `terraform show -json`, by address.
pub fn state_resources(ws: &Workspace, type_name: &str) -> Vec<(String, Json)> {
    resources_in(&ws.show_json(), type_name)
}

/// The `values` of every managed resource of `type_name` in a `show -json` document.
fn resources_in(show: &Json, type_name: &str) -> Vec<(String, Json)> {
    show["values"]["root_module"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == type_name && r["mode"] == "managed")
        .map(|r| {
            (
                r["address"].as_str().unwrap_or_default().to_string(),
                r["values"].clone(),
            )
        })
        .collect()
}

/// Compares every `rdsiam_postgres_grant` in the state with the catalog, object by object,
/// and returns the differences (empty = they agree). Assumes what every test using it
/// arranges: the grant resources are the only thing granting their roles anything on their
/// objects, so the role's explicit ACL entries on each object must be exactly what the
/// resources covering that object (for that role) list together.
///
/// Per object in scope that exists and that the role does not own (an owner holds everything
/// implicitly): every privilege a resource lists is usable (explicitly or through PUBLIC),
/// every explicit entry is listed by a resource covering the object, and the grant option of
/// each listed privilege matches that resource's `with_grant_option`.
pub fn grant_state_vs_catalog(pg: &PgCluster, ws: &Workspace) -> Vec<String> {
    grants_vs_catalog(pg, &ws.show_json())
}

/// One object's ACL for one role, and the grant resources covering it.
struct Covered {
    acl: ObjectAcl,
    /// Address, privileges (ALL expanded), with_grant_option of each covering resource.
    by: Vec<(String, BTreeSet<String>, bool)>,
}

fn grants_vs_catalog(pg: &PgCluster, show: &Json) -> Vec<String> {
    let major: u32 = pg.major().parse().unwrap_or(0);
    // (database, role, object kind, object name) -> the object and who covers it.
    let mut objects: BTreeMap<(String, String, &str, String), Covered> = BTreeMap::new();
    let mut diffs = Vec::new();
    for (address, v) in resources_in(show, "rdsiam_postgres_grant") {
        let text = |n: &str| v[n].as_str().unwrap_or_default().to_string();
        let object_type = text("object_type");
        let mut state: BTreeSet<String> = strings(&v["privileges"]).into_iter().collect();
        if state.remove("ALL") {
            state.extend(all_privileges(&object_type, major));
        }
        let with_grant_option = v["with_grant_option"].as_bool().unwrap_or(false);
        let drift = strings(&v["drift"]);
        if !drift.is_empty() {
            diffs.push(format!(
                "{address}: drift is not empty after the apply: {drift:?}"
            ));
        }
        // Tables and sequences share pg_class, functions / procedures / routines pg_proc.
        let kind = match object_type.as_str() {
            "table" | "sequence" => "relation",
            "function" | "procedure" | "routine" => "routine",
            "database" => "database",
            _ => "schema",
        };
        let (db, role) = (text("database"), text("role"));
        let acls = acl_per_object(
            pg,
            &db,
            &object_type,
            &text("schema"),
            &strings(&v["objects"]),
            &role,
        );
        for acl in acls.into_iter().filter(|o| !o.owned_by_role) {
            let key = (db.clone(), role.clone(), kind, acl.name.clone());
            objects
                .entry(key)
                .or_insert_with(|| Covered {
                    acl,
                    by: Vec::new(),
                })
                .by
                .push((address.clone(), state.clone(), with_grant_option));
        }
    }
    for Covered { acl: o, by } in objects.values() {
        let addresses = by.iter().map(|(a, _, _)| a.as_str()).collect::<Vec<_>>();
        let state: BTreeSet<String> = by.iter().flat_map(|(_, p, _)| p.iter().cloned()).collect();
        let usable = o.usable();
        let missing: Vec<&String> = state.difference(&usable).collect();
        let unknown: Vec<&String> = o.explicit.keys().filter(|p| !state.contains(*p)).collect();
        if !missing.is_empty() || !unknown.is_empty() {
            diffs.push(format!(
                "{}: {}: the state says {state:?}, the catalog gives the role {:?} \
                 (PUBLIC {:?}): missing in the catalog {missing:?}, not in the state {unknown:?}",
                addresses.join(" + "),
                o.name,
                o.explicit.keys().collect::<Vec<_>>(),
                o.public
            ));
        }
        for (address, privileges, with_grant_option) in by {
            let wrong_option: Vec<&String> = o
                .explicit
                .iter()
                .filter(|(p, g)| privileges.contains(*p) && *g != with_grant_option)
                .map(|(p, _)| p)
                .collect();
            if !wrong_option.is_empty() {
                diffs.push(format!(
                    "{address}: {}: with_grant_option = {with_grant_option} in the state, \
                     the catalog disagrees for {wrong_option:?}",
                    o.name
                ));
            }
        }
    }
    diffs
}

/// Every grant and default-privileges resource in the state agrees with the catalog object
/// by object ([`grant_state_vs_catalog`], [`default_privileges_state_vs_catalog`]); for a test
/// that checks the re-plan itself (see [`applied`] for both).
#[track_caller]
pub fn assert_state_matches_catalog(pg: &PgCluster, ws: &Workspace, step: &str) {
    let show = ws.show_json();
    let mut diffs = grants_vs_catalog(pg, &show);
    diffs.extend(default_privileges_vs_catalog(pg, &show));
    assert!(
        diffs.is_empty(),
        "{step}: state and catalog disagree:\n{}",
        diffs.join("\n")
    );
}

/// After an apply that succeeded: every grant and default-privileges resource in the state
/// agrees with the catalog object by object ([`grant_state_vs_catalog`],
/// [`default_privileges_state_vs_catalog`]), and the re-plan is empty. `step` names the
/// test step in the failure.
#[track_caller]
pub fn applied(pg: &PgCluster, ws: &Workspace, step: &str) {
    assert_state_matches_catalog(pg, ws, step);
    let plan = ws.plan_detailed();
    assert!(
        plan.code == 0,
        "{step}: expected an empty re-plan (exit 0), got exit {}\n{plan}",
        plan.code
    );
}

/// `privilege -> grantable` of the default-ACL entry for `role` in `db` (objects `owner`
/// creates in `schema`, or database-wide when None; `objtype` as in pg_default_acl: r S f T n).
pub fn default_acl_of(
    pg: &PgCluster,
    db: &str,
    owner: &str,
    schema: Option<&str>,
    objtype: &str,
    role: &str,
) -> BTreeMap<String, bool> {
    let scope = match schema {
        Some(s) => format!(
            "d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = {})",
            quote_literal(s)
        ),
        None => "d.defaclnamespace = 0".to_string(),
    };
    let sql = format!(
        "SELECT a.privilege_type, a.is_grantable::text \
         FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a \
         WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = {owner}) \
           AND {scope} AND d.defaclobjtype = {objtype} \
           AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = {role}) ORDER BY 1",
        owner = quote_literal(owner),
        objtype = quote_literal(objtype),
        role = quote_literal(role)
    );
    pg.psql(db, &sql)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(p, g)| (p.to_string(), g == "true"))
        .collect()
}

/// Compares every `rdsiam_postgres_default_privileges` in the state with pg_default_acl:
/// the entry must hold exactly the state's privileges (the tests give the role no other
/// default privileges), with the grant option as recorded.
pub fn default_privileges_state_vs_catalog(pg: &PgCluster, ws: &Workspace) -> Vec<String> {
    default_privileges_vs_catalog(pg, &ws.show_json())
}

fn default_privileges_vs_catalog(pg: &PgCluster, show: &Json) -> Vec<String> {
    let major: u32 = pg.major().parse().unwrap_or(0);
    let mut diffs = Vec::new();
    for (address, v) in resources_in(show, "rdsiam_postgres_default_privileges") {
        let text = |n: &str| v[n].as_str().unwrap_or_default().to_string();
        let (objtype, kind) = match text("object_type").as_str() {
            "tables" => ("r", "table"),
            "sequences" => ("S", "sequence"),
            "functions" => ("f", "function"),
            "types" => ("T", "type"),
            "schemas" => ("n", "schema"),
            other => {
                diffs.push(format!("{address}: unexpected object_type {other:?}"));
                continue;
            }
        };
        let mut state: BTreeSet<String> = strings(&v["privileges"]).into_iter().collect();
        if state.remove("ALL") {
            state.extend(all_privileges(kind, major));
        }
        let grant_option = v["with_grant_option"].as_bool().unwrap_or(false);
        let catalog = default_acl_of(
            pg,
            &text("database"),
            &text("owner"),
            v["schema"].as_str(),
            objtype,
            &text("role"),
        );
        let held: BTreeSet<String> = catalog.keys().cloned().collect();
        if held != state || catalog.values().any(|g| *g != grant_option) {
            diffs.push(format!(
                "{address}: the state says {state:?} (with_grant_option = {grant_option}), \
                 pg_default_acl says {catalog:?}"
            ));
        }
    }
    diffs
}
