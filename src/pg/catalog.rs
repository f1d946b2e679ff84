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

use super::{Pg, PgError};

/// One exploded ACL item. `grantee` is `None` for PUBLIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub grantee: Option<String>,
    pub privilege: String,
    pub grantable: bool,
}

/// A database, schema, relation or routine with its ACL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    pub name: String,
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

const SNAPSHOT_SQL: &str = "/* rdsiam catalog snapshot */ \
WITH objs AS ( \
  SELECT 'd'::text AS kind, ''::text AS schema, d.datname::text AS name, d.oid::int8 AS id, \
         ''::text AS sub, ''::text AS args, coalesce(d.datacl, acldefault('d', d.datdba)) AS acl \
    FROM pg_database d \
  UNION ALL \
  SELECT 'n', '', n.nspname::text, n.oid::int8, '', '', coalesce(n.nspacl, acldefault('n', n.nspowner)) \
    FROM pg_namespace n \
  UNION ALL \
  SELECT 'r', n.nspname::text, c.relname::text, c.oid::int8, c.relkind::text, '', \
         coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner)) \
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
   WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') \
     AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
  UNION ALL \
  SELECT 'f', n.nspname::text, p.proname::text, p.oid::int8, p.prokind::text, \
         oidvectortypes(p.proargtypes), coalesce(p.proacl, acldefault('f', p.proowner)) \
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
   WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
) \
SELECT o.kind, o.schema, o.name, o.id, o.sub, o.args, \
       a.grantee = 0, g.rolname::text, a.privilege_type::text, a.is_grantable \
  FROM objs o \
  LEFT JOIN LATERAL aclexplode(o.acl) a ON true \
  LEFT JOIN pg_roles g ON g.oid = a.grantee";

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
    let rows = pg.query(Some(database), SNAPSHOT_SQL, &[]).await?;
    let mut snap = Snapshot {
        version,
        generation,
        ..Snapshot::default()
    };
    // (kind, oid) -> the object being filled; rows of one object arrive in any order.
    let mut objects: HashMap<(String, i64), (String, Object)> = HashMap::new();
    for row in &rows {
        let kind: String = row.try_get(0).map_err(|e| decode(&e))?;
        let schema: String = row.try_get(1).map_err(|e| decode(&e))?;
        let id: i64 = row.try_get(3).map_err(|e| decode(&e))?;
        let obj = objects.entry((kind, id)).or_insert_with(|| {
            (
                schema,
                Object {
                    name: row.try_get(2).unwrap_or_default(),
                    sub: row.try_get(4).unwrap_or_default(),
                    args: row.try_get(5).unwrap_or_default(),
                    acl: Vec::new(),
                },
            )
        });
        let privilege: Option<String> = row.try_get(8).map_err(|e| decode(&e))?;
        let Some(privilege) = privilege else {
            continue; // an empty ACL: nobody holds anything
        };
        let public: Option<bool> = row.try_get(6).map_err(|e| decode(&e))?;
        let grantee: Option<String> = row.try_get(7).map_err(|e| decode(&e))?;
        let grantable: Option<bool> = row.try_get(9).map_err(|e| decode(&e))?;
        obj.1.acl.push(AclEntry {
            grantee: if public == Some(true) { None } else { grantee },
            privilege,
            grantable: grantable.unwrap_or(false),
        });
    }
    for ((kind, _), (schema, obj)) in objects {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_merge_grant_options_per_grantee() {
        let e = |g: Option<&str>, p: &str, o: bool| AclEntry {
            grantee: g.map(str::to_string),
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
