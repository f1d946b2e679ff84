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
/// tables / sequences of `schema` (only `objects` when not empty) — with what their ACLs give
/// `role`. Functions and procedures are not needed by these tests.
pub fn acl_per_object(
    pg: &PgCluster,
    db: &str,
    object_type: &str,
    schema: &str,
    objects: &[String],
    role: &str,
) -> Vec<ObjectAcl> {
    let names = if objects.is_empty() {
        String::new()
    } else {
        format!(
            " AND c.relname = ANY (ARRAY[{}]::text[])",
            objects
                .iter()
                .map(|o| quote_literal(o))
                .collect::<Vec<_>>()
                .join(", ")
        )
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
                 WHERE n.nspname = {} AND c.relkind IN ({kinds}){names}",
                quote_literal(schema)
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
    let show = ws.show_json();
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
/// arranges: the resource is the only thing granting its role anything on its objects, so
/// the role's explicit ACL entries on each object must be exactly the state's privileges.
///
/// Per object in scope that exists and that the role does not own (an owner holds everything
/// implicitly): every privilege the state lists is usable (explicitly or through PUBLIC),
/// every explicit entry is listed in the state, and the grant option matches
/// `with_grant_option`.
pub fn grant_state_vs_catalog(pg: &PgCluster, ws: &Workspace) -> Vec<String> {
    let major: u32 = pg.major().parse().unwrap_or(0);
    let mut diffs = Vec::new();
    for (address, v) in state_resources(ws, "rdsiam_postgres_grant") {
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
        let objects = strings(&v["objects"]);
        let acls = acl_per_object(
            pg,
            &text("database"),
            &object_type,
            &text("schema"),
            &objects,
            &text("role"),
        );
        for o in acls.iter().filter(|o| !o.owned_by_role) {
            let usable = o.usable();
            let missing: Vec<&String> = state.difference(&usable).collect();
            let unknown: Vec<&String> = o.explicit.keys().filter(|p| !state.contains(*p)).collect();
            if !missing.is_empty() || !unknown.is_empty() {
                diffs.push(format!(
                    "{address}: {}: the state says {state:?}, the catalog gives the role {:?} \
                     (PUBLIC {:?}): missing in the catalog {missing:?}, not in the state {unknown:?}",
                    o.name,
                    o.explicit.keys().collect::<Vec<_>>(),
                    o.public
                ));
            }
            let wrong_option: Vec<&String> = o
                .explicit
                .iter()
                .filter(|(p, g)| state.contains(*p) && **g != with_grant_option)
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
    let major: u32 = pg.major().parse().unwrap_or(0);
    let mut diffs = Vec::new();
    for (address, v) in state_resources(ws, "rdsiam_postgres_default_privileges") {
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
