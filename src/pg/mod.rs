//! PostgreSQL side: quoting, connections (TLS, IAM tokens per connection, a small pool) and the
//! one way resources write: whole transactions of DDL, serialized per database and retried on
//! the errors concurrency causes.

pub mod catalog;
pub mod connect;
pub mod duration;
pub mod ident;
pub mod row;
pub mod settings;
pub mod tls;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::tfplugin::log;
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

    /// A write whose COMMIT lost its connection and whose outcome the server could not tell.
    pub fn commit_unknown(&self) -> bool {
        self.is(&SqlState::TRANSACTION_RESOLUTION_UNKNOWN)
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
const READ_ATTEMPTS: u32 = 3;

/// How long to keep asking whether a transaction whose COMMIT lost its connection committed
/// (a restarting server needs a few seconds before it accepts connections again).
const RESOLVE_WINDOW: Duration = Duration::from_secs(60);

/// How one attempt of a write ended, short of success.
enum WriteFailure<T> {
    /// Failed before COMMIT; `true` when trying again may succeed.
    Failed(PgError, bool),
    /// The connection broke during COMMIT: transaction `xid` may or may not have committed;
    /// the script's output is kept for when it did.
    CommitLost(i64, PgError, T),
}

/// A write's open transaction, as a [`Script`] sees it.
pub struct Tx<'a> {
    tx: tokio_postgres::Transaction<'a>,
    db: &'a str,
}

impl Tx<'_> {
    /// Runs one statement (or several, `;`-separated, without parameters).
    pub async fn execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        // Statement text only: our SQL embeds identifiers, never secrets.
        log::debug(
            "SQL statement",
            &[("database", self.db.into()), ("sql", sql.into())],
        );
        self.tx.batch_execute(sql).await
    }

    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        log::trace(
            "SQL query",
            &[("database", self.db.into()), ("sql", sql.into())],
        );
        self.tx.query(sql, params).await
    }
}

/// Why a [`Script`] stopped: a database error (retried when concurrency caused it), or a
/// check of what the statements did that failed (never retried).
pub enum ScriptError {
    Db(tokio_postgres::Error),
    Check(PgError),
}

impl From<tokio_postgres::Error> for ScriptError {
    fn from(e: tokio_postgres::Error) -> Self {
        ScriptError::Db(e)
    }
}

/// What a write runs inside its transaction: statements, and the reads that decide them or
/// check what they did (PostgreSQL turns some GRANTs and REVOKEs into a warning and a no-op).
/// An error rolls the whole transaction back. Run again on every retry.
#[async_trait]
pub trait Script: Send + Sync {
    type Output: Send;
    async fn run(&self, tx: &Tx<'_>) -> Result<Self::Output, ScriptError>;
}

/// Fixed statements, run in order.
struct Statements<'a>(&'a [String]);

#[async_trait]
impl Script for Statements<'_> {
    type Output = ();
    async fn run(&self, tx: &Tx<'_>) -> Result<(), ScriptError> {
        for sql in self.0 {
            tx.execute(sql).await?;
        }
        Ok(())
    }
}

/// The provider's PostgreSQL access: a pool and the database it connects to by default.
pub struct Pg {
    pub pool: Arc<Pool>,
    pub default_database: String,
    write_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Successful writes per database, so cached catalog snapshots know they are stale
    /// whichever resource wrote.
    generations: Mutex<HashMap<String, u64>>,
    server_version: tokio::sync::OnceCell<i32>,
    roles: catalog::RoleCache,
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
            roles: catalog::RoleCache::default(),
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

    /// Every role and membership, from one query per provider process (again after a write).
    pub async fn roles(&self) -> Result<Arc<catalog::Roles>, PgError> {
        self.roles.get(self).await
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

    /// Runs a read, retrying on a connection that died while idle (reads are safe to repeat).
    pub async fn query(
        &self,
        database: Option<&str>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        log::trace(
            "SQL query",
            &[("database", self.db(database).into()), ("sql", sql.into())],
        );
        let mut last = None;
        for _ in 0..READ_ATTEMPTS {
            let client = self.client(database).await?;
            match client.query(sql, params).await {
                Ok(rows) => return Ok(rows),
                Err(e) if is_transient(&e) => {
                    // One dead connection means the server restarted or ended our backends:
                    // the other idle ones are most likely dead too.
                    drop(client);
                    self.pool.clear_idle();
                    last = Some(pg_error(&e));
                }
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
        self.run(database, &Statements(statements)).await
    }

    /// Runs `script` as one transaction in `database`, like [`Pg::write`].
    pub async fn run<S: Script>(
        &self,
        database: Option<&str>,
        script: &S,
    ) -> Result<S::Output, PgError> {
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
            let res = match self.write_once(&db, script).await {
                Err(WriteFailure::CommitLost(xid, e, out)) => {
                    match self.resolve_commit(&db, xid, e).await {
                        Ok(()) => Ok(out),
                        Err(WriteFailure::Failed(e, retry)) => Err(WriteFailure::Failed(e, retry)),
                        Err(WriteFailure::CommitLost(_, e, ())) => {
                            Err(WriteFailure::Failed(e, false))
                        }
                    }
                }
                other => other,
            };
            match res {
                Ok(out) => {
                    let mut g = match self.generations.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    *g.entry(db).or_default() += 1;
                    return Ok(out);
                }
                Err(WriteFailure::Failed(e, retry)) if retry && attempt < WRITE_ATTEMPTS => {
                    log::warn(
                        "Retrying PostgreSQL transaction",
                        &[
                            ("database", db.as_str().into()),
                            ("attempt", attempt.into()),
                            ("sqlstate", e.code.as_deref().unwrap_or("").into()),
                            ("error", e.message.as_str().into()),
                        ],
                    );
                    self.pool.clear_idle();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(WriteFailure::Failed(e, _)) | Err(WriteFailure::CommitLost(_, e, _)) => {
                    return Err(self.explain(e));
                }
            }
        }
    }

    async fn write_once<S: Script>(
        &self,
        db: &str,
        script: &S,
    ) -> Result<S::Output, WriteFailure<S::Output>> {
        let failed = |e: &tokio_postgres::Error| WriteFailure::Failed(pg_error(e), is_retryable(e));
        // The pool already retried connecting for a while (a restarting server).
        let mut client = self
            .pool
            .get(db)
            .await
            .map_err(|e| WriteFailure::Failed(e.into(), false))?;
        let tx = Tx {
            tx: client.transaction().await.map_err(|e| failed(&e))?,
            db,
        };
        let out = match script.run(&tx).await {
            Ok(out) => out,
            Err(e) => {
                let _ = tx.tx.rollback().await;
                return Err(match e {
                    ScriptError::Db(e) => failed(&e),
                    ScriptError::Check(e) => WriteFailure::Failed(e, false),
                });
            }
        };
        // The transaction id lets us ask the server, after a connection lost during COMMIT,
        // whether the transaction committed (txid_status) instead of guessing.
        let xid: i64 = match tx.tx.query_one("SELECT txid_current()", &[]).await {
            Ok(row) => row.try_get(0).map_err(|e| failed(&e))?,
            Err(e) => {
                let _ = tx.tx.rollback().await;
                return Err(failed(&e));
            }
        };
        match tx.tx.commit().await {
            Ok(()) => {
                log::debug(
                    "PostgreSQL transaction committed",
                    &[("database", db.into())],
                );
                Ok(out)
            }
            Err(e) if is_transient(&e) => Err(WriteFailure::CommitLost(xid, pg_error(&e), out)),
            Err(e) => Err(WriteFailure::Failed(pg_error(&e), false)),
        }
    }

    /// Never blindly retry a COMMIT that lost its connection: the server may have committed
    /// before the connection broke, and running the DDL again would fail for the wrong reason
    /// ("role already exists") or apply it twice. Ask the server instead, on a new connection:
    /// committed is success, aborted is safe to retry; if the server cannot say within
    /// [`RESOLVE_WINDOW`], the error carries SQLSTATE 08007 (transaction resolution unknown).
    async fn resolve_commit(
        &self,
        db: &str,
        xid: i64,
        lost: PgError,
    ) -> Result<(), WriteFailure<()>> {
        log::warn(
            "PostgreSQL COMMIT lost its connection; asking the server whether it committed",
            &[
                ("database", db.into()),
                ("xid", xid.into()),
                ("error", lost.message.as_str().into()),
            ],
        );
        self.pool.clear_idle();
        let deadline = tokio::time::Instant::now() + RESOLVE_WINDOW;
        let mut delay = Duration::from_millis(100);
        let mut last = lost.message.clone();
        while tokio::time::Instant::now() < deadline {
            let status = match self.pool.get(db).await {
                Ok(client) => match client.query_one("SELECT txid_status($1)", &[&xid]).await {
                    Ok(row) => row
                        .try_get::<_, Option<String>>(0)
                        .map_err(|e| describe(&e)),
                    Err(e) => Err(describe(&e)),
                },
                Err(e) => Err(e.0),
            };
            match status.as_ref().map(|s| s.as_deref()) {
                Ok(Some("committed")) => return Ok(()),
                Ok(Some("aborted")) => return Err(WriteFailure::Failed(lost, true)),
                // Too old to know (wraparound): cannot happen seconds later, but never guess.
                Ok(None) => break,
                Ok(Some(_)) => {} // "in progress": the old backend is still finishing
                Err(e) => {
                    self.pool.clear_idle();
                    last = e.to_string();
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        Err(WriteFailure::CommitLost(
            xid,
            PgError {
                message: format!(
                    "the connection to PostgreSQL was lost while committing ({}), and whether \
                     the transaction committed could not be found out ({last}). Check the \
                     object in the database; `terraform apply` again reconciles it",
                    lost.message
                ),
                code: Some(SqlState::TRANSACTION_RESOLUTION_UNKNOWN.code().to_string()),
            },
            (),
        ))
    }

    /// Adds what to do about errors whose cause is outside the provider.
    fn explain(&self, mut e: PgError) -> PgError {
        if e.is(&SqlState::LOCK_NOT_AVAILABLE) {
            let timeout = self
                .pool
                .settings()
                .lock_timeout
                .clone()
                .unwrap_or_else(|| "the server's".into());
            e.message.push_str(&format!(
                "\n\nAnother session held a lock on the object (or on its catalog row, e.g. an \
                 open transaction that altered it) for longer than lock_timeout ({timeout}). \
                 Find it with SELECT pid, usename, xact_start, state, query FROM \
                 pg_stat_activity WHERE state LIKE 'idle in transaction%' OR wait_event_type = \
                 'Lock'; let it finish (or end it with pg_terminate_backend(pid)) and apply \
                 again, or raise lock_timeout in the provider's postgres block."
            ));
        }
        e
    }
}
