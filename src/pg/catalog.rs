//! Catalog snapshots for cheap reads: one load per database per provider process (Terraform
//! starts one per command) answers every grant's ReadResource, so refreshing N grants costs a
//! bounded number of queries, not N. Writes through a resource invalidate the database's
//! snapshot; the next read loads it again.
//!
//! A snapshot holds, for the database it was loaded from: every database (pg_database is
//! shared), every schema, every table-like relation and sequence, and every function,
//! procedure and aggregate outside the system schemas, each with its ACL exploded per grantee.
//! A NULL ACL is read as `acldefault(…)`, so an owner's implicit privileges count as held.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use tokio_postgres::Row;

use super::{Pg, PgError};

/// One exploded ACL item. `grantee` is `None` for PUBLIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub grantee: Option<String>,
    pub grantor: String,
    pub privilege: String,
    pub grantable: bool,
}

/// A database, schema, relation or routine with its ACL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    pub name: String,
    /// The owning role (it holds every privilege implicitly).
    pub owner: String,
    /// relkind for relations, prokind for routines, empty otherwise.
    pub sub: String,
    /// Input argument types of a routine (`oidvectortypes`), as PostgreSQL prints them.
    pub args: String,
    pub acl: Vec<AclEntry>,
}

impl Object {
    /// Privileges `grantee` (None = PUBLIC) holds directly, each with its grant option.
    pub fn privileges_of(&self, grantee: Option<&str>) -> BTreeMap<String, bool> {
        let mut out = BTreeMap::new();
        for e in self.acl.iter().filter(|e| e.grantee.as_deref() == grantee) {
            let g = out.entry(e.privilege.clone()).or_insert(false);
            *g |= e.grantable;
        }
        out
    }
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// `server_version_num`, e.g. 170002.
    pub version: i32,
    /// [`Pg::write_generation`] when loading started: a later write makes it stale.
    pub generation: u64,
    pub databases: HashMap<String, Object>,
    pub schemas: HashMap<String, Object>,
    /// Relations (relkind r, v, m, f, p, S) by schema.
    pub relations: HashMap<String, Vec<Object>>,
    /// Routines (prokind f, a, w, p) by schema.
    pub routines: HashMap<String, Vec<Object>>,
}

/// Marks the query in the server log; the tests count it there.
pub const SNAPSHOT_MARKER: &str = "/* rdsiam catalog snapshot */";

/// Objects with their owner and exploded ACL, filtered by kind (`d`, `n`, `r`, `f`), schema
/// and name where `$1`, `$2`, `$3` are not NULL: the whole snapshot, or one grant's scope read
/// inside its transaction.
pub const OBJECTS_SQL: &str = "WITH objs AS ( \
  SELECT 'd'::text AS kind, ''::text AS schema, d.datname::text AS name, d.oid::int8 AS id, \
         ''::text AS sub, ''::text AS args, d.datdba AS owner, coalesce(d.datacl, acldefault('d', d.datdba)) AS acl \
    FROM pg_database d \
  UNION ALL \
  SELECT 'n', '', n.nspname::text, n.oid::int8, '', '', n.nspowner, coalesce(n.nspacl, acldefault('n', n.nspowner)) \
    FROM pg_namespace n \
  UNION ALL \
  SELECT 'r', n.nspname::text, c.relname::text, c.oid::int8, c.relkind::text, '', c.relowner, \
         coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner)) \
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
   WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') \
     AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
  UNION ALL \
  SELECT 'f', n.nspname::text, p.proname::text, p.oid::int8, p.prokind::text, \
         oidvectortypes(p.proargtypes), p.proowner, coalesce(p.proacl, acldefault('f', p.proowner)) \
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
   WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
) \
SELECT o.kind, o.schema, o.name, o.id, o.sub, o.args, \
       a.grantee = 0, g.rolname::text, a.privilege_type::text, a.is_grantable, \
       pg_get_userbyid(o.owner)::text, pg_get_userbyid(a.grantor)::text \
  FROM objs o \
  LEFT JOIN LATERAL aclexplode(o.acl) a ON true \
  LEFT JOIN pg_roles g ON g.oid = a.grantee \
 WHERE ($1::text IS NULL OR o.kind = $1) AND ($2::text IS NULL OR o.schema = $2) \
   AND ($3::text IS NULL OR o.name = $3)";

/// An object of [`OBJECTS_SQL`]'s rows: its kind (`d`, `n`, `r`, `f`), schema and itself.
pub type Found = (String, String, Object);

/// Groups [`OBJECTS_SQL`]'s rows (one per ACL entry, any order) into objects.
pub fn objects(rows: &[Row]) -> Result<Vec<Found>, PgError> {
    let mut out: Vec<Found> = Vec::new();
    let mut index: HashMap<(String, i64), usize> = HashMap::new();
    for row in rows {
        let kind: String = row.try_get(0).map_err(|e| decode(&e))?;
        let id: i64 = row.try_get(3).map_err(|e| decode(&e))?;
        let i = match index.get(&(kind.clone(), id)) {
            Some(i) => *i,
            None => {
                let obj = Object {
                    name: row.try_get(2).map_err(|e| decode(&e))?,
                    owner: row.try_get(10).map_err(|e| decode(&e))?,
                    sub: row.try_get(4).map_err(|e| decode(&e))?,
                    args: row.try_get(5).map_err(|e| decode(&e))?,
                    acl: Vec::new(),
                };
                let schema: String = row.try_get(1).map_err(|e| decode(&e))?;
                index.insert((kind.clone(), id), out.len());
                out.push((kind, schema, obj));
                out.len() - 1
            }
        };
        let privilege: Option<String> = row.try_get(8).map_err(|e| decode(&e))?;
        let Some(privilege) = privilege else {
            continue; // an empty ACL: nobody holds anything
        };
        let public: Option<bool> = row.try_get(6).map_err(|e| decode(&e))?;
        let grantee: Option<String> = row.try_get(7).map_err(|e| decode(&e))?;
        let grantable: Option<bool> = row.try_get(9).map_err(|e| decode(&e))?;
        let grantor: Option<String> = row.try_get(11).map_err(|e| decode(&e))?;
        out[i].2.acl.push(AclEntry {
            grantee: if public == Some(true) { None } else { grantee },
            grantor: grantor.unwrap_or_default(),
            privilege,
            grantable: grantable.unwrap_or(false),
        });
    }
    Ok(out)
}

static SNAPSHOT_LOADS: AtomicU64 = AtomicU64::new(0);

/// How many snapshots this process has loaded (for benchmarks and tests).
pub fn snapshot_loads() -> u64 {
    SNAPSHOT_LOADS.load(Ordering::Relaxed)
}

fn decode(e: &tokio_postgres::Error) -> PgError {
    PgError {
        message: format!("unexpected catalog row: {e}"),
        code: None,
    }
}

async fn load(pg: &Pg, database: &str) -> Result<Snapshot, PgError> {
    SNAPSHOT_LOADS.fetch_add(1, Ordering::Relaxed);
    let generation = pg.write_generation(Some(database));
    let version_rows = pg
        .query(
            Some(database),
            "SELECT current_setting('server_version_num')::int4",
            &[],
        )
        .await?;
    let version: i32 = match version_rows.first() {
        Some(r) => r.try_get(0).map_err(|e| decode(&e))?,
        None => 0,
    };
    let none: Option<&str> = None;
    let sql = format!("{SNAPSHOT_MARKER} {OBJECTS_SQL}");
    let rows = pg
        .query(Some(database), &sql, &[&none, &none, &none])
        .await?;
    let mut snap = Snapshot {
        version,
        generation,
        ..Snapshot::default()
    };
    for (kind, schema, obj) in objects(&rows)? {
        match kind.as_str() {
            "d" => {
                snap.databases.insert(obj.name.clone(), obj);
            }
            "n" => {
                snap.schemas.insert(obj.name.clone(), obj);
            }
            "r" => snap.relations.entry(schema).or_default().push(obj),
            _ => snap.routines.entry(schema).or_default().push(obj),
        }
    }
    Ok(snap)
}

type Cell = Arc<OnceCell<Arc<Snapshot>>>;

/// Per-database snapshots, shared by every resource instance of the process.
#[derive(Default)]
pub struct Catalog {
    cells: Mutex<HashMap<String, Cell>>,
    versions: Mutex<HashMap<String, i32>>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(&self, database: &str) -> Cell {
        let mut cells = match self.cells.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        cells.entry(database.to_string()).or_default().clone()
    }

    /// The snapshot of `database`, loading it once however many reads ask at the same time.
    pub async fn snapshot(&self, pg: &Pg, database: &str) -> Result<Arc<Snapshot>, PgError> {
        let cell = self.cell(database);
        let mut snap = cell
            .get_or_try_init(|| async { load(pg, database).await.map(Arc::new) })
            .await?
            .clone();
        // Written since (by any resource type): load once more.
        if snap.generation != pg.write_generation(Some(database)) {
            self.invalidate(database);
            let cell = self.cell(database);
            snap = cell
                .get_or_try_init(|| async { load(pg, database).await.map(Arc::new) })
                .await?
                .clone();
        }
        if let Ok(mut v) = self.versions.lock() {
            v.insert(database.to_string(), snap.version);
        }
        Ok(snap)
    }

    /// Forgets `database`'s snapshot (after a write); the next read loads a fresh one.
    pub fn invalidate(&self, database: &str) {
        let mut cells = match self.cells.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        cells.remove(database);
    }

    /// `server_version_num`, from any snapshot seen, else one query.
    pub async fn server_version(&self, pg: &Pg, database: &str) -> Result<i32, PgError> {
        if let Ok(v) = self.versions.lock()
            && let Some(v) = v.get(database)
        {
            return Ok(*v);
        }
        let rows = pg
            .query(
                Some(database),
                "SELECT current_setting('server_version_num')::int4",
                &[],
            )
            .await?;
        let v: i32 = match rows.first() {
            Some(r) => r.try_get(0).map_err(|e| decode(&e))?,
            None => 0,
        };
        if let Ok(mut m) = self.versions.lock() {
            m.insert(database.to_string(), v);
        }
        Ok(v)
    }
}

/// A role as pg_roles has it, with the roles it is a member of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleRow {
    pub connection_limit: i64,
    /// `rolconfig`: `name=value` settings.
    pub config: Vec<String>,
    /// LOGIN, SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS.
    pub flags: [bool; 6],
    pub member_of: Vec<MemberOf>,
}

/// One pg_auth_members row of a member (16+ keeps one per grantor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberOf {
    pub role: String,
    /// The granting role's name (its oid when that role was dropped, before 16).
    pub grantor: String,
    pub admin: bool,
    /// Always true before 16, which has neither option.
    pub inherit: bool,
    pub set: bool,
}

/// Every role of the cluster: one query answers every user, role and membership read of a
/// provider process. Stale after a write to the default database (where role DDL runs).
pub struct Roles {
    generation: u64,
    pub by_name: HashMap<String, RoleRow>,
    /// The provider's login, and the bootstrap superuser (oid 10), whose name a superuser's
    /// role grants are recorded under on 16+.
    pub current_user: String,
    pub bootstrap: String,
}

const ROLES_SQL: &str = "SELECT r.rolname::text, r.rolconnlimit::int8, \
     coalesce(r.rolconfig, '{}')::text[], ARRAY[r.rolcanlogin, r.rolsuper, r.rolcreatedb, \
     r.rolcreaterole, r.rolreplication, r.rolbypassrls], g.rolname::text, \
     coalesce(gr.rolname::text, m.grantor::text), m.admin_option, OPTIONS, current_user::text, \
     (SELECT b.rolname::text FROM pg_roles b WHERE b.oid = 10) \
     FROM pg_roles r LEFT JOIN pg_auth_members m ON m.member = r.oid \
     LEFT JOIN pg_roles g ON g.oid = m.roleid LEFT JOIN pg_roles gr ON gr.oid = m.grantor";

async fn load_roles(pg: &Pg, generation: u64) -> Result<Roles, PgError> {
    let options = match pg.server_version().await? >= 160_000 {
        true => "m.inherit_option, m.set_option",
        false => "m.roleid IS NOT NULL, m.roleid IS NOT NULL",
    };
    let rows = pg
        .query(None, &ROLES_SQL.replace("OPTIONS", options), &[])
        .await?;
    let mut by_name: HashMap<String, RoleRow> = HashMap::new();
    let (mut current_user, mut bootstrap) = (String::new(), String::new());
    for row in &rows {
        current_user = row.try_get(9).map_err(|e| decode(&e))?;
        bootstrap = row.try_get(10).map_err(|e| decode(&e))?;
        let get = |i| -> Result<Option<String>, PgError> { row.try_get(i).map_err(|e| decode(&e)) };
        let name: String = row.try_get(0).map_err(|e| decode(&e))?;
        let role = match by_name.entry(name) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let flags: Vec<bool> = row.try_get(3).map_err(|e| decode(&e))?;
                let mut f = [false; 6];
                f.iter_mut().zip(flags).for_each(|(f, x)| *f = x);
                v.insert(RoleRow {
                    connection_limit: row.try_get(1).map_err(|e| decode(&e))?,
                    config: row.try_get(2).map_err(|e| decode(&e))?,
                    flags: f,
                    member_of: Vec::new(),
                })
            }
        };
        if let Some(of) = get(4)? {
            let flag = |i| -> Result<bool, PgError> {
                let v: Option<bool> = row.try_get(i).map_err(|e| decode(&e))?;
                Ok(v.unwrap_or(false))
            };
            role.member_of.push(MemberOf {
                role: of,
                grantor: get(5)?.unwrap_or_default(),
                admin: flag(6)?,
                inherit: flag(7)?,
                set: flag(8)?,
            });
        }
    }
    Ok(Roles {
        generation,
        by_name,
        current_user,
        bootstrap,
    })
}

/// The process's [`Roles`], loaded once however many reads ask together, and again after a
/// write.
#[derive(Default)]
pub struct RoleCache(tokio::sync::Mutex<Option<Arc<Roles>>>);

impl RoleCache {
    pub async fn get(&self, pg: &Pg) -> Result<Arc<Roles>, PgError> {
        let mut cached = self.0.lock().await;
        let generation = pg.write_generation(None);
        if let Some(r) = cached.as_ref()
            && r.generation == generation
        {
            return Ok(r.clone());
        }
        let roles = Arc::new(load_roles(pg, generation).await?);
        *cached = Some(roles.clone());
        Ok(roles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_merge_grant_options_per_grantee() {
        let e = |g: Option<&str>, p: &str, o: bool| AclEntry {
            grantee: g.map(str::to_string),
            grantor: "owner".into(),
            privilege: p.into(),
            grantable: o,
        };
        let obj = Object {
            name: "t".into(),
            acl: vec![
                e(Some("app"), "SELECT", false),
                e(Some("app"), "SELECT", true), // a second grantor
                e(Some("app"), "INSERT", false),
                e(None, "SELECT", false),
                e(Some("other"), "DELETE", false),
            ],
            ..Object::default()
        };
        let app = obj.privileges_of(Some("app"));
        assert_eq!(app.get("SELECT"), Some(&true));
        assert_eq!(app.get("INSERT"), Some(&false));
        assert_eq!(app.len(), 2);
        assert_eq!(obj.privileges_of(None).len(), 1);
    }
}
