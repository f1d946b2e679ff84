//! PostgreSQL connection settings: what the provider's `postgres` block says (already parsed,
//! see `provider::postgres_block`), merged with the libpq environment (`PGHOST` & co.) into the
//! parameters a connection needs.

use std::time::Duration;

use super::connect::{ConnectSettings, SslMode, load_root_cert};

/// The `postgres` block as written: every attribute optional, nothing checked against the
/// environment yet. Numbers stay `i64` so out-of-range values can be reported, not truncated.
#[derive(Clone, Default, PartialEq)]
pub struct PgBlock {
    pub host: Option<String>,
    pub hostaddr: Option<String>,
    pub port: Option<i64>,
    pub database: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// ARN or name of a Secrets Manager secret holding the login (read by the provider).
    pub password_secret: Option<String>,
    pub iam_auth: Option<bool>,
    pub token_hostname: Option<String>,
    pub token_port: Option<i64>,
    pub token_region: Option<String>,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub connect_timeout: Option<i64>,
    pub max_connections: Option<i64>,
    pub statement_timeout: Option<String>,
    pub lock_timeout: Option<String>,
}

/// A problem with one attribute of the block (or the environment variable standing in for it);
/// the provider turns `attr` into the attribute path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    pub attr: &'static str,
    pub summary: String,
    pub detail: String,
}

/// Parsed settings; the password source is decided by the provider (static or IAM token).
#[derive(Clone, PartialEq)]
pub struct PgSettings {
    pub host: String,
    /// Connect to this IP while verifying TLS against `host` (libpq's hostaddr).
    pub hostaddr: Option<std::net::IpAddr>,
    pub port: u16,
    pub database: String,
    /// With `password_secret` and no `username` in the block: `PGUSER` or empty, and the
    /// secret's username (if it has one) takes its place.
    pub username: String,
    /// Whether `username` was set in the block (it then beats the secret's).
    pub username_in_block: bool,
    pub password: Option<String>,
    /// The Secrets Manager secret to read the password (and username) from.
    pub password_secret: Option<String>,
    pub iam_auth: bool,
    pub token_hostname: Option<String>,
    pub token_port: Option<u16>,
    pub token_region: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<String>,
    pub connect_timeout: Duration,
    pub max_connections: usize,
    pub statement_timeout: Option<String>,
    pub lock_timeout: Option<String>,
}

/// Merges the block with the environment. `Ok(None)`: PostgreSQL is not configured at all.
/// The block's own checks (`provider::postgres_block::validate`) are not repeated here: only
/// what the environment adds or what needs the merged values.
pub fn resolve(
    block: &PgBlock,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PgSettings>, Vec<SettingError>> {
    let mut errors = Vec::new();
    let mut error = |attr: &'static str, summary: &str, detail: String| {
        errors.push(SettingError {
            attr,
            summary: summary.to_string(),
            detail,
        });
    };
    let text = |value: &Option<String>, var: &str| -> Option<String> {
        value.clone().or_else(|| env(var).filter(|v| !v.is_empty()))
    };
    let Some(host) = text(&block.host, "PGHOST") else {
        return Ok(None);
    };
    let number = |value: Option<i64>, var: &str| -> Option<i64> {
        value.or_else(|| env(var).and_then(|v| v.trim().parse().ok()))
    };
    let hostaddr = match text(&block.hostaddr, "PGHOSTADDR") {
        Some(a) => match a.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                // A bad value in the block was reported by validate; this one is PGHOSTADDR's.
                if block.hostaddr.is_none() {
                    error(
                        "hostaddr",
                        "Invalid hostaddr",
                        format!("{a:?} (PGHOSTADDR) is not an IP address."),
                    );
                }
                None
            }
        },
        None => None,
    };
    let port = match number(block.port, "PGPORT").unwrap_or(5432) {
        p @ 1..=65535 => p as u16,
        p => {
            error("port", "Invalid port", format!("{p} is not a TCP port."));
            5432
        }
    };
    let iam_auth = block.iam_auth.unwrap_or(false);
    let sslmode_text = text(&block.sslmode, "PGSSLMODE").unwrap_or_else(|| "require".into());
    let sslmode = match (SslMode::parse(&sslmode_text), sslmode_text.as_str()) {
        (Some(m), _) => m,
        // libpq's weaker modes still mean "try TLS" to most users; we insist on it.
        (None, "prefer" | "allow") => SslMode::Require,
        (None, other) => {
            error(
                "sslmode",
                "Invalid sslmode",
                format!(
                    "{other:?} (from PGSSLMODE or the block): use disable, require, verify-ca or verify-full."
                ),
            );
            SslMode::Require
        }
    };
    if iam_auth && sslmode == SslMode::Disable {
        error(
            "sslmode",
            "IAM authentication needs TLS",
            "RDS accepts IAM tokens only over TLS (PGSSLMODE or sslmode says disable).".into(),
        );
    }
    let sslrootcert = match text(&block.sslrootcert, "PGSSLROOTCERT") {
        Some(v) => match load_root_cert(&v) {
            Ok(pem) => Some(pem),
            Err(e) => {
                // An empty value in the block was reported by validate.
                if block
                    .sslrootcert
                    .as_deref()
                    .is_none_or(|s| !s.trim().is_empty())
                {
                    error("sslrootcert", "Invalid sslrootcert", e.0);
                }
                None
            }
        },
        None => None,
    };
    if matches!(sslmode, SslMode::VerifyCa | SslMode::VerifyFull) && sslrootcert.is_none() {
        error(
            "sslrootcert",
            "Missing sslrootcert",
            "sslmode verify-ca / verify-full checks the server certificate against sslrootcert (file path or PEM); set it or PGSSLROOTCERT.".into(),
        );
    }
    let username = match text(&block.username, "PGUSER") {
        Some(u) => Some(u),
        // Whether the secret holds a username is known once it is read.
        None if block.password_secret.is_some() => Some(String::new()),
        None => None,
    };
    let Some(username) = username else {
        error(
            "username",
            "Missing username",
            "Set postgres.username or PGUSER: the role the provider logs in as.".into(),
        );
        return Err(errors);
    };
    let password = if iam_auth || block.password_secret.is_some() {
        None
    } else {
        text(&block.password, "PGPASSWORD")
    };
    let token_port = number(block.token_port, "").and_then(|p| u16::try_from(p).ok());
    let settings = PgSettings {
        host,
        hostaddr,
        port,
        database: text(&block.database, "PGDATABASE").unwrap_or_else(|| "postgres".into()),
        username,
        username_in_block: block.username.is_some(),
        password,
        password_secret: block.password_secret.clone(),
        iam_auth,
        token_hostname: block.token_hostname.clone(),
        token_port,
        token_region: block.token_region.clone(),
        sslmode,
        sslrootcert,
        connect_timeout: Duration::from_secs(
            number(block.connect_timeout, "PGCONNECT_TIMEOUT")
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(15),
        ),
        max_connections: block
            .max_connections
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(4),
        statement_timeout: block.statement_timeout.clone(),
        lock_timeout: Some(block.lock_timeout.clone().unwrap_or_else(|| "15s".into())),
    };
    if errors.is_empty() {
        Ok(Some(settings))
    } else {
        Err(errors)
    }
}

/// Hand-written so the password can never be printed.
impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_secret", &self.password_secret)
            .field("iam_auth", &self.iam_auth)
            .field("sslmode", &self.sslmode)
            .finish_non_exhaustive()
    }
}

impl PgSettings {
    pub fn connect_settings(&self) -> ConnectSettings {
        ConnectSettings {
            host: self.host.clone(),
            hostaddr: self.hostaddr,
            port: self.port,
            username: self.username.clone(),
            sslmode: self.sslmode,
            root_cert_pem: self.sslrootcert.clone(),
            connect_timeout: self.connect_timeout,
            max_connections: self.max_connections,
            statement_timeout: self.statement_timeout.clone(),
            lock_timeout: self.lock_timeout.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_fills_what_the_block_leaves_out() {
        let block = PgBlock {
            host: Some("db.example".into()),
            port: Some(6432),
            ..PgBlock::default()
        };
        let env = |k: &str| match k {
            "PGHOST" => Some("other".to_string()),
            "PGUSER" => Some("admin".to_string()),
            "PGCONNECT_TIMEOUT" => Some(" 7 ".to_string()),
            _ => None,
        };
        let s = resolve(&block, &env).ok().flatten();
        let s = s.map(|s| {
            (
                s.host,
                s.port,
                s.username,
                s.connect_timeout,
                s.lock_timeout,
            )
        });
        assert_eq!(
            s,
            Some((
                "db.example".to_string(),
                6432,
                "admin".to_string(),
                Duration::from_secs(7),
                Some("15s".to_string())
            ))
        );
        let no_user = PgBlock {
            host: Some("h".into()),
            ..PgBlock::default()
        };
        let errs = resolve(&no_user, &|_| None).err().unwrap_or_default();
        assert_eq!(
            errs.iter().map(|e| e.attr).collect::<Vec<_>>(),
            ["username"]
        );
    }

    #[test]
    fn password_secret_leaves_username_to_the_secret_and_ignores_pgpassword() {
        let env = |k: &str| (k == "PGPASSWORD").then(|| "from-env".to_string());
        let block = PgBlock {
            host: Some("h".into()),
            password_secret: Some("prod/db".into()),
            ..PgBlock::default()
        };
        let s = resolve(&block, &env).ok().flatten();
        let s = s.map(|s| {
            (
                s.username,
                s.username_in_block,
                s.password,
                s.password_secret,
            )
        });
        assert_eq!(
            s,
            Some((String::new(), false, None, Some("prod/db".into())))
        );
        let block = PgBlock {
            username: Some("admin".into()),
            ..block
        };
        let s = resolve(&block, &env).ok().flatten();
        assert_eq!(
            s.map(|s| (s.username, s.username_in_block)),
            Some(("admin".into(), true))
        );
    }
}
