//! Connections to PostgreSQL the way RDS wants them: verified TLS (`tls.rs`), a fresh IAM token
//! (when configured) for every new connection, minted only once the server's certificate has
//! passed its checks, and a small pool shared by every resource of one Terraform command, never
//! holding more than `max_connections` connections across all databases.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tfplugin::log;

pub use super::tls::{Roots, SslMode};

/// Supplies the password for each new connection: a fixed one, or a freshly minted IAM token.
#[async_trait]
pub trait PasswordSource: Send + Sync {
    async fn password(&self) -> Result<String, String>;
    /// Whether passwords are IAM tokens (counted separately in [`PoolStats`]).
    fn is_token(&self) -> bool {
        false
    }
    /// The server rejected `password` (SQLSTATE 28P01). A source that may have another one by
    /// now (a rotated secret, re-read) says [`Rejected::Retry`].
    async fn rejected(&self, _password: &str) -> Rejected {
        Rejected::GiveUp(None)
    }
}

/// What [`PasswordSource::rejected`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The next `password()` gives a different password: worth one more attempt.
    Retry,
    /// No other password to try; the note (never a password) is added to the error.
    GiveUp(Option<String>),
}

pub struct StaticPassword(pub String);

#[async_trait]
impl PasswordSource for StaticPassword {
    async fn password(&self) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

#[derive(Clone)]
pub struct ConnectSettings {
    pub host: String,
    pub hostaddr: Option<std::net::IpAddr>,
    pub port: u16,
    pub username: String,
    pub sslmode: SslMode,
    /// The CA certificates the server certificate is checked against.
    pub roots: Roots,
    pub connect_timeout: Duration,
    pub max_connections: usize,
    /// Session settings for the provider's own connections, e.g. `30s`.
    pub statement_timeout: Option<String>,
    pub lock_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError(pub String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// Counters for benchmarks and tests: connections opened, tokens minted.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub connections_opened: AtomicU64,
    pub tokens_minted: AtomicU64,
}

type Idle = Vec<(Client, OwnedSemaphorePermit)>;

/// One pool per provider process; connections are per database.
pub struct Pool {
    settings: ConnectSettings,
    password: Arc<dyn PasswordSource>,
    tls: Option<MakeRustlsConnect>,
    permits: Arc<Semaphore>,
    idle: Mutex<HashMap<String, Idle>>,
    /// Wakes tasks waiting for a connection when one goes back to the idle list (idle
    /// connections keep their permit, so the semaphore alone would never wake them).
    returned: tokio::sync::Notify,
    pub stats: PoolStats,
    /// Benchmark hook (`RDSIAM_STATS_FILE`): a JSON line per new connection with the running
    /// counts, so a harness can see what each provider process did.
    stats_file: Option<std::path::PathBuf>,
}

/// A connection borrowed from the pool; goes back to it when dropped (unless broken).
pub struct PooledClient {
    client: Option<(Client, OwnedSemaphorePermit)>,
    database: String,
    pool: Arc<Pool>,
}

impl std::ops::Deref for PooledClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present from construction until drop.
        match &self.client {
            Some((c, _)) => c,
            None => unreachable!("pooled client used after drop"),
        }
    }
}

impl std::ops::DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.client {
            Some((c, _)) => c,
            None => unreachable!("pooled client used after drop"),
        }
    }
}

impl PooledClient {
    /// Closes the connection instead of returning it to the pool: after a stop its last
    /// statement may still be running (requests already queued, e.g. a ROLLBACK, are still
    /// sent before the connection ends).
    pub fn discard(mut self) {
        self.client = None;
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some((client, permit)) = self.client.take()
            && !client.is_closed()
        {
            let mut idle = lock(&self.pool.idle);
            idle.entry(std::mem::take(&mut self.database))
                .or_default()
                .push((client, permit));
            drop(idle);
            self.pool.returned.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Socket errors of a server restarting or a connection dropped: worth another attempt.
fn transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::TimedOut
    )
}

/// Errors worth another attempt: the server restarting, too busy, or a dropped connection.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        return [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::CONNECTION_FAILURE,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
        ]
        .contains(code);
    }
    if e.is_closed() {
        return true;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return transient_io(io.kind());
        }
        src = s.source();
    }
    false
}

/// A readable one-line description of a tokio-postgres error (the Display of
/// tokio_postgres::Error alone is often just "db error").
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(": ");
            s.push_str(d);
        }
        if let Some(h) = db.hint() {
            s.push_str(" Hint: ");
            s.push_str(h);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// Connection attempts on transient errors, with backoff up to 2 s: about 9 s in all, long
/// enough for a server restart (`pg_ctl restart -m fast`) in the middle of an apply.
const ATTEMPTS: u32 = 8;

impl Pool {
    pub fn new(
        settings: ConnectSettings,
        password: Arc<dyn PasswordSource>,
    ) -> Result<Arc<Pool>, ConnectError> {
        let tls = match settings.sslmode {
            SslMode::Disable => None,
            mode => Some(MakeRustlsConnect::new(client_tls_config(
                mode,
                &settings.roots,
            )?)),
        };
        let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
        Ok(Arc::new(Pool {
            settings,
            password,
            tls,
            permits,
            idle: Mutex::new(HashMap::new()),
            returned: tokio::sync::Notify::new(),
            stats: PoolStats::default(),
            stats_file: std::env::var_os("RDSIAM_STATS_FILE").map(Into::into),
        }))
    }

    pub fn settings(&self) -> &ConnectSettings {
        &self.settings
    }

    /// A connection to `database`, reusing an idle one when possible.
    pub async fn get(self: &Arc<Self>, database: &str) -> Result<PooledClient, ConnectError> {
        loop {
            if let Some(c) = self.take_idle(database) {
                return Ok(self.wrap(c, database));
            }
            let permit = match self.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    // Full: close an idle connection to another database, or wait for a
                    // connection to come back or to close.
                    if self.evict_other(database) {
                        continue;
                    }
                    let returned = self.returned.notified();
                    tokio::select! {
                        p = self.permits.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => return Err(ConnectError("connection pool closed".into())),
                        },
                        () = returned => continue,
                    }
                }
            };
            // Another task may have returned a connection while we waited.
            if let Some(c) = self.take_idle(database) {
                drop(permit);
                return Ok(self.wrap(c, database));
            }
            let client = self.connect_with_retry(database).await?;
            return Ok(self.wrap((client, permit), database));
        }
    }

    fn wrap(self: &Arc<Self>, c: (Client, OwnedSemaphorePermit), database: &str) -> PooledClient {
        PooledClient {
            client: Some(c),
            database: database.to_string(),
            pool: self.clone(),
        }
    }

    fn take_idle(&self, database: &str) -> Option<(Client, OwnedSemaphorePermit)> {
        let mut idle = lock(&self.idle);
        let list = idle.get_mut(database)?;
        while let Some(c) = list.pop() {
            if !c.0.is_closed() {
                return Some(c);
            }
        }
        None
    }

    fn evict_other(&self, database: &str) -> bool {
        let mut idle = lock(&self.idle);
        for (db, list) in idle.iter_mut() {
            if db != database && list.pop().is_some() {
                return true;
            }
        }
        false
    }

    /// Drops every idle connection (e.g. after the server restarted).
    pub fn clear_idle(&self) {
        lock(&self.idle).clear();
    }

    async fn connect_with_retry(&self, database: &str) -> Result<Client, ConnectError> {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.connect_once(database).await {
                Ok(c) => return Ok(c),
                Err((msg, transient)) => {
                    last = msg;
                    if !transient || attempt == ATTEMPTS {
                        break;
                    }
                    log::warn(
                        "PostgreSQL connection failed; reconnecting",
                        &[
                            ("host", self.settings.host.as_str().into()),
                            ("port", self.settings.port.into()),
                            ("database", database.into()),
                            ("attempt", attempt.into()),
                            ("retry_in_ms", delay.as_millis().into()),
                            ("error", last.as_str().into()),
                        ],
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        let via = match self.settings.hostaddr {
            Some(ip) => format!(" (address {ip})"),
            None => String::new(),
        };
        Err(ConnectError(format!(
            "cannot connect to PostgreSQL at {}:{}{via} (database {:?}, user {:?}, sslmode {}): {last}",
            self.settings.host,
            self.settings.port,
            database,
            self.settings.username,
            self.settings.sslmode.as_str()
        )))
    }

    async fn password(&self) -> Result<String, (String, bool)> {
        let password = self.password.password().await.map_err(|e| (e, false))?;
        if self.password.is_token() {
            self.stats.tokens_minted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(password)
    }

    /// A refused login and whether to try again: a password the server rejected is worth one
    /// more attempt when its source read a new one (a rotated secret).
    async fn login_failed(&self, e: &tokio_postgres::Error, password: &str) -> (String, bool) {
        if e.code() != Some(&SqlState::INVALID_PASSWORD) {
            return (describe(e), is_transient(e));
        }
        match self.password.rejected(password).await {
            Rejected::Retry => (describe(e), true),
            Rejected::GiveUp(None) => (describe(e), false),
            Rejected::GiveUp(Some(note)) => (format!("{}; {note}", describe(e)), false),
        }
    }

    /// One attempt; the error says whether retrying may help.
    async fn connect_once(&self, database: &str) -> Result<Client, (String, bool)> {
        let s = &self.settings;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&s.host);
        if let Some(ip) = s.hostaddr {
            cfg.hostaddr(ip);
        }
        cfg.port(s.port)
            .user(&s.username)
            .dbname(database)
            .application_name("terraform-provider-rdsiam")
            .connect_timeout(s.connect_timeout);
        let mut options = Vec::new();
        if let Some(t) = &s.statement_timeout {
            options.push(format!("-c statement_timeout={t}"));
        }
        if let Some(t) = &s.lock_timeout {
            options.push(format!("-c lock_timeout={t}"));
        }
        if !options.is_empty() {
            cfg.options(options.join(" "));
        }
        let client = match &self.tls {
            Some(_) => {
                let stream = self.open_tls().await?;
                // Only now, with the server's certificate checked, is the password read or
                // the IAM token minted: nothing of it exists before the handshake passed.
                let password = self.password().await?;
                cfg.password(&password);
                // TLS is already up: tokio-postgres takes the stream as it is (a "direct" TLS
                // negotiation whose handshake is the stream itself), and still gets its
                // certificate for SCRAM channel binding.
                cfg.ssl_mode(tokio_postgres::config::SslMode::Require)
                    .ssl_negotiation(tokio_postgres::config::SslNegotiation::Direct);
                let login =
                    tokio::time::timeout(s.connect_timeout, cfg.connect_raw(stream, Established));
                match login.await {
                    Ok(Ok((client, conn))) => {
                        drive(conn, s, database);
                        client
                    }
                    Ok(Err(e)) => return Err(self.login_failed(&e, &password).await),
                    Err(_) => {
                        return Err((
                            format!(
                                "the server did not complete the login within {} s (connect_timeout)",
                                s.connect_timeout.as_secs()
                            ),
                            true,
                        ));
                    }
                }
            }
            None => {
                let password = self.password().await?;
                cfg.password(&password);
                cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
                match cfg.connect(tokio_postgres::NoTls).await {
                    Ok((client, conn)) => {
                        drive(conn, s, database);
                        client
                    }
                    Err(e) => return Err(self.login_failed(&e, &password).await),
                }
            }
        };
        self.stats
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        self.record_stats();
        // Never the password or token.
        log::debug(
            "PostgreSQL connection opened",
            &[
                ("host", s.host.as_str().into()),
                ("port", s.port.into()),
                ("user", s.username.as_str().into()),
                ("database", database.into()),
                ("sslmode", s.sslmode.as_str().into()),
                ("iam_auth", self.password.is_token().into()),
            ],
        );
        Ok(client)
    }

    /// A TLS connection to the server whose certificate passed every check of the sslmode,
    /// before anything of ours (startup message, user name, password) was sent: TCP, the
    /// SSLRequest, the handshake, within `connect_timeout`. Each address of `host` is tried in
    /// turn until one answers; a refused certificate ends the attempt at once.
    pub async fn open_tls(&self) -> Result<VerifiedStream, (String, bool)> {
        let s = &self.settings;
        let Some(mut tls) = self.tls.clone() else {
            return Err(("sslmode is \"disable\": no TLS".into(), false));
        };
        let addrs: Vec<std::net::SocketAddr> = match s.hostaddr {
            Some(ip) => vec![std::net::SocketAddr::new(ip, s.port)],
            None if s.host.starts_with('/') => {
                return Err((
                    format!(
                        "{:?} is a Unix socket directory, and PostgreSQL offers no TLS over Unix sockets: set sslmode = \"disable\" for a local socket, or connect over TCP",
                        s.host
                    ),
                    false,
                ));
            }
            None => tokio::net::lookup_host((s.host.as_str(), s.port))
                .await
                .map_err(|e| {
                    (
                        format!("cannot resolve the host name {:?}: {e}", s.host),
                        false,
                    )
                })?
                .collect(),
        };
        let mut last = (
            format!("the host name {:?} resolves to no address", s.host),
            false,
        );
        for addr in addrs {
            let connector = match MakeTlsConnect::<TcpStream>::make_tls_connect(&mut tls, &s.host) {
                Ok(c) => c,
                Err(never) => match never {},
            };
            match tokio::time::timeout(s.connect_timeout, handshake(addr, connector)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err((msg, transient))) => {
                    if !transient {
                        return Err((msg, false));
                    }
                    last = (msg, true);
                }
                Err(_) => {
                    last = (
                        format!(
                            "no TLS connection to {addr} within {} s (connect_timeout)",
                            s.connect_timeout.as_secs()
                        ),
                        true,
                    );
                }
            }
        }
        Err(last)
    }
}

/// A TLS stream to the server whose certificate was checked (see [`Pool::open_tls`]).
pub type VerifiedStream = <MakeRustlsConnect as MakeTlsConnect<TcpStream>>::Stream;

/// The SSLRequest code of the PostgreSQL protocol.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// TCP, SSLRequest and the TLS handshake (the certificate checks happen inside it).
async fn handshake(
    addr: std::net::SocketAddr,
    connector: <MakeRustlsConnect as MakeTlsConnect<TcpStream>>::TlsConnect,
) -> Result<VerifiedStream, (String, bool)> {
    let io = |what: &str, e: std::io::Error| {
        let transient = transient_io(e.kind());
        (format!("{what} {addr}: {e}"), transient)
    };
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|e| io("cannot open a socket to", e))?;
    // As tokio-postgres does: keepalives on (the system's idle time), no Nagle delay.
    let _ = socket.set_keepalive(true);
    let mut tcp = socket
        .connect(addr)
        .await
        .map_err(|e| io("cannot connect to", e))?;
    let _ = tcp.set_nodelay(true);
    tcp.write_all(&SSL_REQUEST)
        .await
        .map_err(|e| io("connection lost to", e))?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer)
        .await
        .map_err(|e| io("connection lost to", e))?;
    match answer[0] {
        b'S' => {}
        b'N' => {
            return Err((
                "the server does not accept TLS connections (it declined the TLS request): enable ssl on the server, or set sslmode = \"disable\" if an unencrypted connection is really meant".into(),
                false,
            ));
        }
        other => {
            return Err((
                format!(
                    "the server answered the TLS request with {:?} instead of S or N: is it a PostgreSQL server?",
                    char::from(other)
                ),
                false,
            ));
        }
    }
    connector.connect(tcp).await.map_err(|e| {
        // A refused certificate or a TLS alert is not worth another attempt; a dropped
        // connection may be (a restarting server).
        let transient = e.get_ref().is_none_or(|i| !i.is::<rustls::Error>())
            && matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        (super::tls::explain_handshake_error(&e), transient)
    })
}

/// The already-established TLS stream as tokio-postgres's "TLS connector" (see
/// `connect_once`): it hands the stream over unchanged.
struct Established;

impl TlsConnect<VerifiedStream> for Established {
    type Stream = VerifiedStream;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<VerifiedStream, std::convert::Infallible>>;

    fn connect(self, stream: VerifiedStream) -> Self::Future {
        std::future::ready(Ok(stream))
    }
}

/// Runs a connection's I/O until it ends, and logs the end (server gone, evicted, exit).
fn drive<C>(conn: C, s: &ConnectSettings, database: &str)
where
    C: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    let (host, port, database) = (s.host.clone(), s.port, database.to_string());
    tokio::spawn(async move {
        let end = conn.await;
        let mut fields: Vec<(&str, log::Val)> = vec![
            ("host", host.into()),
            ("port", port.into()),
            ("database", database.into()),
        ];
        if let Err(e) = &end {
            fields.push(("error", describe(e).into()));
        }
        log::debug("PostgreSQL connection closed", &fields);
    });
}

impl Pool {
    /// Asks the server to cancel the statement running on the connection `token` came from.
    /// PostgreSQL takes the request on a new connection, set up like the pool's others (the
    /// same TLS); it carries the backend's key, never a password or token.
    pub async fn cancel_query(&self, token: &tokio_postgres::CancelToken) -> Result<(), String> {
        let sent = match &self.tls {
            // TLS connections are made by us (connect_raw), so the token knows no address: the
            // cancel request goes over a new stream whose certificate passed the same checks.
            Some(_) => {
                let stream = self.open_tls().await.map_err(|(m, _)| m)?;
                token.cancel_query_raw(stream, Established).await
            }
            None => token.cancel_query(tokio_postgres::NoTls).await,
        };
        sent.map_err(|e| describe(&e))
    }

    fn record_stats(&self) {
        let Some(path) = &self.stats_file else {
            return;
        };
        let line = format!(
            "{{\"pid\":{},\"connections_opened\":{},\"tokens_minted\":{}}}\n",
            std::process::id(),
            self.stats.connections_opened.load(Ordering::Relaxed),
            self.stats.tokens_minted.load(Ordering::Relaxed)
        );
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// The rustls client configuration for `mode` (not `disable`) and `roots`.
pub fn client_tls_config(
    mode: SslMode,
    roots: &Roots,
) -> Result<rustls::ClientConfig, ConnectError> {
    super::tls::client_config(mode, roots).map_err(ConnectError)
}
