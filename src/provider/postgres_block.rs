//! The provider's `postgres { … }` block: its schema, plan-time checks, and the conversion of
//! its Terraform value into [`PgBlock`] (merged with the libpq environment by `pg::settings`).

use crate::pg::duration::validate_timeout;
use crate::pg::settings::{self, PgBlock, PgSettings};
use crate::pg::tls::SslMode;
use crate::tfplugin::{
    Attribute, AttributePath, Block, Diagnostic, Diagnostics, NestedBlock, Nesting, Value,
};

pub const BLOCK: &str = "postgres";

/// The single `postgres` block (a list of at most one in the cty value), or Null.
pub fn block_of(config: &Value) -> Value {
    config
        .get(BLOCK)
        .as_list()
        .and_then(|l| l.first())
        .cloned()
        .unwrap_or(Value::Null)
}

pub fn schema_block() -> NestedBlock {
    let s = |n: &str, d: &str| Attribute::string(n).optional().description(d);
    let n = |name: &str, d: &str| Attribute::number(name).optional().description(d);
    NestedBlock::new(
        BLOCK,
        Nesting::List,
        Block::new(
            "How the provider connects to PostgreSQL (needed only by the `rdsiam_postgres_*` resources; nothing connects until one of them is planned). Unset values fall back to the libpq environment variables `PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`.",
        )
        .attr(s("host", "Server host name (`PGHOST`); also the name checked by `verify-full`."))
        .attr(s("hostaddr", "IP address to connect to instead of resolving `host` (`PGHOSTADDR`), e.g. through a tunnel; TLS still verifies `host`."))
        .attr(n("port", "Server port (`PGPORT`, default 5432)."))
        .attr(s("database", "Database to connect to (`PGDATABASE`, default `postgres`)."))
        .attr(s("username", "Login role of the provider (`PGUSER`). On RDS, typically the master user or a role with CREATEROLE that holds `rds_iam` WITH ADMIN OPTION."))
        .attr(
            Attribute::string("password")
                .optional()
                .sensitive()
                .description("Password (`PGPASSWORD`). Conflicts with `iam_auth` and `password_secret` (with either, `PGPASSWORD` is ignored)."),
        )
        .attr(
            Attribute::string("password_secret")
                .optional()
                .description("ARN or name of an AWS Secrets Manager secret holding the login: the JSON `{\"username\": …, \"password\": …}` of an RDS-managed master user secret (other keys such as `engine`, `host` or `port` are ignored), or the password alone as plain text. Read with the `aws` block's credentials (`secretsmanager:GetSecretValue`, plus `kms:Decrypt` for a customer managed key; a secret ARN names its region, a name uses the `aws` block's) when the first connection is needed, kept in memory only (never in state, plan or logs), and read again once when PostgreSQL rejects the password, so a rotated secret is picked up mid-run. The login role is `username` if set, else the secret's `username`, else `PGUSER`. Conflicts with `password` and `iam_auth`; `PGPASSWORD` is ignored."),
        )
        .attr(
            Attribute::bool("iam_auth")
                .optional()
                .description("Log in with an IAM auth token minted by the provider for every new connection (so no connection ever uses a token older than 15 minutes), instead of a password (default `false`). Needs AWS credentials (see the `aws` block) and TLS."),
        )
        .attr(s("token_hostname", "Host name the IAM token is signed for, when connecting through a tunnel or proxy (default: `host`)."))
        .attr(n("token_port", "Port the IAM token is signed for (default: `port`)."))
        .attr(s("token_region", "Region the IAM token is signed for (default: the `aws` block's region)."))
        .attr(s("sslmode", "How the connection is protected (`PGSSLMODE`): `verify-full` (the default: the server certificate must be signed by a trusted CA, see `sslrootcert`, and name `host`), `verify-ca` (signed by a CA of `sslrootcert`, any host name), `require` (encrypted, certificate not checked, and a plan-time warning says so; with `sslrootcert` its chain is checked, as in libpq), or `disable` (no TLS; not allowed with `iam_auth`). `prefer` and `allow` are not accepted."))
        .attr(s("sslrootcert", "The CA certificates the server certificate must be signed by (`PGSSLROOTCERT`): a file path or the PEM text itself, used alone (as in libpq), or `system` for the system's CAs only (needs `verify-full`). Default: the system's CAs plus the Amazon RDS CA bundle built into the provider (every commercial region, RDS Proxy included), so RDS needs nothing here."))
        .attr(n("connect_timeout", "Seconds to wait for a connection (`PGCONNECT_TIMEOUT`, default 15)."))
        .attr(n("max_connections", "Most connections the provider opens at once, across all databases (default 4)."))
        .attr(s("statement_timeout", "`statement_timeout` for the provider's own sessions, e.g. `60s` (default: the server's)."))
        .attr(s("lock_timeout", "`lock_timeout` for the provider's own sessions (default `15s`): a locked table becomes an error, never a hang.")),
    )
    .max_items(1)
}

fn path(attr: &str) -> AttributePath {
    AttributePath::root(BLOCK).index(0).attr(attr)
}

type TextCheck = fn(&str) -> Result<(), String>;

/// Plan-time checks of the block's text attributes.
const TEXT_CHECKS: [(&str, TextCheck); 8] = [
    ("host", check_host),
    ("hostaddr", check_hostaddr),
    ("database", check_name),
    ("username", check_name),
    ("token_hostname", check_token_hostname),
    ("token_region", check_region),
    ("sslrootcert", check_sslrootcert),
    ("password_secret", check_secret_id),
];

fn check_host(s: &str) -> Result<(), String> {
    if s.is_empty() || s.contains(char::is_whitespace) || s.contains("://") {
        Err(format!(
            "{s:?} is not a host name: give the bare name or address, without scheme or spaces."
        ))
    } else {
        Ok(())
    }
}

fn check_hostaddr(s: &str) -> Result<(), String> {
    s.parse::<std::net::IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("{s:?} is not an IP address."))
}

fn check_name(s: &str) -> Result<(), String> {
    crate::pg::ident::validate_name(s).map_err(|e| format!("{s:?} {e}."))
}

fn check_token_hostname(s: &str) -> Result<(), String> {
    crate::aws::token::validate_hostname(s, 5432)
        .map(|_| ())
        .map_err(|e| format!("{}.", e.0))
}

fn check_secret_id(s: &str) -> Result<(), String> {
    crate::aws::secrets::validate_secret_id(s).map_err(|e| format!("{e}."))
}

fn check_region(s: &str) -> Result<(), String> {
    crate::aws::arn::validate_region(s).map_err(|e| format!("{e}."))
}

/// Only the shape: the file is read when connecting, since plan and apply may run on
/// different machines (and `terraform validate` on one that has no such file).
fn check_sslrootcert(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("empty: give a CA bundle file path or its PEM text.".into())
    } else {
        Ok(())
    }
}

/// Checks what the configuration says on its own (values may be unknown).
pub fn validate(block: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    if let Some(m) = block.get("sslmode").as_str()
        && SslMode::parse(m).is_none()
    {
        d.error_at(
            path("sslmode"),
            "Invalid sslmode",
            format!("{m:?}: {}", settings::sslmode_choices(m)),
        );
    }
    if block.get("iam_auth").as_bool() == Some(true) {
        if block.get("sslmode").as_str() == Some("disable") {
            d.error_at(
                path("sslmode"),
                "IAM authentication needs TLS",
                "RDS accepts IAM tokens only over TLS: remove sslmode = \"disable\" (unset, it means verify-full).",
            );
        }
        if !block.get("password").is_null() {
            d.error_at(
                path("password"),
                "Conflicting authentication",
                "Set either password or iam_auth = true, not both.",
            );
        }
    }
    if !block.get("password_secret").is_null() {
        for (other, set) in [
            ("password", !block.get("password").is_null()),
            ("iam_auth", block.get("iam_auth").as_bool() == Some(true)),
        ] {
            if set {
                d.error_at(
                    path("password_secret"),
                    "Conflicting authentication",
                    format!("Set either password_secret or {other}, not both: password_secret is where the password comes from."),
                );
            }
        }
    }
    // Checked here, not only when the first resource connects, so a typo fails the plan.
    for (attr, check) in TEXT_CHECKS {
        if let Some(v) = block.get(attr).as_str()
            && let Err(e) = check(v)
        {
            d.error_at(path(attr), format!("Invalid {attr}"), e);
        }
    }
    for attr in ["statement_timeout", "lock_timeout"] {
        if let Some(t) = block.get(attr).as_str()
            && !validate_timeout(t)
        {
            d.error_at(
                path(attr),
                format!("Invalid {attr}"),
                format!("{t:?} is not a duration like 30s, 1500ms, 5min or 1h (at most 24 days)."),
            );
        }
    }
    for (attr, lo, hi) in [
        ("port", 1.0, 65535.0),
        ("token_port", 1.0, 65535.0),
        ("connect_timeout", 1.0, 3600.0),
        ("max_connections", 1.0, 100.0),
    ] {
        if let Some(n) = block.get(attr).as_f64()
            && (n < lo || n > hi || n.fract() != 0.0)
        {
            d.error_at(
                path(attr),
                format!("Invalid {attr}"),
                format!("{n} is not a whole number from {lo} to {hi}."),
            );
        }
    }
    d
}

/// The TLS attributes, all known (else the TLS checks wait for apply).
fn tls_known(block: &Value) -> bool {
    !block.is_null()
        && ["sslmode", "sslrootcert", "iam_auth"]
            .iter()
            .all(|a| block.get(a).is_wholly_known())
}

/// Plan-time TLS checks that need the environment too (`PGSSLMODE`, `PGSSLROOTCERT`): an
/// `sslmode` / `sslrootcert` pair with no trust store, and the warning that `require` does not
/// check the certificate. Files are not read here (`terraform validate` may run where they are
/// absent); see [`check_tls_files`].
pub fn validate_tls(block: &Value, env: &dyn Fn(&str) -> Option<String>) -> Diagnostics {
    let mut d = Diagnostics::new();
    if !tls_known(block) {
        return d;
    }
    let out = settings::resolve_tls(&typed(block), env, false);
    for e in out.errors {
        d.error_at(path(e.attr), e.summary, e.detail);
    }
    for w in out.warnings {
        d.push(Diagnostic::warning(w.summary, w.detail).at(path(w.attr)));
    }
    d
}

/// The `sslrootcert` file read and checked when the provider is configured (plan and apply),
/// so a missing or unusable file fails the plan with one error, before anything connects.
pub fn check_tls_files(block: &Value, env: &dyn Fn(&str) -> Option<String>) -> Diagnostics {
    let mut d = Diagnostics::new();
    if !tls_known(block) {
        return d;
    }
    for e in settings::resolve_tls(&typed(block), env, true).errors {
        if e.attr == "sslrootcert" {
            d.error_at(path(e.attr), e.summary, e.detail);
        }
    }
    d
}

/// The block's attributes as plain values (Null becomes `None`); called once the block is
/// wholly known.
fn typed(block: &Value) -> PgBlock {
    let text = |attr: &str| block.get(attr).as_str().map(str::to_string);
    let number = |attr: &str| block.get(attr).as_i64();
    PgBlock {
        host: text("host"),
        hostaddr: text("hostaddr"),
        port: number("port"),
        database: text("database"),
        username: text("username"),
        password: text("password"),
        password_secret: text("password_secret"),
        iam_auth: block.get("iam_auth").as_bool(),
        token_hostname: text("token_hostname"),
        token_port: number("token_port"),
        token_region: text("token_region"),
        sslmode: text("sslmode"),
        sslrootcert: text("sslrootcert"),
        connect_timeout: number("connect_timeout"),
        max_connections: number("max_connections"),
        statement_timeout: text("statement_timeout"),
        lock_timeout: text("lock_timeout"),
    }
}

/// Checks the block, then merges it with the environment. `Ok(None)`: PostgreSQL is not
/// configured at all.
pub fn resolve(
    block: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PgSettings>, Diagnostics> {
    let mut d = validate(block);
    // An unknown value must not silently fall back to PGHOST & co.
    if !block.is_wholly_known() {
        d.error_at(
            AttributePath::root(BLOCK),
            "PostgreSQL settings not yet known",
            "The postgres block depends on values that are only known after apply (e.g. a database created in the same run). Apply those first (terraform apply -target=…), or pass the values in as variables.",
        );
        return Err(d);
    }
    match settings::resolve(&typed(block), env) {
        Ok(s) if !d.has_errors() => Ok(s),
        Ok(_) => Err(d),
        Err(errors) => {
            for e in errors {
                d.error_at(path(e.attr), e.summary, e.detail);
            }
            Err(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn env_fills_gaps_block_wins() {
        let block = Value::object([
            ("host", Value::string("db.example")),
            ("port", Value::int(6432)),
        ]);
        let s = resolve(
            &block,
            &env(&[
                ("PGHOST", "other"),
                ("PGPORT", "1"),
                ("PGUSER", "admin"),
                ("PGPASSWORD", "pw"),
            ]),
        );
        let s = match s {
            Ok(Some(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(s.host, "db.example");
        assert_eq!(s.port, 6432);
        assert_eq!(s.username, "admin");
        assert_eq!(s.password.as_deref(), Some("pw"));
        assert_eq!(s.database, "postgres");
        // Secure by default: chain and host name checked against the default trust store.
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert!(s.roots == crate::pg::tls::Roots::Default);
        assert_eq!(s.max_connections, 4);
    }

    #[test]
    fn not_configured_is_none() {
        assert!(matches!(resolve(&Value::Null, &env(&[])), Ok(None)));
    }

    #[test]
    fn iam_without_tls_is_a_plan_error() {
        let block = Value::object([
            ("host", Value::string("h")),
            ("username", Value::string("u")),
            ("iam_auth", Value::bool(true)),
            ("sslmode", Value::string("disable")),
        ]);
        let d = validate(&block);
        assert!(d.has_errors());
        assert_eq!(
            d.0.first()
                .and_then(|d| d.attribute.as_ref())
                .map(|p| p.to_string()),
            Some("postgres[0].sslmode".to_string())
        );
        // PGSSLMODE=disable is caught when settings are resolved.
        let block = Value::object([
            ("host", Value::string("h")),
            ("username", Value::string("u")),
            ("iam_auth", Value::bool(true)),
        ]);
        assert!(resolve(&block, &env(&[("PGSSLMODE", "disable")])).is_err());
    }

    #[test]
    fn password_secret_conflicts_at_its_path() {
        let paths = |block: &Value| -> Vec<(String, String)> {
            validate(block)
                .0
                .iter()
                .map(|d| {
                    (
                        d.attribute
                            .as_ref()
                            .map(|p| p.to_string())
                            .unwrap_or_default(),
                        d.summary.clone(),
                    )
                })
                .collect()
        };
        let conflict = |a: &str| {
            (
                format!("postgres[0].{a}"),
                "Conflicting authentication".to_string(),
            )
        };
        let with = |k: &str, v: Value| {
            Value::object([("password_secret", Value::string("prod/db-admin")), (k, v)])
        };
        assert_eq!(
            paths(&with("password", Value::string("pw"))),
            vec![conflict("password_secret")]
        );
        assert_eq!(
            paths(&with("iam_auth", Value::bool(true))),
            vec![conflict("password_secret")]
        );
        assert!(paths(&with("iam_auth", Value::bool(false))).is_empty());
        // Unknown at plan time: still a conflict (it will be set), never a false error alone.
        assert_eq!(
            paths(&Value::object([
                ("password_secret", Value::Unknown),
                ("password", Value::string("pw"))
            ])),
            vec![conflict("password_secret")]
        );
        assert!(paths(&Value::object([("password_secret", Value::Unknown)])).is_empty());
        assert_eq!(
            paths(&Value::object([(
                "password_secret",
                Value::string("has space")
            )])),
            vec![(
                "postgres[0].password_secret".to_string(),
                "Invalid password_secret".to_string()
            )]
        );
    }

    fn block(pairs: &[(&str, &str)]) -> Value {
        let mut fields = vec![
            ("host", Value::string("h")),
            ("username", Value::string("u")),
        ];
        for (k, v) in pairs {
            let v = match *v {
                "true" => Value::bool(true),
                v => Value::string(v),
            };
            fields.push((k, v));
        }
        Value::object(fields)
    }

    /// Everything `resolve` and the plan-time checks say, as (path, summary, detail).
    fn said(d: &Diagnostics) -> Vec<(String, String, String)> {
        d.0.iter()
            .map(|d| {
                (
                    d.attribute
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    d.summary.clone(),
                    d.detail.clone(),
                )
            })
            .collect()
    }

    fn no_rust_names(texts: &[(String, String, String)]) {
        for (p, s, d) in texts {
            let all = format!("{s} {d}");
            for name in [
                "VerifyFull",
                "VerifyCa",
                "Require",
                "Disable",
                "SslMode",
                "Roots",
                "Some(",
                "None",
            ] {
                assert!(!all.contains(name), "{p}: {all}");
            }
        }
    }

    #[test]
    fn sslrootcert_alone_means_verify_full_against_it() {
        let pem = crate::pg::tls::RDS_CA_BUNDLE;
        let s = resolve(&block(&[("sslrootcert", pem)]), &env(&[]));
        let s = match s {
            Ok(Some(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert!(matches!(s.roots, crate::pg::tls::Roots::Given { .. }));
        // Also from the environment, and "system" as libpq.
        let s = resolve(&block(&[]), &env(&[("PGSSLROOTCERT", "system")]));
        assert!(
            matches!(s, Ok(Some(s)) if s.sslmode == SslMode::VerifyFull && s.roots == crate::pg::tls::Roots::System)
        );
    }

    #[test]
    fn no_trust_store_is_a_plan_error() {
        for (b, e, summary) in [
            (
                vec![("sslmode", "verify-ca")],
                vec![],
                "verify-ca needs sslrootcert",
            ),
            (
                vec![],
                vec![("PGSSLMODE", "verify-ca")],
                "verify-ca needs sslrootcert",
            ),
            (
                vec![("sslmode", "require"), ("sslrootcert", "system")],
                vec![],
                "sslrootcert = \"system\" needs verify-full",
            ),
            (
                vec![("sslrootcert", "system")],
                vec![("PGSSLMODE", "verify-ca")],
                "sslrootcert = \"system\" needs verify-full",
            ),
            (vec![], vec![("PGSSLMODE", "prefer")], "Invalid sslmode"),
        ] {
            let env_pairs: &'static [(&'static str, &'static str)] =
                Box::leak(e.into_boxed_slice());
            let blk = block(&b);
            // At plan time (validate) and, the same single error, when settings are resolved.
            let at_plan = said(&validate_tls(&blk, &env(env_pairs)));
            assert_eq!(at_plan.len(), 1, "{b:?} {env_pairs:?}: {at_plan:?}");
            assert_eq!(at_plan[0].0, "postgres[0].sslmode");
            assert_eq!(at_plan[0].1, summary);
            let resolved = resolve(&blk, &env(env_pairs)).err().map(|d| said(&d));
            assert_eq!(resolved.as_ref().map(Vec::len), Some(1), "{resolved:?}");
            no_rust_names(&at_plan);
        }
        // prefer in the block: validate says it, once, plainly.
        let d = said(&validate(&block(&[("sslmode", "prefer")])));
        assert_eq!(d.len(), 1);
        assert!(d[0].2.contains("\"prefer\" is not accepted"), "{d:?}");
        let n = resolve(&block(&[("sslmode", "prefer")]), &env(&[]))
            .err()
            .map(|d| d.0.len());
        assert_eq!(n, Some(1));
    }

    #[test]
    fn an_unreadable_sslrootcert_is_one_error() {
        for extra in [
            vec![],
            vec![("sslmode", "verify-full")],
            vec![("sslmode", "verify-ca")],
        ] {
            let mut b = extra.clone();
            b.push(("sslrootcert", "/nonexistent/rds-ca.pem"));
            let blk = block(&b);
            // Not read by validate (terraform validate may run where the file is absent)...
            assert!(validate_tls(&blk, &env(&[])).is_empty());
            // ...read when configuring (plan) and when connecting: one error either way.
            for d in [
                check_tls_files(&blk, &env(&[])),
                resolve(&blk, &env(&[])).err().unwrap_or_default(),
            ] {
                let d = said(&d);
                assert_eq!(d.len(), 1, "{extra:?}: {d:?}");
                assert_eq!(d[0].0, "postgres[0].sslrootcert");
                assert!(
                    d[0].2.contains(
                        "Cannot read the sslrootcert file \"/nonexistent/rds-ca.pem\": no such file"
                    ),
                    "{d:?}"
                );
                no_rust_names(&d);
            }
        }
        // PGSSLROOTCERT says where it came from.
        let d = said(&check_tls_files(
            &block(&[]),
            &env(&[("PGSSLROOTCERT", "/nonexistent/x.pem")]),
        ));
        assert_eq!(d.len(), 1);
        assert!(d[0].2.contains("(PGSSLROOTCERT)"), "{d:?}");
        // Not a certificate: one error too.
        let d = said(&check_tls_files(
            &block(&[("sslrootcert", "-----BEGIN CERTIFICATE-----\nx")]),
            &env(&[]),
        ));
        assert_eq!(d.len(), 1, "{d:?}");
    }

    #[test]
    fn require_warns_at_plan_time() {
        let d = said(&validate_tls(&block(&[("sslmode", "require")]), &env(&[])));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].1, "TLS certificate not checked");
        assert!(d[0].2.contains("accepts any server certificate"), "{d:?}");
        assert!(!validate_tls(&block(&[("sslmode", "require")]), &env(&[])).has_errors());
        // Stronger with IAM: the token can be replayed.
        let d = said(&validate_tls(
            &block(&[("sslmode", "require"), ("iam_auth", "true")]),
            &env(&[]),
        ));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].1.contains("IAM token"), "{d:?}");
        assert!(d[0].2.contains("15 minutes"), "{d:?}");
        // From the environment as well.
        let d = said(&validate_tls(
            &block(&[]),
            &env(&[("PGSSLMODE", "require")]),
        ));
        assert!(
            d.len() == 1 && d[0].2.starts_with("PGSSLMODE=require"),
            "{d:?}"
        );
        no_rust_names(&d);
        // Not when the chain is checked, nor by default.
        for b in [
            vec![("sslmode", "require"), ("sslrootcert", "/some/ca.pem")],
            vec![],
            vec![("sslmode", "verify-full")],
        ] {
            assert!(validate_tls(&block(&b), &env(&[])).is_empty(), "{b:?}");
        }
        // Unknown values: nothing said until they are known.
        let unknown = Value::object([("host", Value::string("h")), ("sslmode", Value::Unknown)]);
        assert!(validate_tls(&unknown, &env(&[("PGSSLMODE", "require")])).is_empty());
        // No postgres block: the environment alone is not checked.
        assert!(validate_tls(&Value::Null, &env(&[("PGSSLMODE", "verify-ca")])).is_empty());
    }

    #[test]
    fn text_attributes_are_checked_at_plan_time() {
        let long = "a".repeat(64);
        for (attr, bad) in [
            ("host", ""),
            ("host", "db example.com"),
            ("hostaddr", "10.0.0.300"),
            ("database", ""),
            ("username", long.as_str()),
            ("token_hostname", "https://db.example.com"),
            ("token_region", "eu-west1"),
            ("sslrootcert", " "),
        ] {
            let block = Value::object([(attr, Value::string(bad))]);
            let d = validate(&block);
            let paths: Vec<String> =
                d.0.iter()
                    .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
                    .collect();
            assert_eq!(
                paths,
                vec![format!("postgres[0].{attr}")],
                "{attr} = {bad:?}"
            );
            // Reported once, also when the settings are resolved.
            let block = Value::object([
                ("host", Value::string("h")),
                ("username", Value::string("u")),
                (attr, Value::string(bad)),
            ]);
            let n = resolve(&block, &env(&[])).err().map(|d| d.0.len());
            assert_eq!(n, Some(1), "{attr} = {bad:?}");
        }
        let ok = Value::object([
            ("host", Value::string("db.example.com")),
            ("hostaddr", Value::string("::1")),
            ("database", Value::string("a\"b")),
            ("token_region", Value::string("us-gov-west-1")),
            (
                "sslrootcert",
                Value::string("-----BEGIN CERTIFICATE-----\nx"),
            ),
        ]);
        assert!(validate(&ok).is_empty());
        // A missing file is an error when connecting, not when planning.
        let missing = Value::object([
            ("host", Value::string("h")),
            ("username", Value::string("u")),
            ("sslrootcert", Value::string("/nonexistent/rds-ca.pem")),
        ]);
        assert!(validate(&missing).is_empty());
        let n = resolve(&missing, &env(&[])).err().map(|d| d.0.len());
        assert_eq!(n, Some(1));
    }
}
