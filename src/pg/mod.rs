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
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, Row};
use tokio_util::sync::CancellationToken;

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
    is_transient(e) || e.code().is_some_and(concurrency_error)
}

/// The SQLSTATEs concurrency causes, which a new attempt resolves. Not `57014`
/// (query_canceled): a statement cancelled by a stop, a `statement_timeout` or an
/// administrator ends for a reason trying again does not remove.
fn concurrency_error(code: &SqlState) -> bool {
    *code == SqlState::INTERNAL_ERROR
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
}

/// Whether a write that failed before COMMIT (`retryable`: for a reason another attempt may
/// remove) is tried again after `attempt` attempts. Never once Terraform asked the provider to
/// stop: the failure may be the cancel itself, and a new attempt would wait again.
fn try_again(retryable: bool, attempt: u32, stopped: bool) -> bool {
    retryable && !stopped && attempt < WRITE_ATTEMPTS
}

const WRITE_ATTEMPTS: u32 = 6;
const READ_ATTEMPTS: u32 = 3;

/// After a stop, how long to wait for the server's answer to a cancel request and for the
/// cancelled statement to end (it ends at once unless the server is unreachable).
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// After a stop, how long to wait for the answer to a COMMIT already sent (a COMMIT is not
/// cancelled: its outcome is the server's, and knowing it beats guessing).
const COMMIT_GRACE: Duration = Duration::from_secs(2);

/// Every error a stop causes starts so.
const STOPPED: &str = "Cancelled: Terraform asked the provider to stop (Ctrl-C)";

/// The error of work a stop ended before any COMMIT was sent: nothing of it was committed.
fn stopped_before_commit(what: &str) -> PgError {
    PgError {
        message: format!("{STOPPED} while {what}; nothing was committed. Apply again to finish."),
        code: Some(SqlState::QUERY_CANCELED.code().to_string()),
    }
}

/// The error of a write a stop ended after its COMMIT was sent: the outcome is unknown
/// (SQLSTATE 08007, so a create keeps its planned state, tainted, as after a lost COMMIT).
fn stopped_after_commit(what: &str) -> PgError {
    PgError {
        message: format!(
            "{STOPPED} {what}: whether the transaction committed is unknown. The next \
             `terraform apply` reads the object and reconciles it."
        ),
        code: Some(SqlState::TRANSACTION_RESOLUTION_UNKNOWN.code().to_string()),
    }
}

/// What a stop did to a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interrupted {
    /// The stop came first: the statement was never sent.
    NotSent,
    /// The statement was running: the server was asked to cancel it.
    Cancelled,
}

impl Interrupted {
    /// `while …` of a statement in a transaction a stop ended.
    fn in_transaction(self, db: &str) -> String {
        match self {
            Interrupted::NotSent => {
                format!("a transaction in database {db:?} was open; it was rolled back")
            }
            Interrupted::Cancelled => format!(
                "a statement in database {db:?} was running (e.g. waiting for a lock another \
                 session holds); the server was asked to cancel it and the transaction was \
                 rolled back"
            ),
        }
    }
}

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
    /// Terraform asked the provider to stop: never retried, the error says what is known.
    Stopped(PgError),
}

/// A write's open transaction, as a [`Script`] sees it. Its statements end when Terraform
/// asks the provider to stop (the server is asked to cancel the running one).
pub struct Tx<'a> {
    tx: tokio_postgres::Transaction<'a>,
    db: &'a str,
    pg: &'a Pg,
    cancel: &'a CancelToken,
}

impl Tx<'_> {
    /// Runs one statement (or several, `;`-separated, without parameters).
    pub async fn execute(&self, sql: &str) -> Result<(), ScriptError> {
        // Statement text only: our SQL embeds identifiers, never secrets.
        log::debug(
            "SQL statement",
            &[("database", self.db.into()), ("sql", sql.into())],
        );
        Ok(self
            .pg
            .statement(self.cancel, self.tx.batch_execute(sql))
            .await??)
    }

    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ScriptError> {
        log::trace(
            "SQL query",
            &[("database", self.db.into()), ("sql", sql.into())],
        );
        Ok(self
            .pg
            .statement(self.cancel, self.tx.query(sql, params))
            .await??)
    }
}

/// Why a [`Script`] stopped: a database error (retried when concurrency caused it), a check
/// of what the statements did that failed (never retried), or Terraform asking the provider
/// to stop (never retried; only [`Tx`] returns it).
pub enum ScriptError {
    Db(tokio_postgres::Error),
    Check(PgError),
    Stopped(StopError),
}

/// A statement of a [`Tx`] that a stop ended (see [`ScriptError::Stopped`]).
#[derive(Debug)]
pub struct StopError(Interrupted);

impl From<Interrupted> for ScriptError {
    fn from(i: Interrupted) -> Self {
        ScriptError::Stopped(StopError(i))
    }
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
/// Clones share everything but the stop token ([`Pg::stopped_by`]).
#[derive(Clone)]
pub struct Pg {
    pub pool: Arc<Pool>,
    pub default_database: String,
    write_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Successful writes per database, so cached catalog snapshots know they are stale
    /// whichever resource wrote.
    generations: Arc<Mutex<HashMap<String, u64>>>,
    server_version: Arc<tokio::sync::OnceCell<i32>>,
    /// Fires when Terraform asks the provider to stop: every wait of this handle ends (for a
    /// connection, for another write, before a retry, for a commit's outcome) and the server
    /// is asked to cancel the running statement.
    stop: CancellationToken,
    roles: Arc<catalog::RoleCache>,
}

/// Lets resources ask the provider for PostgreSQL lazily: nothing connects until a resource
/// needs the database.
#[async_trait]
pub trait PgSource: Send + Sync {
    async fn pg(&self) -> Result<Arc<Pg>, String>;
}

impl Pg {
    /// A handle no stop ends; see [`Pg::stopped_by`].
    pub fn new(pool: Arc<Pool>, default_database: String) -> Self {
        Pg {
            pool,
            default_database,
            write_locks: Arc::default(),
            generations: Arc::default(),
            server_version: Arc::default(),
            stop: CancellationToken::new(),
            roles: Arc::default(),
        }
    }

    /// A handle on the same pool and state whose work ends when `stop` fires: the request's
    /// token, which Terraform's StopProvider cancels.
    pub fn stopped_by(&self, stop: CancellationToken) -> Pg {
        Pg {
            stop,
            ..self.clone()
        }
    }

    /// `fut`, unless the stop fires first (then `None`; checked before `fut` is polled).
    async fn unless_stopped<F: Future>(&self, fut: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => None,
            out = fut => Some(out),
        }
    }

    /// Runs `fut`, the statement(s) of the connection `cancel` belongs to. If the stop fires
    /// first, the statement is never sent; if it fires meanwhile, the server is asked to
    /// cancel it and the statement's end (its `57014`) is awaited for a moment. Either way
    /// the caller gets [`Interrupted`] and must not retry.
    async fn statement<T>(
        &self,
        cancel: &CancelToken,
        fut: impl Future<Output = T>,
    ) -> Result<T, Interrupted> {
        if self.stop.is_cancelled() {
            return Err(Interrupted::NotSent);
        }
        let mut fut = std::pin::pin!(fut);
        tokio::select! {
            out = &mut fut => return Ok(out),
            () = self.stop.cancelled() => {}
        }
        match tokio::time::timeout(CANCEL_GRACE, self.pool.cancel_query(cancel)).await {
            Ok(Ok(())) => log::debug("Asked PostgreSQL to cancel the running statement", &[]),
            Ok(Err(e)) => log::warn(
                "Cannot ask PostgreSQL to cancel the running statement",
                &[("error", e.as_str().into())],
            ),
            Err(_) => log::warn(
                "Cannot ask PostgreSQL to cancel the running statement",
                &[("error", "no answer in time".into())],
            ),
        }
        let _ = tokio::time::timeout(CANCEL_GRACE, fut).await;
        Err(Interrupted::Cancelled)
    }

    /// A connection to `db` from the pool, unless the stop fires first.
    async fn connection(&self, db: &str) -> Result<PooledClient, PgError> {
        match self.unless_stopped(self.pool.get(db)).await {
            Some(c) => Ok(c?),
            None => Err(stopped_before_commit(&format!(
                "waiting for a connection to database {db:?}"
            ))),
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
        self.connection(self.db(database)).await
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
            let cancel = client.cancel_token();
            let res = self.statement(&cancel, client.query(sql, params)).await;
            match res {
                Err(i) => {
                    client.discard();
                    return Err(PgError {
                        message: match i {
                            Interrupted::NotSent => format!("{STOPPED}; the query was not sent."),
                            Interrupted::Cancelled => format!(
                                "{STOPPED} while a query was running; the server was asked to \
                                 cancel it."
                            ),
                        },
                        code: Some(SqlState::QUERY_CANCELED.code().to_string()),
                    });
                }
                Ok(Ok(rows)) => return Ok(rows),
                Ok(Err(e)) if is_transient(&e) && !self.stop.is_cancelled() => {
                    // One dead connection means the server restarted or ended our backends:
                    // the other idle ones are most likely dead too.
                    drop(client);
                    self.pool.clear_idle();
                    last = Some(pg_error(&e));
                }
                Ok(Err(e)) => return Err(pg_error(&e)),
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
        let Some(_serial) = self.unless_stopped(lock.lock()).await else {
            return Err(stopped_before_commit(&format!(
                "waiting for another change to database {db:?} to finish"
            )));
        };
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
                        Err(WriteFailure::Stopped(e)) => Err(WriteFailure::Stopped(e)),
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
                Err(WriteFailure::Failed(e, retry))
                    if try_again(retry, attempt, self.stop.is_cancelled()) =>
                {
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
                    if self
                        .unless_stopped(tokio::time::sleep(delay))
                        .await
                        .is_none()
                    {
                        return Err(stopped_before_commit(&format!(
                            "waiting to try a transaction in database {db:?} again (it had \
                             failed: {e})"
                        )));
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(WriteFailure::Stopped(e)) => return Err(e),
                Err(WriteFailure::Failed(e, retry)) => {
                    let mut e = self.explain(e);
                    if retry && self.stop.is_cancelled() {
                        e.message.push_str(&format!(
                            "\n\nNot tried again: {}.",
                            STOPPED.trim_start_matches("Cancelled: ")
                        ));
                    }
                    return Err(e);
                }
                Err(WriteFailure::CommitLost(_, e, _)) => return Err(self.explain(e)),
            }
        }
    }

    async fn write_once<S: Script>(
        &self,
        db: &str,
        script: &S,
    ) -> Result<S::Output, WriteFailure<S::Output>> {
        // The pool already retried connecting for a while (a restarting server).
        let mut client = self
            .connection(db)
            .await
            .map_err(|e| match self.stop.is_cancelled() {
                true => WriteFailure::Stopped(e),
                false => WriteFailure::Failed(e, false),
            })?;
        let cancel = client.cancel_token();
        let res = self.transaction(&mut client, &cancel, db, script).await;
        if let Err(WriteFailure::Stopped(_)) = &res {
            // Its last statement may still be running: never hand it to another write.
            client.discard();
        }
        res
    }

    /// One attempt of a write on `client`: BEGIN, the script, the transaction id, COMMIT.
    async fn transaction<S: Script>(
        &self,
        client: &mut tokio_postgres::Client,
        cancel: &CancelToken,
        db: &str,
        script: &S,
    ) -> Result<S::Output, WriteFailure<S::Output>> {
        let failed = |e: &tokio_postgres::Error| WriteFailure::Failed(pg_error(e), is_retryable(e));
        // A transaction dropped unfinished sends ROLLBACK: a stop never leaves one open.
        let stopped =
            |i: Interrupted| WriteFailure::Stopped(stopped_before_commit(&i.in_transaction(db)));
        let tx = Tx {
            tx: self
                .statement(cancel, client.transaction())
                .await
                .map_err(stopped)?
                .map_err(|e| failed(&e))?,
            db,
            pg: self,
            cancel,
        };
        let out = match script.run(&tx).await {
            Ok(out) => out,
            Err(e) => {
                let failure = match e {
                    ScriptError::Db(e) => failed(&e),
                    ScriptError::Check(e) => WriteFailure::Failed(e, false),
                    ScriptError::Stopped(StopError(i)) => return Err(stopped(i)),
                };
                let _ = self.statement(cancel, tx.tx.rollback()).await;
                return Err(failure);
            }
        };
        // The transaction id lets us ask the server, after a connection lost during COMMIT,
        // whether the transaction committed (txid_status) instead of guessing.
        let xid: i64 = match self
            .statement(cancel, tx.tx.query_one("SELECT txid_current()", &[]))
            .await
            .map_err(stopped)?
        {
            Ok(row) => row.try_get(0).map_err(|e| failed(&e))?,
            Err(e) => {
                let _ = self.statement(cancel, tx.tx.rollback()).await;
                return Err(failed(&e));
            }
        };
        if self.stop.is_cancelled() {
            return Err(stopped(Interrupted::NotSent));
        }
        // Once sent, a COMMIT is not cancelled: wait a moment for its answer, which is the
        // truth, and say only what is known when none comes.
        let mut commit = std::pin::pin!(tx.tx.commit());
        let committed = tokio::select! {
            biased;
            r = &mut commit => r,
            () = self.stop.cancelled() => match tokio::time::timeout(COMMIT_GRACE, &mut commit).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(WriteFailure::Stopped(stopped_after_commit(&format!(
                        "after COMMIT was sent to database {db:?}, before the server answered"
                    ))));
                }
            },
        };
        match committed {
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
        let stopped = || {
            WriteFailure::Stopped(stopped_after_commit(&format!(
                "while asking the server whether a transaction in database {db:?} committed \
                 (its COMMIT had lost the connection: {})",
                lost.message
            )))
        };
        while tokio::time::Instant::now() < deadline {
            let Some(got) = self.unless_stopped(self.pool.get(db)).await else {
                return Err(stopped());
            };
            let status = match got {
                Ok(client) => {
                    let cancel = client.cancel_token();
                    let asked = self
                        .statement(&cancel, client.query_one("SELECT txid_status($1)", &[&xid]))
                        .await;
                    match asked {
                        Err(_) => {
                            client.discard();
                            return Err(stopped());
                        }
                        Ok(Ok(row)) => row
                            .try_get::<_, Option<String>>(0)
                            .map_err(|e| describe(&e)),
                        Ok(Err(e)) => Err(describe(&e)),
                    }
                }
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
            if self
                .unless_stopped(tokio::time::sleep(delay))
                .await
                .is_none()
            {
                return Err(stopped());
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use connect::{ConnectSettings, SslMode, StaticPassword};

    #[test]
    fn a_cancelled_statement_is_never_tried_again() {
        // 57014 is what the server answers a cancel request (or statement_timeout) with.
        assert!(!concurrency_error(&SqlState::QUERY_CANCELED));
        assert!(!concurrency_error(&SqlState::LOCK_NOT_AVAILABLE));
        for c in [
            SqlState::INTERNAL_ERROR,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::T_R_SERIALIZATION_FAILURE,
        ] {
            assert!(concurrency_error(&c), "{c:?}");
        }
        assert!(try_again(true, 1, false));
        assert!(!try_again(true, WRITE_ATTEMPTS, false));
        assert!(!try_again(false, 1, false));
        // Once Terraform asked the provider to stop, nothing is tried again.
        assert!(!try_again(true, 1, true));
    }

    #[test]
    fn stop_errors_say_what_is_known() {
        let before = stopped_before_commit("waiting for a connection to database \"app\"");
        assert!(
            before
                .message
                .starts_with("Cancelled: Terraform asked the provider to stop")
        );
        assert!(before.message.contains("nothing was committed"));
        assert!(before.is(&SqlState::QUERY_CANCELED));
        assert!(!before.commit_unknown());
        let after = stopped_after_commit("after COMMIT was sent");
        assert!(after.message.starts_with("Cancelled: "));
        assert!(after.message.contains("unknown"));
        assert!(!after.message.contains("nothing was committed"));
        // A create keeps its planned state (tainted), as after a COMMIT that lost its
        // connection.
        assert!(after.commit_unknown());
        let rolled_back = Interrupted::Cancelled.in_transaction("app");
        assert!(rolled_back.contains("asked to cancel") && rolled_back.contains("rolled back"));
    }

    /// A pool whose server refuses every connection (port 1): connecting retries for ~9 s.
    fn unreachable() -> Pg {
        let settings = ConnectSettings {
            host: "127.0.0.1".into(),
            hostaddr: None,
            port: 1,
            username: "nobody".into(),
            sslmode: SslMode::Disable,
            roots: crate::pg::tls::Roots::Default,
            connect_timeout: Duration::from_secs(1),
            max_connections: 1,
            statement_timeout: None,
            lock_timeout: None,
        };
        let pool = Pool::new(settings, Arc::new(StaticPassword(String::new())));
        Pg::new(pool.unwrap_or_else(|e| panic!("{e}")), "postgres".into())
    }

    #[tokio::test]
    async fn after_a_stop_nothing_starts() {
        let stop = CancellationToken::new();
        stop.cancel();
        let pg = unreachable().stopped_by(stop);
        let t = std::time::Instant::now();
        let e = pg.write(None, &["SELECT 1".into()]).await.err();
        let e = e.unwrap_or_else(|| panic!("a write succeeded after the stop"));
        assert!(e.message.starts_with(STOPPED), "{e}");
        assert!(e.message.contains("nothing was committed"), "{e}");
        let e = pg.query(None, "SELECT 1", &[]).await.err();
        assert!(e.is_some_and(|e| e.is(&SqlState::QUERY_CANCELED)));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }

    #[tokio::test]
    async fn a_stop_ends_the_reconnect_backoff() {
        let stop = CancellationToken::new();
        let pg = unreachable().stopped_by(stop.clone());
        let fire = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            fire.cancel();
        });
        let t = std::time::Instant::now();
        let e = pg.write(None, &["SELECT 1".into()]).await.err();
        let took = t.elapsed();
        let e = e.unwrap_or_else(|| panic!("connected to port 1?"));
        assert!(e.message.contains("waiting for a connection"), "{e}");
        assert!(took < Duration::from_secs(2), "the stop waited {took:?}");
        // Another handle on the same pool is not stopped: it still tries (and fails) to
        // connect, for the full backoff; only check it is not reported as cancelled.
        let other = pg.stopped_by(CancellationToken::new());
        assert!(!other.stop.is_cancelled());
    }
}
