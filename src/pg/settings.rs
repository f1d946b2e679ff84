//! PostgreSQL connection settings: what the provider's `postgres` block says (already parsed,
//! see `provider::postgres_block`), merged with the libpq environment (`PGHOST` & co.) into the
//! parameters a connection needs.

use std::time::Duration;

use super::connect::ConnectSettings;
use super::tls::{RootKind, Roots, SslMode, combination_error, load_roots};

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
    /// The CA certificates the server certificate is checked against (`sslrootcert`).
    pub roots: Roots,
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
    let tls = resolve_tls(block, env, true);
    for e in tls.errors {
        error(e.attr, &e.summary, e.detail);
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
        sslmode: tls.sslmode,
        roots: tls.roots.unwrap_or(Roots::Default),
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

/// `sslmode` and `sslrootcert` merged with `PGSSLMODE` / `PGSSLROOTCERT`: what the provider
/// will check, errors where no trust store applies (or a file is unusable), and warnings (plan
/// time) where the certificate will not be checked.
pub struct TlsOutcome {
    pub sslmode: SslMode,
    /// `None` when `sslrootcert` names a file that was not read (`read_files` off) or could
    /// not be used (then `errors` says why).
    pub roots: Option<Roots>,
    pub errors: Vec<SettingError>,
    pub warnings: Vec<SettingError>,
}

/// See [`TlsOutcome`]. Problems of the block's own values (an unknown sslmode, an empty
/// sslrootcert, `iam_auth` with `sslmode = "disable"`) are left to
/// `provider::postgres_block::validate`; the environment's are reported here. `read_files`:
/// read and check the `sslrootcert` file (off for `terraform validate`, which may run where
/// the file is absent).
pub fn resolve_tls(
    block: &PgBlock,
    env: &dyn Fn(&str) -> Option<String>,
    read_files: bool,
) -> TlsOutcome {
    let mut out = TlsOutcome {
        sslmode: SslMode::VerifyFull,
        roots: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let from_env = |var: &str| env(var).filter(|v| !v.is_empty());
    let (mode_text, mode_from_env) = match &block.sslmode {
        Some(m) => (Some(m.clone()), false),
        None => (from_env("PGSSLMODE"), true),
    };
    let problem = |attr: &'static str, summary: &str, detail: String| SettingError {
        attr,
        summary: summary.to_string(),
        detail,
    };
    // Unset: verify-full, whatever sslrootcert says.
    if let Some(text) = &mode_text {
        match SslMode::parse(text) {
            Some(m) => out.sslmode = m,
            None => {
                if mode_from_env {
                    out.errors.push(problem(
                        "sslmode",
                        "Invalid sslmode",
                        format!("PGSSLMODE={text:?}: {}", sslmode_choices(text)),
                    ));
                }
                return out;
            }
        }
    }
    let iam_auth = block.iam_auth == Some(true);
    if iam_auth && out.sslmode == SslMode::Disable && mode_from_env {
        out.errors.push(problem(
            "iam_auth",
            "IAM authentication needs TLS",
            "PGSSLMODE=disable is set in the environment, but RDS accepts IAM tokens only over TLS. Unset it, or set sslmode in the postgres block (leave it unset for verify-full).".into(),
        ));
    }
    let (root_text, root_from_env) = match &block.sslrootcert {
        // Reported by validate.
        Some(v) if v.trim().is_empty() => return out,
        Some(v) => (Some(v.clone()), false),
        None => (from_env("PGSSLROOTCERT"), true),
    };
    let kind = RootKind::of(root_text.as_deref());
    if let Some((summary, detail)) = combination_error(out.sslmode, kind) {
        let mut from = Vec::new();
        if mode_from_env && let Some(m) = &mode_text {
            from.push(format!("PGSSLMODE={m}"));
        }
        if root_from_env && let Some(r) = &root_text {
            from.push(format!("PGSSLROOTCERT={r}"));
        }
        let detail = if from.is_empty() {
            detail
        } else {
            format!("{detail} (The environment sets {}.)", from.join(" and "))
        };
        out.errors.push(problem("sslmode", summary, detail));
    }
    out.roots = match (kind, &root_text) {
        (RootKind::Given, Some(value)) => {
            if read_files {
                let suffix = if root_from_env {
                    " (PGSSLROOTCERT)"
                } else {
                    ""
                };
                match load_roots(value, suffix) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        out.errors
                            .push(problem("sslrootcert", "Invalid sslrootcert", e));
                        None
                    }
                }
            } else {
                None
            }
        }
        (RootKind::System, _) => Some(Roots::System),
        _ => Some(Roots::Default),
    };
    if out.sslmode == SslMode::Require && kind == RootKind::Unset {
        let said = if mode_from_env {
            "PGSSLMODE=require"
        } else {
            "sslmode = \"require\""
        };
        let (summary, who) = if iam_auth {
            (
                "TLS certificate not checked: the IAM token can be stolen",
                "receive the IAM auth token, which works for anyone who holds it: they can replay it to log in as this user for up to 15 minutes",
            )
        } else {
            ("TLS certificate not checked", "receive the password")
        };
        out.warnings.push(problem(
            "sslmode",
            summary,
            format!(
                "{said} encrypts the connection but accepts any server certificate: anyone who can intercept or redirect it (DNS, the network, a proxy) can pose as the server and {who}. Leave sslmode unset to check the certificate and the host name (verify-full, against the system's CAs and the Amazon RDS CA bundle built into the provider), or set sslrootcert to the CA that signed the server certificate."
            ),
        ));
    }
    out
}

/// What to say about an sslmode the provider does not take.
pub fn sslmode_choices(text: &str) -> String {
    match text {
        "prefer" | "allow" => format!(
            "{text:?} is not accepted: it would let the connection fall back to no TLS (or no certificate check) without telling. Leave sslmode unset for verify-full (the default), or write \"require\" (encrypted, certificate not checked) or \"disable\" explicitly."
        ),
        _ => "use verify-full (the default: certificate and host name checked), verify-ca, require or disable.".to_string(),
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
            .field("sslmode", &self.sslmode.as_str())
            .field("roots", &self.roots)
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
            roots: self.roots.clone(),
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
