//! go-plugin's start-up contract: the magic cookie Terraform sets, the protocol version it
//! offers, the unix socket we listen on and the one line on stdout that tells Terraform where
//! and how to connect.

use std::path::{Path, PathBuf};

use base64::Engine;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own core protocol version (the first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The only Terraform plugin protocol we speak.
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// Why the process must not serve.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Started by hand, not by Terraform.
    NotTerraform,
    /// Terraform offered protocol versions we do not speak.
    Protocol(String),
}

impl HandshakeError {
    /// What to print; `program` names the binary (e.g. `terraform-provider-rdsiam`).
    pub fn message(&self, program: &str) -> String {
        match self {
            HandshakeError::NotTerraform => format!(
                "This binary is a plugin. These are not meant to be executed directly.\n\
                 This is a Terraform provider plugin ({program}): Terraform starts it\n\
                 itself. Configure it in a `required_providers` block and run `terraform init`,\n\
                 or run it with --debug to attach Terraform via TF_REATTACH_PROVIDERS."
            ),
            HandshakeError::Protocol(offered) => format!(
                "Terraform offered plugin protocol versions {offered:?}, but this provider speaks only \
                 protocol {APP_PROTOCOL_VERSION} (Terraform >= 1.0). Upgrade Terraform."
            ),
        }
    }
}

/// Checks the environment Terraform sets when it launches a plugin.
pub fn check_env(
    cookie: Option<&str>,
    protocol_versions: Option<&str>,
) -> Result<(), HandshakeError> {
    if cookie != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NotTerraform);
    }
    match protocol_versions {
        // Older go-plugin clients send nothing and expect the plugin's default version.
        None | Some("") => Ok(()),
        Some(list) => {
            let ok = list
                .split(',')
                .any(|v| v.trim() == APP_PROTOCOL_VERSION.to_string());
            if ok {
                Ok(())
            } else {
                Err(HandshakeError::Protocol(list.to_string()))
            }
        }
    }
}

/// A fresh socket path, `plugin-<name>-<pid>-<nanos>`. go-plugin >= 1.5 tells plugins where
/// to put it.
pub fn socket_path(dir_override: Option<&str>, name: &str) -> PathBuf {
    let dir = match dir_override {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir(),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("plugin-{name}-{}-{nanos}", std::process::id()))
}

/// `CORE|APP|unix|PATH|grpc|CERT`, CERT being the server certificate's DER in unpadded
/// standard base64 (empty without TLS).
pub fn handshake_line(socket: &Path, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!(
        "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{}|grpc|{cert}",
        socket.display()
    )
}

/// The `TF_REATTACH_PROVIDERS` value for `--debug` mode.
pub fn reattach_json(provider_address: &str, socket: &Path) -> String {
    let v = serde_json::json!({
        provider_address: {
            "Protocol": "grpc",
            "ProtocolVersion": APP_PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "unix", "String": socket.to_string_lossy() },
        }
    });
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_required() {
        assert_eq!(
            check_env(None, Some("6")),
            Err(HandshakeError::NotTerraform)
        );
        assert_eq!(
            check_env(Some("nope"), Some("6")),
            Err(HandshakeError::NotTerraform)
        );
        assert!(check_env(Some(MAGIC_COOKIE_VALUE), Some("5,6")).is_ok());
        assert!(check_env(Some(MAGIC_COOKIE_VALUE), None).is_ok());
        assert!(matches!(
            check_env(Some(MAGIC_COOKIE_VALUE), Some("4,5")),
            Err(HandshakeError::Protocol(_))
        ));
    }

    #[test]
    fn line_format() {
        let l = handshake_line(Path::new("/tmp/s"), Some(&[1, 2, 3, 4]));
        assert_eq!(l, "1|6|unix|/tmp/s|grpc|AQIDBA");
        assert_eq!(
            handshake_line(Path::new("/tmp/s"), None),
            "1|6|unix|/tmp/s|grpc|"
        );
        // go-plugin in Terraform 1.0 splits into at most 6 fields.
        assert_eq!(l.split('|').count(), 6);
    }

    #[test]
    fn reattach_is_json() {
        let j = reattach_json("registry.terraform.io/rdsiam/rdsiam", Path::new("/tmp/x"));
        let v: serde_json::Value = serde_json::from_str(&j).unwrap_or_default();
        assert_eq!(
            v["registry.terraform.io/rdsiam/rdsiam"]["Addr"]["String"],
            "/tmp/x"
        );
    }
}
