//! PostgreSQL side: quoting, connections (TLS, IAM tokens per connection, a small pool) and the
//! one way resources write: whole transactions of DDL, serialized per database and retried on
//! the errors concurrency causes.

pub mod catalog;
pub mod connect;
pub mod ident;
pub mod settings;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use connect::{Pool, PooledClient, describe, is_transient};

/// A database error with its SQLSTATE, already made readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    pub message: String,
    pub code: Option<String>,
}

impl PgError {
    pub fn is(&self, state: &SqlState) -> bool {
        self.code.as_deref() == Some(state.code())
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<connect::ConnectError> for PgError {
    fn from(e: connect::ConnectError) -> Self {
        PgError {
            message: e.0,
            code: None,
        }
    }
}

fn pg_error(e: &tokio_postgres::Error) -> PgError {
    PgError {
        message: describe(e),
        code: e.code().map(|c| c.code().to_string()),
    }
}

/// Concurrent catalog writes on one object can fail with "tuple concurrently updated"
/// (XX000) or deadlock; both succeed when simply tried again.
fn is_retryable(e: &tokio_postgres::Error) -> bool {
    is_transient(e)
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::INTERNAL_ERROR
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
        )
}

const WRITE_ATTEMPTS: u32 = 6;

/// The provider's PostgreSQL access: a pool and the database it connects to by default.
pub struct Pg {
    pub pool: Arc<Pool>,
    pub default_database: String,
    write_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Successful writes per database, so cached catalog snapshots know they are stale
    /// whichever resource wrote.
    generations: Mutex<HashMap<String, u64>>,
    server_version: tokio::sync::OnceCell<i32>,
}

/// Lets resources ask the provider for PostgreSQL lazily: nothing connects until a resource
/// needs the database.
#[async_trait]
pub trait PgSource: Send + Sync {
    async fn pg(&self) -> Result<Arc<Pg>, String>;
}

impl Pg {
    pub fn new(pool: Arc<Pool>, default_database: String) -> Self {
        Pg {
            pool,
            default_database,
            write_locks: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
            server_version: tokio::sync::OnceCell::new(),
        }
    }

    /// `server_version_num` (e.g. 170010), read once: role semantics changed in 16.
    pub async fn server_version(&self) -> Result<i32, PgError> {
        self.server_version
            .get_or_try_init(|| async {
                let rows = self
                    .query(
                        None,
                        "SELECT current_setting('server_version_num')::int4",
                        &[],
                    )
                    .await?;
                rows.first()
                    .and_then(|r| r.try_get::<_, i32>(0).ok())
                    .ok_or_else(|| PgError {
                        message: "cannot read server_version_num".into(),
                        code: None,
                    })
            })
            .await
            .copied()
    }

    fn db<'a>(&'a self, database: Option<&'a str>) -> &'a str {
        database.unwrap_or(&self.default_database)
    }

    /// How many writes to `database` have committed in this process.
    pub fn write_generation(&self, database: Option<&str>) -> u64 {
        let g = match self.generations.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.get(self.db(database)).copied().unwrap_or(0)
    }

    pub async fn client(&self, database: Option<&str>) -> Result<PooledClient, PgError> {
        Ok(self.pool.get(self.db(database)).await?)
    }

    /// Runs a read, retrying once on a connection that died while idle.
    pub async fn query(
        &self,
        database: Option<&str>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        let mut last = None;
        for _ in 0..2 {
            let client = self.client(database).await?;
            match client.query(sql, params).await {
                Ok(rows) => return Ok(rows),
                Err(e) if is_transient(&e) => last = Some(pg_error(&e)),
                Err(e) => return Err(pg_error(&e)),
            }
        }
        Err(last.unwrap_or_else(|| PgError {
            message: "query failed".into(),
            code: None,
        }))
    }

    /// Runs `statements` as one transaction in `database`: all or nothing. Writes to one
    /// database are serialized within the provider, and retried with backoff on
    /// concurrency errors and dropped connections.
    pub async fn write(
        &self,
        database: Option<&str>,
        statements: &[String],
    ) -> Result<(), PgError> {
        let db = self.db(database).to_string();
        let lock = {
            let mut locks = match self.write_locks.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            locks.entry(db.clone()).or_default().clone()
        };
        let _serial = lock.lock().await;
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self.write_once(&db, statements).await;
            match res {
                Ok(()) => {
                    let mut g = match self.generations.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    *g.entry(db).or_default() += 1;
                    return Ok(());
                }
                Err((e, retry)) if retry && attempt < WRITE_ATTEMPTS => {
                    let _ = e;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    async fn write_once(&self, db: &str, statements: &[String]) -> Result<(), (PgError, bool)> {
        let mut client = self.pool.get(db).await.map_err(|e| (e.into(), false))?;
        let tx = match client.transaction().await {
            Ok(tx) => tx,
            Err(e) => return Err((pg_error(&e), is_retryable(&e))),
        };
        for sql in statements {
            if let Err(e) = tx.batch_execute(sql).await {
                let _ = tx.rollback().await;
                return Err((pg_error(&e), is_retryable(&e)));
            }
        }
        // Never retry a failed COMMIT: the server may have committed before the connection
        // broke, and running the DDL again would fail for the wrong reason.
        tx.commit().await.map_err(|e| (pg_error(&e), false))
    }
}
