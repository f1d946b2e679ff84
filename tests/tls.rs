//! Verified TLS by default, against a recording TLS front on loopback that plays a PostgreSQL
//! server with a certificate the provider must not trust (self-signed, or from a trusted CA
//! but for another host). The front records everything it receives: for every refusal it must
//! have seen the SSLRequest and a failed handshake, and not one byte after it (no startup
//! message, no password, no IAM token). Control cases (a trusted certificate; `require`) show
//! the front does see the password when the provider sends one.
//!
//! The provider's own settings resolution (`postgres_block::resolve`, the same as Terraform's
//! path) and pool are used directly for most cases; real Terraform for the refused apply, the
//! IAM case and the plan-time messages.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::{Workspace, hcl, provider_bin, provider_config};
use terraform_provider_rdsiam::pg::connect::{PasswordSource, Pool, StaticPassword};
use terraform_provider_rdsiam::provider::postgres_block;
use terraform_provider_rdsiam::tfplugin::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PASSWORD: &str = "tls-test-password-never-sent";

/// A CA of our own, and certificates it (or nobody) signs.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    fn new() -> TestCa {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
        let mut params =
            CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        params
            .distinguished_name
            .push(DnType::CommonName, "rdsiam tls test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("CA: {e}"));
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names`, signed by this CA.
    fn leaf(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("key: {e}"));
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{e}"));
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("sign: {e}"));
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }
}

/// A self-signed server certificate for `localhost` (what an impostor can make in a second).
fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .unwrap_or_else(|e| panic!("self-signed: {e}"));
    (
        cert.cert.der().clone(),
        PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
    )
}

/// What one connection brought the front.
#[derive(Clone, Debug, Default)]
struct Seen {
    ssl_request: bool,
    /// Bytes before TLS that were not an SSLRequest (e.g. a startup message in the clear).
    plain: Vec<u8>,
    /// `Some(Ok)`: the handshake completed; `Some(Err)`: why it failed.
    handshake: Option<Result<(), String>>,
    /// Every byte received after the handshake.
    after_tls: Vec<u8>,
}

/// A PostgreSQL-looking TLS endpoint on 127.0.0.1 that records what it receives. After a
/// handshake it reads the startup message, asks for a cleartext password, reads it and ends the
/// session with an authentication error.
struct Front {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Front {
    fn start(cert: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> Front {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_client_auth()
        .with_single_cert(vec![cert.0], cert.1)
        .unwrap_or_else(|e| panic!("front TLS config: {e}"));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("front runtime: {e}"));
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let all = seen.clone();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, all) = (acceptor.clone(), all.clone());
                tokio::spawn(async move {
                    let record = Arc::new(Mutex::new(Seen::default()));
                    let _ = tokio::time::timeout(
                        Duration::from_secs(20),
                        serve(tcp, acceptor, record.clone()),
                    )
                    .await;
                    let s = record.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    all.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                });
            }
        });
        Front {
            port,
            seen,
            runtime: Some(runtime),
        }
    }

    /// Every connection so far (once each has ended).
    fn seen(&self) -> Vec<Seen> {
        // A connection is recorded when its task ends, just after the client gave up.
        std::thread::sleep(Duration::from_millis(300));
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The connections got an SSLRequest and a failed handshake, and nothing else at all.
    #[track_caller]
    fn assert_got_nothing(&self, secrets: &[&str]) {
        let seen = self.seen();
        assert!(!seen.is_empty(), "the provider never reached the front");
        for s in &seen {
            assert!(s.ssl_request, "no SSLRequest: {s:?}");
            assert!(s.plain.is_empty(), "bytes in the clear: {s:?}");
            assert!(
                matches!(s.handshake, Some(Err(_))),
                "the handshake did not fail: {s:?}"
            );
            assert!(
                s.after_tls.is_empty(),
                "{} bytes sent after the handshake",
                s.after_tls.len()
            );
            let raw = format!("{:?}{:?}", s.plain, s.after_tls);
            for secret in secrets {
                assert!(!raw.contains(secret));
            }
        }
    }

    /// The text of everything received after TLS, over all connections.
    fn received(&self) -> String {
        self.seen()
            .iter()
            .map(|s| String::from_utf8_lossy(&s.after_tls).into_owned())
            .collect()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

async fn serve(
    mut tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    record: Arc<Mutex<Seen>>,
) -> std::io::Result<()> {
    let note = |f: &dyn Fn(&mut Seen)| f(&mut record.lock().unwrap_or_else(|e| e.into_inner()));
    let mut head = [0u8; 8];
    tcp.read_exact(&mut head).await?;
    if head != SSL_REQUEST {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut rest)).await;
        note(&|s| {
            s.plain = head.to_vec();
            s.plain.extend_from_slice(&rest);
        });
        return Ok(());
    }
    note(&|s| s.ssl_request = true);
    tcp.write_all(b"S").await?;
    let mut tls = match acceptor.accept(tcp).await {
        Ok(t) => t,
        Err(e) => {
            let why = e.to_string();
            note(&|s| s.handshake = Some(Err(why.clone())));
            return Ok(());
        }
    };
    note(&|s| s.handshake = Some(Ok(())));
    // Startup message: length, then the rest.
    let mut buf = vec![0u8; 4];
    tls.read_exact(&mut buf).await?;
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    buf.resize(len.clamp(4, 10_000), 0);
    tls.read_exact(&mut buf[4..]).await?;
    note(&|s| s.after_tls.extend_from_slice(&buf));
    // AuthenticationCleartextPassword, then whatever comes (the password message).
    tls.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await?;
    tls.flush().await?;
    let mut answer = vec![0u8; 4096];
    let n = tls.read(&mut answer).await?;
    note(&|s| s.after_tls.extend_from_slice(&answer[..n]));
    let mut err = b"SFATAL\0C28P01\0Mtls test front: password authentication failed\0\0".to_vec();
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&((err.len() + 4) as u32).to_be_bytes());
    msg.append(&mut err);
    tls.write_all(&msg).await?;
    tls.shutdown().await?;
    Ok(())
}

/// The `postgres` block of the provider configuration, as Terraform would send it.
fn block(front: &Front, extra: &[(&str, &str)]) -> Value {
    let mut fields = vec![
        ("host", Value::string("localhost")),
        ("hostaddr", Value::string("127.0.0.1")),
        ("port", Value::int(i64::from(front.port))),
        ("username", Value::string("admin")),
        ("connect_timeout", Value::int(5)),
    ];
    for (k, v) in extra {
        fields.push((k, Value::string(*v)));
    }
    Value::object(fields)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Resolves `block` exactly as the provider does (no environment) and connects once.
fn connect(block: &Value, password: Arc<dyn PasswordSource>) -> (Result<(), String>, Arc<Pool>) {
    let settings = match postgres_block::resolve(block, &|_| None) {
        Ok(Some(s)) => s,
        other => panic!("settings: {other:?}"),
    };
    let pool =
        Pool::new(settings.connect_settings(), password).unwrap_or_else(|e| panic!("pool: {e}"));
    let result = rt()
        .block_on(pool.get("postgres"))
        .map(|_| ())
        .map_err(|e| e.0);
    (result, pool)
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// No sslmode, no sslrootcert: verify-full against the system's CAs and the RDS bundle. A
/// self-signed certificate is refused before anything is sent.
#[test]
fn default_refuses_a_self_signed_front() {
    let front = Front::start(self_signed());
    let (result, pool) = connect(
        &block(&front, &[]),
        Arc::new(StaticPassword(PASSWORD.into())),
    );
    let e = result.err().unwrap_or_default();
    assert!(
        e.contains("sslmode verify-full")
            && e.contains(
                "the server certificate (it is self-signed) is not signed by a CA in the system's CA certificates or the Amazon RDS CA bundle built into the provider"
            ),
        "{e}"
    );
    assert!(
        !e.contains("UnknownIssuer") && !e.contains("VerifyFull"),
        "{e}"
    );
    front.assert_got_nothing(&[PASSWORD]);
    // Refused once, not retried: a certificate does not get better.
    assert_eq!(front.seen().len(), 1);
    assert_eq!(pool.stats.connections_opened.load(Ordering::Relaxed), 0);
}

/// `sslrootcert` alone means verify-full against it: a certificate from that very CA, but for
/// another host, is refused, naming both the host and the certificate's names.
#[test]
fn sslrootcert_alone_checks_the_host_name() {
    let ca = TestCa::new();
    let front = Front::start(ca.leaf(&["otherhost.example", "10.9.8.7"]));
    let (result, _) = connect(
        &block(&front, &[("sslrootcert", &ca.pem)]),
        Arc::new(StaticPassword(PASSWORD.into())),
    );
    let e = result.err().unwrap_or_default();
    assert!(
        e.contains(
            "the server certificate is for \"otherhost.example\", \"10.9.8.7\", not for \"localhost\", the host the provider connected to"
        ),
        "{e}"
    );
    assert!(
        !e.contains("NotValidForName") && !e.contains("DnsName"),
        "{e}"
    );
    front.assert_got_nothing(&[PASSWORD]);

    // Another CA's certificate (a trusted name, the wrong signer): refused, with the hint.
    let front = Front::start(self_signed());
    let (result, _) = connect(
        &block(&front, &[("sslrootcert", &ca.pem)]),
        Arc::new(StaticPassword(PASSWORD.into())),
    );
    let e = result.err().unwrap_or_default();
    assert!(
        e.contains("is not signed by a CA in the PEM text of sslrootcert; for RDS use the built-in bundle (leave sslrootcert unset)"),
        "{e}"
    );
    front.assert_got_nothing(&[PASSWORD]);

    // verify-ca against the same CA does not check the name: the front gets the password
    // (which also shows the front records what it is sent).
    let front = Front::start(ca.leaf(&["otherhost.example"]));
    let (result, _) = connect(
        &block(
            &front,
            &[("sslrootcert", &ca.pem), ("sslmode", "verify-ca")],
        ),
        Arc::new(StaticPassword(PASSWORD.into())),
    );
    assert!(
        result.is_err_and(|e| e.contains("password authentication failed")),
        "the front's own error"
    );
    assert!(front.received().contains(PASSWORD));
}

/// Control cases: a certificate the provider trusts, and `require` (which checks nothing):
/// the startup message and the password reach the front.
#[test]
fn the_front_sees_what_a_trusted_handshake_sends() {
    let ca = TestCa::new();
    let front = Front::start(ca.leaf(&["localhost"]));
    let (result, _) = connect(
        &block(&front, &[("sslrootcert", &ca.pem)]),
        Arc::new(StaticPassword(PASSWORD.into())),
    );
    assert!(result.is_err_and(|e| e.contains("password authentication failed")));
    let got = front.received();
    assert!(got.contains("admin") && got.contains(PASSWORD), "{got:?}");

    let front = Front::start(self_signed());
    let (result, _) = connect(
        &block(&front, &[("sslmode", "require")]),
        Arc::new(StaticPassword(PASSWORD.into())),
    );
    assert!(result.is_err_and(|e| e.contains("password authentication failed")));
    assert!(front.received().contains(PASSWORD));
}

/// A password source that counts how often it was asked, like an IAM token source.
struct CountingToken(AtomicUsize);

#[async_trait]
impl PasswordSource for CountingToken {
    async fn password(&self) -> Result<String, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok("host:5432/?Action=connect&DBUser=admin&X-Amz-Signature=tls-test-token".into())
    }
    fn is_token(&self) -> bool {
        true
    }
}

/// With IAM, no token is even minted when the certificate is refused.
#[test]
fn no_token_is_minted_before_the_certificate_passes() {
    let source = Arc::new(CountingToken(AtomicUsize::new(0)));
    let front = Front::start(self_signed());
    let mut b = block(&front, &[]);
    if let Value::Object(m) = &mut b {
        m.insert("iam_auth".into(), Value::bool(true));
    }
    let (result, pool) = connect(&b, source.clone());
    assert!(result.is_err_and(|e| e.contains("is not signed by a CA")));
    assert_eq!(source.0.load(Ordering::SeqCst), 0, "a token was minted");
    assert_eq!(pool.stats.tokens_minted.load(Ordering::Relaxed), 0);
    front.assert_got_nothing(&["tls-test-token"]);

    // Once the certificate passes, the token is minted (once) and sent.
    let ca = TestCa::new();
    let front = Front::start(ca.leaf(&["localhost"]));
    let mut b = block(&front, &[("sslrootcert", &ca.pem)]);
    if let Value::Object(m) = &mut b {
        m.insert("iam_auth".into(), Value::bool(true));
    }
    let (result, _) = connect(&b, source.clone());
    assert!(result.is_err());
    assert_eq!(source.0.load(Ordering::SeqCst), 1);
    assert!(front.received().contains("tls-test-token"));
}

/// Real Terraform: an apply against an untrusted front fails at the first connection with the
/// plain-words error, and the front gets no password; with `iam_auth` (and no AWS credentials
/// at all) the TLS error comes first, so no token was minted, and none was sent.
#[test]
fn terraform_apply_refuses_an_untrusted_front() {
    let front = Front::start(self_signed());
    let user = "\nresource \"rdsiam_postgres_user\" \"u\" {\n  name = \"tls_probe\"\n}\n";
    let postgres = format!(
        "    host     = \"localhost\"\n    hostaddr = \"127.0.0.1\"\n    port     = {}\n    username = \"admin\"\n    password = {}",
        front.port,
        hcl(PASSWORD)
    );
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write(
        "main.tf",
        &format!("{}{user}", provider_config("", &postgres)),
    );
    let out = ws.fails(&["apply"]);
    let text = words(&out.combined());
    assert!(
        text.contains("PostgreSQL is not available")
            && text.contains("is not signed by a CA in the system's CA certificates or the Amazon RDS CA bundle built into the provider"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD));
    front.assert_got_nothing(&[PASSWORD]);

    let front = Front::start(self_signed());
    let postgres = format!(
        "    host     = \"localhost\"\n    hostaddr = \"127.0.0.1\"\n    port     = {}\n    username = \"admin\"\n    iam_auth = true",
        front.port
    );
    let mut ws = Workspace::new("1.15.5", provider_bin());
    let missing = ws.path().join("no-such-aws-file");
    let missing = missing.to_string_lossy().into_owned();
    ws.set_env("AWS_EC2_METADATA_DISABLED", "true")
        .set_env("AWS_SHARED_CREDENTIALS_FILE", &missing)
        .set_env("AWS_CONFIG_FILE", &missing)
        .set_env("AWS_ACCESS_KEY_ID", "")
        .set_env("AWS_SECRET_ACCESS_KEY", "")
        .set_env("AWS_PROFILE", "");
    ws.write(
        "main.tf",
        &format!("{}{user}", provider_config("eu-west-1", &postgres)),
    );
    let out = ws.fails(&["apply"]);
    let text = words(&out.combined());
    assert!(text.contains("is not signed by a CA in"), "{text}");
    assert!(
        !text.contains("needs AWS credentials"),
        "minted first: {text}"
    );
    front.assert_got_nothing(&["X-Amz-Signature", "Action=connect"]);
}

/// Plan-time messages through real Terraform: `require` warns (more strongly with IAM), an
/// unreadable sslrootcert is one error, verify-ca without a CA is an error.
#[test]
fn terraform_plan_tls_messages() {
    let user = "\nresource \"rdsiam_postgres_user\" \"u\" {\n  name = \"tls_probe\"\n}\n";
    let base = "    host     = \"db.example.com\"\n    username = \"admin\"\n";
    let ws = Workspace::new("1.15.5", provider_bin());
    let plan = |postgres: &str, region: &str| {
        ws.write(
            "main.tf",
            &format!(
                "{}{user}",
                provider_config(region, &format!("{base}{postgres}"))
            ),
        );
        let out = ws.tf(&["plan"]);
        let text = words(&out.combined());
        for name in ["VerifyFull", "VerifyCa", "SslMode", "Require", "Roots"] {
            assert!(!text.contains(name), "{text}");
        }
        (out.success(), text)
    };

    let (ok, text) = plan("    password = \"pw\"\n    sslmode  = \"require\"", "");
    assert!(ok, "{text}");
    assert!(
        text.contains("Warning: TLS certificate not checked")
            && text.contains("accepts any server certificate")
            && text.contains("receive the password"),
        "{text}"
    );

    let (ok, text) = plan(
        "    iam_auth = true\n    sslmode  = \"require\"",
        "eu-west-1",
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("Warning: TLS certificate not checked: the IAM token can be stolen")
            && text.contains("up to 15 minutes"),
        "{text}"
    );

    let (ok, text) = plan("    sslrootcert = \"/nonexistent/rds-ca.pem\"", "");
    assert!(!ok, "{text}");
    assert_eq!(text.matches("Error:").count(), 1, "{text}");
    assert!(
        text.contains("Cannot read the sslrootcert file \"/nonexistent/rds-ca.pem\": no such file"),
        "{text}"
    );

    let (ok, text) = plan("    sslmode = \"verify-ca\"", "");
    assert!(!ok, "{text}");
    assert_eq!(text.matches("Error:").count(), 1, "{text}");
    assert!(text.contains("verify-ca needs sslrootcert"), "{text}");

    // The default and sslrootcert = "system" plan quietly.
    for postgres in [
        "    password = \"pw\"",
        "    password = \"pw\"\n    sslrootcert = \"system\"",
    ] {
        let (ok, text) = plan(postgres, "");
        assert!(ok && !text.contains("TLS certificate"), "{text}");
    }
}
