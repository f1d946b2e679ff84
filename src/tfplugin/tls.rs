//! go-plugin AutoMTLS. Terraform hands us its client certificate in `PLUGIN_CLIENT_CERT` and
//! learns our server certificate from the handshake line; each side trusts exactly the other's
//! certificate.
//!
//! Terraform's client certificate is a self-signed ECDSA P-521 *CA* certificate. webpki path
//! building rejects a CA used as an end entity, and `ring` cannot verify P-521, so we pin the
//! certificate byte for byte and verify the handshake signature with aws-lc-rs, which can.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, ServerConfig};

#[derive(Debug)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn err(context: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError(format!("{context}: {e}"))
}

pub struct ServerIdentity {
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// A fresh self-signed server certificate for `localhost` (go-plugin's client verifies the
/// server name "localhost" against a pool holding just this certificate).
pub fn generate_server_identity() -> Result<ServerIdentity, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| err("generating the server key", e))?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])
        .map_err(|e| err("server certificate parameters", e))?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "HashiCorp");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(30)).into();
    params.not_after = (now + std::time::Duration::from_secs(30 * 24 * 3600)).into();
    let cert = params
        .self_signed(&key)
        .map_err(|e| err("signing the server certificate", e))?;
    Ok(ServerIdentity {
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

/// Accepts exactly one client certificate.
#[derive(Debug)]
struct PinnedClientCert {
    pinned: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_slice() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "client certificate is not the one in PLUGIN_CLIENT_CERT".to_string(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls server configuration for AutoMTLS: our identity, Terraform's pinned client
/// certificate (PEM from `PLUGIN_CLIENT_CERT`), ALPN h2 (grpc-go insists on it).
pub fn server_config(
    identity: &ServerIdentity,
    client_cert_pem: &str,
) -> Result<ServerConfig, TlsError> {
    let client = CertificateDer::from_pem_slice(client_cert_pem.as_bytes())
        .map_err(|e| err("PLUGIN_CLIENT_CERT is not a PEM certificate", e))?;
    let provider: CryptoProvider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = PinnedClientCert {
        pinned: client.as_ref().to_vec(),
        algorithms: provider.signature_verification_algorithms,
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone()));
    let mut cfg = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| err("TLS versions", e))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![CertificateDer::from(identity.cert_der.clone())], key)
        .map_err(|e| err("server certificate", e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::ServerName;

    fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A client certificate shaped like go-plugin's: self-signed ECDSA P-521 CA.
    fn go_plugin_like_client() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = must(rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512));
        let mut params = must(rcgen::CertificateParams::new(vec!["localhost".into()]));
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = must(params.self_signed(&key));
        let der = CertificateDer::from(cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.pem(), der, key)
    }

    /// The test client trusts whatever the server presents (Go's client pins it instead).
    #[derive(Debug)]
    struct AnyServer(WebPkiSupportedAlgorithms);

    impl ServerCertVerifier for AnyServer {
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

    /// Runs a TLS handshake over an in-memory pipe; Ok when both sides complete.
    async fn handshake(
        server: ServerConfig,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), String> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let algs = provider.signature_verification_algorithms;
        let client = must(
            rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_safe_default_protocol_versions(),
        )
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(algs)))
        .with_client_auth_cert(vec![cert], key);
        let mut client = must(client);
        client.alpn_protocols = vec![b"h2".to_vec()];
        let (a, b) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = must(ServerName::try_from("localhost"));
        let srv = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut s = acceptor.accept(b).await.map_err(|e| e.to_string())?;
            let alpn = s.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let mut buf = [0u8; 2];
            s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(alpn)
        });
        let cli = async {
            use tokio::io::AsyncWriteExt;
            let mut c = connector
                .connect(name, a)
                .await
                .map_err(|e| e.to_string())?;
            c.write_all(b"hi").await.map_err(|e| e.to_string())?;
            c.flush().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(c)
        };
        let client_res = cli.await;
        let server_res = srv.await.map_err(|e| e.to_string())?;
        let alpn = server_res?;
        client_res?;
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        Ok(())
    }

    #[tokio::test]
    async fn pinned_p521_client_is_accepted_and_others_refused() {
        let id = must(generate_server_identity());
        let (pem, der, key) = go_plugin_like_client();
        let cfg = must(server_config(&id, &pem));
        handshake(cfg, der, key)
            .await
            .unwrap_or_else(|e| panic!("pinned client refused: {e}"));

        let (_, other_der, other_key) = go_plugin_like_client();
        let cfg = must(server_config(&id, &pem));
        assert!(handshake(cfg, other_der, other_key).await.is_err());
    }

    #[test]
    fn bad_pem_is_an_error() {
        let id = must(generate_server_identity());
        assert!(server_config(&id, "not pem").is_err());
    }
}
