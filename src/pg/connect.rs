//! Connections to PostgreSQL the way RDS wants them: TLS, a fresh IAM token (when configured)
//! for every new connection, and a small pool shared by every resource of one Terraform
//! command, never holding more than `max_connections` connections across all databases.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::tfplugin::log;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// Encrypt, trust any server certificate (libpq's `require` without a root certificate).
    Require,
    /// Encrypt and check the chain against `sslrootcert`, not the host name.
    VerifyCa,
    /// Encrypt, check the chain and that the certificate names the host.
    VerifyFull,
}

impl SslMode {
    /// libpq's name, as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    pub fn parse(s: &str) -> Option<SslMode> {
        match s {
            "disable" => Some(SslMode::Disable),
            "require" => Some(SslMode::Require),
            "verify-ca" => Some(SslMode::VerifyCa),
            "verify-full" => Some(SslMode::VerifyFull),
            _ => None,
        }
    }
}

/// Supplies the password for each new connection: a fixed one, or a freshly minted IAM token.
#[async_trait]
pub trait PasswordSource: Send + Sync {
    async fn password(&self) -> Result<String, String>;
    /// Whether passwords are IAM tokens (counted separately in [`PoolStats`]).
    fn is_token(&self) -> bool {
        false
    }
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
    /// PEM text of the CA bundle for verify-ca / verify-full.
    pub root_cert_pem: Option<String>,
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
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
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
            use std::io::ErrorKind as K;
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::TimedOut
            );
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
            mode => Some(tokio_postgres_rustls::MakeRustlsConnect::new(
                client_tls_config(mode, settings.root_cert_pem.as_deref())?,
            )),
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
        Err(ConnectError(format!(
            "cannot connect to PostgreSQL at {}:{} (database {:?}, user {:?}, sslmode {:?}): {last}",
            self.settings.host,
            self.settings.port,
            database,
            self.settings.username,
            self.settings.sslmode
        )))
    }

    /// One attempt; the error says whether retrying may help.
    async fn connect_once(&self, database: &str) -> Result<Client, (String, bool)> {
        let s = &self.settings;
        let password = self.password.password().await.map_err(|e| (e, false))?;
        if self.password.is_token() {
            self.stats.tokens_minted.fetch_add(1, Ordering::Relaxed);
        }
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&s.host);
        if let Some(ip) = s.hostaddr {
            cfg.hostaddr(ip);
        }
        cfg.port(s.port)
            .user(&s.username)
            .password(password)
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
        let result = match &self.tls {
            Some(tls) => {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
                cfg.connect(tls.clone()).await.map(|(client, conn)| {
                    drive(conn, s, database);
                    client
                })
            }
            None => {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
                cfg.connect(tokio_postgres::NoTls)
                    .await
                    .map(|(client, conn)| {
                        drive(conn, s, database);
                        client
                    })
            }
        };
        match result {
            Ok(c) => {
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
                Ok(c)
            }
            Err(e) => Err((describe(&e), is_transient(&e))),
        }
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
            Some(tls) => token.cancel_query(tls.clone()).await,
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

/// The rustls client configuration for a given sslmode.
pub fn client_tls_config(
    mode: SslMode,
    root_pem: Option<&str>,
) -> Result<rustls::ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError(format!("TLS setup: {e}")))?;
    let roots = || -> Result<RootCertStore, ConnectError> {
        let pem = root_pem.ok_or_else(|| {
            ConnectError(format!(
                "sslmode {mode:?} needs sslrootcert: the CA certificate(s) that signed the server's certificate (for RDS, the global bundle from AWS)"
            ))
        })?;
        let mut store = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert =
                cert.map_err(|e| ConnectError(format!("sslrootcert is not valid PEM: {e}")))?;
            store.add(cert).map_err(|e| {
                ConnectError(format!("sslrootcert holds an unusable certificate: {e}"))
            })?;
        }
        if store.is_empty() {
            return Err(ConnectError("sslrootcert holds no certificate".into()));
        }
        Ok(store)
    };
    let cfg = match mode {
        SslMode::VerifyFull => builder
            .with_root_certificates(roots()?)
            .with_no_client_auth(),
        SslMode::VerifyCa => {
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots()?),
                provider.clone(),
            )
            .build()
            .map_err(|e| ConnectError(format!("TLS setup: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
                .with_no_client_auth()
        }
        SslMode::Require | SslMode::Disable => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth(),
    };
    Ok(cfg)
}

fn provider_algs() -> WebPkiSupportedAlgorithms {
    let p: CryptoProvider = rustls::crypto::aws_lc_rs::default_provider();
    p.signature_verification_algorithms
}

/// `sslmode=require`: encrypted, but any certificate is accepted (as libpq does).
#[derive(Debug)]
struct AnyCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must verify; the host name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &provider_algs())
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &provider_algs())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslrootcert` may be a path or the PEM text itself.
pub fn load_root_cert(value: &str) -> Result<String, ConnectError> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_string());
    }
    std::fs::read_to_string(value)
        .map_err(|e| ConnectError(format!("cannot read sslrootcert file {value:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmodes() {
        assert_eq!(SslMode::parse("verify-full"), Some(SslMode::VerifyFull));
        assert_eq!(SslMode::parse("prefer"), None);
    }

    #[test]
    fn verify_modes_need_a_root() {
        let e = client_tls_config(SslMode::VerifyFull, None).err();
        assert!(e.is_some_and(|e| e.0.contains("sslrootcert")));
        assert!(client_tls_config(SslMode::Require, None).is_ok());
        assert!(client_tls_config(SslMode::VerifyCa, Some("garbage")).is_err());
    }

    #[test]
    fn root_cert_path_or_pem() {
        assert!(load_root_cert("-----BEGIN CERTIFICATE-----\nx").is_ok());
        assert!(load_root_cert("/nonexistent/ca.pem").is_err());
    }
}
