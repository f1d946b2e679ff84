//! A test-only front that plays RDS's part in IAM authentication, since a local PostgreSQL
//! cannot verify IAM tokens.
//!
//! It listens on 127.0.0.1, accepts only TLS (a throw-away self-signed certificate: connect
//! with `sslmode = "require"`), asks for a cleartext password (as RDS does for IAM users) and
//! accepts it only if it is an RDS IAM token that
//! * verifies with the given credentials and region ([`token::verify`]),
//! * is signed for the expected host name and the front's port, and for the login user,
//! * has not expired: `X-Amz-Date + X-Amz-Expires` is still ahead of the wall clock.
//!
//! Anything else gets `FATAL 28P01 PAM authentication failed for user "…"` (RDS's answer), with
//! the reason in the detail. An accepted connection is relayed to the real server over its
//! Unix socket (`trust` there), forwarding the client's startup message, so sessions keep
//! their user, database, options and application_name. When the server is down the client
//! gets `57P03` (cannot connect now), as from a restarting server.
//!
//! Fault injection: [`IamFront::cut_commits`] makes the front forward the next N `COMMIT`s to
//! the server, let them run, and then drop the client's connection before the answer: a
//! COMMIT whose outcome the client cannot know.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use terraform_provider_rdsiam::aws::token;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

use super::postgres::PgCluster;

/// What the front saw, for assertions.
#[derive(Default)]
pub struct FrontStats {
    /// Connections whose token was accepted.
    pub accepted: AtomicUsize,
    /// Why connections were refused.
    pub rejected: Mutex<Vec<String>>,
    /// Age in seconds (now − X-Amz-Date) and lifetime (X-Amz-Expires) of every accepted token.
    pub token_ages: Mutex<Vec<(u64, u64)>>,
    /// Every password presented (accepted or not), to search logs and state for them.
    pub tokens: Mutex<Vec<String>>,
    /// COMMITs still to cut, and cut so far.
    pub commits_to_cut: AtomicUsize,
    pub commits_cut: AtomicUsize,
}

pub struct IamFront {
    port: u16,
    pub stats: Arc<FrontStats>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Verify {
    creds: Credentials,
    region: String,
    hostname: String,
    port: u16,
}

impl IamFront {
    /// Starts a front for `cluster` accepting tokens signed with `creds` for `region`, for
    /// `hostname` and the front's own port.
    pub fn start(cluster: &PgCluster, creds: Credentials, region: &str, hostname: &str) -> Self {
        let socket = cluster.dir().join(format!(".s.PGSQL.{}", cluster.port()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("front runtime: {e}"));
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .unwrap_or_else(|e| panic!("front bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("front addr: {e}"))
            .port();
        let verify = Arc::new(Verify {
            creds,
            region: region.to_string(),
            hostname: hostname.to_string(),
            port,
        });
        let stats = Arc::new(FrontStats::default());
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls()));
        let st = stats.clone();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, verify, st, socket) =
                    (acceptor.clone(), verify.clone(), st.clone(), socket.clone());
                tokio::spawn(async move {
                    let _ = serve(tcp, acceptor, &verify, &st, socket).await;
                });
            }
        });
        IamFront {
            port,
            stats,
            runtime: Some(runtime),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cut the next `n` COMMITs after the server ran them (see the module docs).
    pub fn cut_commits(&self, n: usize) {
        self.stats.commits_to_cut.store(n, Ordering::SeqCst);
    }

    pub fn rejections(&self) -> Vec<String> {
        self.stats
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn tokens(&self) -> Vec<String> {
        self.stats
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The oldest accepted token's (age, lifetime) in seconds.
    pub fn oldest_token(&self) -> Option<(u64, u64)> {
        self.stats
            .token_ages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .max()
    }
}

impl Drop for IamFront {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn server_tls() -> rustls::ServerConfig {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .unwrap_or_else(|e| panic!("front certificate: {e}"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("{e}"))
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap_or_else(|e| panic!("front TLS config: {e}"))
}

const SSL_REQUEST: u32 = 80_877_103;

async fn serve(
    mut tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    verify: &Verify,
    stats: &FrontStats,
    socket: PathBuf,
) -> std::io::Result<()> {
    // RDS only takes IAM tokens over TLS: the first packet must be SSLRequest.
    let mut head = [0u8; 8];
    tcp.read_exact(&mut head).await?;
    if u32::from_be_bytes([head[4], head[5], head[6], head[7]]) != SSL_REQUEST {
        stats
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push("no TLS".into());
        return Ok(());
    }
    tcp.write_all(b"S").await?;
    let mut client = acceptor.accept(tcp).await?;
    let startup = read_startup(&mut client).await?;
    let user = startup_param(&startup, "user").unwrap_or_default();
    // AuthenticationCleartextPassword.
    client.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await?;
    client.flush().await?;
    let (kind, body) = read_message(&mut client).await?;
    if kind != b'p' {
        return Ok(());
    }
    let password = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).into_owned();
    stats
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(password.clone());
    match check_token(verify, &password, &user) {
        Ok(age) => {
            stats
                .token_ages
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(age);
        }
        Err(why) => {
            stats
                .rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(why.clone());
            let msg = format!("PAM authentication failed for user \"{user}\"");
            client
                .write_all(&error_response(
                    "28P01",
                    &msg,
                    &format!("rdsiam test front: {why}"),
                ))
                .await?;
            client.shutdown().await?;
            return Ok(());
        }
    }
    let mut server = match UnixStream::connect(&socket).await {
        Ok(s) => s,
        Err(e) => {
            client
                .write_all(&error_response(
                    "57P03",
                    "the database system is not accepting connections",
                    &format!("rdsiam test front: server socket: {e}"),
                ))
                .await?;
            client.shutdown().await?;
            return Ok(());
        }
    };
    stats.accepted.fetch_add(1, Ordering::SeqCst);
    server.write_all(&startup).await?;
    relay(client, server, stats).await;
    Ok(())
}

/// The startup message as sent (length included), after TLS.
async fn read_startup<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Vec<u8>> {
    let len = s.read_u32().await? as usize;
    if !(8..=10_000).contains(&len) {
        return Err(std::io::Error::other("bad startup length"));
    }
    let mut msg = (len as u32).to_be_bytes().to_vec();
    msg.resize(len, 0);
    s.read_exact(&mut msg[4..]).await?;
    Ok(msg)
}

fn startup_param(startup: &[u8], key: &str) -> Option<String> {
    let mut fields = startup.get(8..)?.split(|b| *b == 0);
    while let Some(k) = fields.next() {
        let v = fields.next()?;
        if k == key.as_bytes() {
            return Some(String::from_utf8_lossy(v).into_owned());
        }
    }
    None
}

async fn read_message<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<(u8, Vec<u8>)> {
    let kind = s.read_u8().await?;
    let len = s.read_u32().await? as usize;
    if !(4..=100_000_000).contains(&len) {
        return Err(std::io::Error::other("bad message length"));
    }
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).await?;
    Ok((kind, body))
}

fn error_response(code: &str, message: &str, detail: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
        (b'D', detail),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// Checks a token as RDS would; returns its (age, lifetime) in seconds.
fn check_token(v: &Verify, tok: &str, user: &str) -> Result<(u64, u64), String> {
    token::verify(tok, &v.creds, &v.region).map_err(|e| e.to_string())?;
    let (authority, query) = tok.split_once("/?").ok_or("no /? in the token")?;
    let expected = format!("{}:{}", v.hostname, v.port);
    if authority != expected {
        return Err(format!("signed for {authority}, not {expected}"));
    }
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .ok_or_else(|| format!("no {name}"))
    };
    let db_user = param("DBUser")?;
    if db_user != user {
        return Err(format!("signed for DBUser {db_user:?}, login is {user:?}"));
    }
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed = time::PrimitiveDateTime::parse(&param("X-Amz-Date")?, &format)
        .map_err(|e| format!("X-Amz-Date: {e}"))?
        .assume_utc()
        .unix_timestamp();
    let lifetime: u64 = param("X-Amz-Expires")?
        .parse()
        .map_err(|_| "X-Amz-Expires is not a number")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let age = now - signed;
    if age > lifetime as i64 {
        return Err(format!(
            "token expired {} s ago (signed {age} s ago, lifetime {lifetime} s)",
            age - lifetime as i64
        ));
    }
    if age < -300 {
        return Err(format!("token signed {} s in the future", -age));
    }
    Ok((age.max(0) as u64, lifetime))
}

/// Relays bytes both ways until either side closes. Client messages are parsed so a COMMIT
/// can be cut (see the module docs).
async fn relay<C>(client: C, server: UnixStream, stats: &FrontStats)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let (mut c_read, mut c_write) = tokio::io::split(client);
    let (mut s_read, mut s_write) = server.into_split();
    let cut = AtomicBool::new(false);
    let to_server = async {
        loop {
            let Ok((kind, body)) = read_message(&mut c_read).await else {
                return;
            };
            let commit = kind == b'Q'
                && body
                    .strip_suffix(&[0])
                    .is_some_and(|q| q.trim_ascii().eq_ignore_ascii_case(b"COMMIT"));
            let cutting = commit
                && stats
                    .commits_to_cut
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if cutting {
                // Nothing the server answers from now on reaches the client.
                cut.store(true, Ordering::SeqCst);
            }
            let mut msg = vec![kind];
            msg.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
            msg.extend_from_slice(&body);
            if s_write.write_all(&msg).await.is_err() {
                return;
            }
            if cutting {
                // Let the server finish the COMMIT, then drop the client.
                tokio::time::sleep(Duration::from_millis(300)).await;
                stats.commits_cut.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    };
    let to_client = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match s_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if cut.load(Ordering::SeqCst) {
                // Keep draining so the server is not blocked; the client gets nothing.
                continue;
            }
            if c_write.write_all(&buf[..n]).await.is_err() || c_write.flush().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = to_server => {}
        () = to_client => {}
    }
}
