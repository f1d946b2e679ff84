//! Provider logs the way Terraform reads them: one go-hclog JSON object per line on stderr
//! (`@level`, `@message`, `@module`, `@timestamp`, then key/value fields). go-plugin parses each
//! line of a plugin's stderr and re-logs it through Terraform's provider logger, which filters
//! by `TF_LOG_PROVIDER` (else `TF_LOG`). Nothing is written unless one of them asks for logs.
//!
//! Two modules, as terraform-plugin-go has them: `provider` (the provider's own lines, level
//! `TF_LOG_PROVIDER_<TYPE>` if set) and `sdk.proto` (one line per RPC from the server, level
//! `TF_LOG_SDK_PROTO` / `TF_LOG_SDK` if set). The server puts the per-request fields (`tf_rpc`,
//! `tf_req_id`, `tf_resource_type`, …) in a task-local [`LogContext`], so a provider's log call
//! deep inside a resource carries them without being passed anything.
//!
//! Every string that leaves goes through [`redact`]: registered secrets, anything that looks
//! like an IAM auth token, and fields whose name says they are secret are masked.

use std::borrow::Cow;
use std::future::Future;
use std::io::Write;
use std::sync::{OnceLock, RwLock};

use serde_json::{Map, Value as Json};

/// Module of the provider's own lines.
pub const PROVIDER: &str = "provider";
/// Module of the protocol server's lines (terraform-plugin-go's name for the same thing).
pub const PROTO: &str = "sdk.proto";

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Query parameters only a presigned SigV4 URL (an IAM auth token) carries.
const TOKEN_MARKERS: &[&str] = &[
    "x-amz-signature=",
    "x-amz-credential=",
    "x-amz-security-token=",
];

/// go-plugin reads stderr in 64 KiB lines and logs longer ones unparsed: keep values well below.
const MAX_VALUE_CHARS: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Off,
}

impl Level {
    /// hclog's JSON level names.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Off => "off",
        }
    }

    /// A `TF_LOG`-style value as Terraform reads it: unset or empty is `None`, `JSON` and
    /// anything unrecognised mean trace.
    pub fn parse(s: &str) -> Option<Level> {
        let l = match s.trim().to_ascii_uppercase().as_str() {
            "" => return None,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERROR" => Level::Error,
            "OFF" => Level::Off,
            _ => Level::Trace,
        };
        Some(l)
    }
}

/// A field value. Numbers stay numbers in the JSON (Terraform prints them unquoted).
/// Strings are borrowed: log calls sit on hot paths (every SQL statement) and must cost
/// nothing when logging is off.
#[derive(Clone, Debug, PartialEq)]
pub enum Val<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    /// A value that must never be written: always logged as [`REDACTED`].
    Secret,
}

impl<'a> From<&'a str> for Val<'a> {
    fn from(s: &'a str) -> Self {
        Val::Str(Cow::Borrowed(s))
    }
}
impl From<String> for Val<'_> {
    fn from(s: String) -> Self {
        Val::Str(Cow::Owned(s))
    }
}
impl<'a> From<&'a String> for Val<'a> {
    fn from(s: &'a String) -> Self {
        Val::Str(Cow::Borrowed(s))
    }
}
impl From<bool> for Val<'_> {
    fn from(b: bool) -> Self {
        Val::Bool(b)
    }
}
macro_rules! int_val {
    ($($t:ty),*) => {$(
        impl From<$t> for Val<'_> {
            fn from(n: $t) -> Self {
                i64::try_from(n).map(Val::Int).unwrap_or_else(|_| Val::Str(Cow::Owned(n.to_string())))
            }
        }
    )*};
}
int_val!(i32, i64, u16, u32, u64, u128, usize);

/// A field marked secret: the value is dropped here, only [`REDACTED`] is ever written.
pub fn secret<T>(_value: T) -> Val<'static> {
    Val::Secret
}

/// Per-request fields added to every line logged while the request runs.
#[derive(Clone, Debug, Default)]
pub struct LogContext {
    fields: Vec<(&'static str, String)>,
}

impl LogContext {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.fields.retain(|(k, _)| *k != key);
        self.fields.push((key, value.into()));
        self
    }

    /// Runs `f` with these fields on every line it logs.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        CONTEXT.scope(self, f).await
    }
}

tokio::task_local! {
    static CONTEXT: LogContext;
}

/// The fields of the request being served (empty outside one), e.g. to carry them into a
/// spawned task.
pub fn current() -> LogContext {
    CONTEXT.try_with(Clone::clone).unwrap_or_default()
}

struct Config {
    provider: Level,
    proto: Level,
    provider_address: String,
}

static CONFIG: OnceLock<Config> = OnceLock::new();
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Sets the levels from the environment Terraform gave the plugin. Call once at start-up;
/// until then (and in unit tests) nothing is logged.
pub fn init(provider_address: &str) {
    init_with(provider_address, &|k| std::env::var(k).ok());
}

/// [`init`] with an explicit environment.
pub fn init_with(provider_address: &str, env: &dyn Fn(&str) -> Option<String>) {
    let (provider, proto) = levels(provider_address, env);
    let _ = CONFIG.set(Config {
        provider,
        proto,
        provider_address: provider_address.to_string(),
    });
}

/// `(provider, sdk.proto)` levels. Terraform shows plugin lines at `TF_LOG_PROVIDER`, else
/// `TF_LOG`; when neither asks for logs it would drop every line, so we write none.
fn levels(provider_address: &str, env: &dyn Fn(&str) -> Option<String>) -> (Level, Level) {
    let get = |k: &str| env(k).as_deref().and_then(Level::parse);
    let base = get("TF_LOG_PROVIDER").or_else(|| get("TF_LOG"));
    let base = match base {
        None | Some(Level::Off) => return (Level::Off, Level::Off),
        Some(l) => l,
    };
    let type_name = provider_address.rsplit('/').next().unwrap_or_default();
    let own = format!(
        "TF_LOG_PROVIDER_{}",
        type_name.to_ascii_uppercase().replace('-', "_")
    );
    let provider = get(&own).unwrap_or(base);
    let proto = get("TF_LOG_SDK_PROTO")
        .or_else(|| get("TF_LOG_SDK"))
        .unwrap_or(base);
    (provider, proto)
}

/// The provider address given to [`init`], for the `tf_provider_addr` field.
pub fn provider_address() -> &'static str {
    CONFIG
        .get()
        .map(|c| c.provider_address.as_str())
        .unwrap_or("")
}

/// Whether a line of `module` at `level` would be written (to skip building costly fields).
pub fn enabled(module: &str, level: Level) -> bool {
    let Some(c) = CONFIG.get() else {
        return false;
    };
    let min = if module == PROTO { c.proto } else { c.provider };
    level != Level::Off && min != Level::Off && level >= min
}

/// Masks `secret` wherever it appears in anything logged from now on (passwords, secret
/// keys, session tokens). Empty strings are ignored.
pub fn register_secret(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let mut list = match SECRETS.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    for s in [secret.to_string(), encoded] {
        if !list.contains(&s) {
            list.push(s);
        }
    }
    // Longest first, so a secret containing another is masked whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with registered secrets and IAM-token-looking words replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let list = match SECRETS.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for s in list.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), REDACTED));
            }
        }
    }
    let lower = out.to_ascii_lowercase();
    if !TOKEN_MARKERS.iter().any(|m| lower.contains(m)) {
        return out;
    }
    // A token has no whitespace: mask every whitespace-separated word that carries a marker.
    let mut masked = String::with_capacity(out.len());
    let mut rest: &str = &out;
    while !rest.is_empty() {
        let ws = rest.len() - rest.trim_start().len();
        masked.push_str(&rest[..ws]);
        rest = &rest[ws..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        let lw = word.to_ascii_lowercase();
        if TOKEN_MARKERS.iter().any(|m| lw.contains(m)) {
            masked.push_str(REDACTED);
        } else {
            masked.push_str(word);
        }
        rest = &rest[end..];
    }
    Cow::Owned(masked)
}

/// Field names whose value is a secret whatever the caller passed.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "token",
        "secret",
        "secret_key",
        "secret_access_key",
    ]
    .iter()
    .any(|s| k == *s || k.ends_with(&format!("_{s}")))
}

fn clip(s: Cow<'_, str>) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => format!("{}…(truncated)", &s[..i]),
        None => s.into_owned(),
    }
}

fn json_value(key: &str, v: &Val) -> Json {
    if is_secret_key(key) {
        return Json::from(REDACTED);
    }
    match v {
        Val::Str(s) => Json::from(clip(redact(s))),
        Val::Int(n) => Json::from(*n),
        Val::Bool(b) => Json::from(*b),
        Val::Secret => Json::from(REDACTED),
    }
}

/// hclog's JSON timestamp; go-plugin parses exactly this layout (six fractional digits).
fn timestamp(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// One log line (with its newline): the hclog header, then the context fields, then `fields`.
/// Keys beginning with `@` are dropped: they would overwrite the header go-plugin reads.
pub fn format_line(
    level: Level,
    module: &str,
    message: &str,
    context: &LogContext,
    fields: &[(&str, Val)],
    now: time::OffsetDateTime,
) -> String {
    let mut m = Map::new();
    m.insert("@level".into(), Json::from(level.as_str()));
    m.insert("@message".into(), Json::from(clip(redact(message))));
    m.insert("@module".into(), Json::from(module));
    m.insert("@timestamp".into(), Json::from(timestamp(now)));
    for (k, v) in &context.fields {
        if !k.starts_with('@') {
            m.insert((*k).to_string(), json_value(k, &Val::Str(Cow::Borrowed(v))));
        }
    }
    for (k, v) in fields {
        if !k.starts_with('@') {
            m.insert((*k).to_string(), json_value(k, v));
        }
    }
    let mut line = Json::Object(m).to_string();
    line.push('\n');
    line
}

/// Writes one line of `module` at `level` if enabled. Never fails: logging must not break
/// the provider.
pub fn emit(level: Level, module: &str, message: &str, fields: &[(&str, Val)]) {
    if !enabled(module, level) {
        return;
    }
    let now = time::OffsetDateTime::now_utc();
    let line = CONTEXT
        .try_with(|cx| format_line(level, module, message, cx, fields, now))
        .unwrap_or_else(|_| format_line(level, module, message, &LogContext::new(), fields, now));
    // One write per line, so lines from concurrent requests never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub fn trace(message: &str, fields: &[(&str, Val)]) {
    emit(Level::Trace, PROVIDER, message, fields);
}
pub fn debug(message: &str, fields: &[(&str, Val)]) {
    emit(Level::Debug, PROVIDER, message, fields);
}
pub fn info(message: &str, fields: &[(&str, Val)]) {
    emit(Level::Info, PROVIDER, message, fields);
}
pub fn warn(message: &str, fields: &[(&str, Val)]) {
    emit(Level::Warn, PROVIDER, message, fields);
}
pub fn error(message: &str, fields: &[(&str, Val)]) {
    emit(Level::Error, PROVIDER, message, fields);
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

    const ADDR: &str = "registry.terraform.io/rdsiam/rdsiam";

    #[test]
    fn levels_follow_terraform() {
        assert_eq!(levels(ADDR, &env(&[])), (Level::Off, Level::Off));
        assert_eq!(
            levels(ADDR, &env(&[("TF_LOG", "")])),
            (Level::Off, Level::Off)
        );
        assert_eq!(
            levels(ADDR, &env(&[("TF_LOG", "trace")])),
            (Level::Trace, Level::Trace)
        );
        assert_eq!(
            levels(ADDR, &env(&[("TF_LOG", "JSON")])),
            (Level::Trace, Level::Trace)
        );
        // Terraform treats an unknown level as TRACE.
        assert_eq!(
            levels(ADDR, &env(&[("TF_LOG", "verbose")])),
            (Level::Trace, Level::Trace)
        );
        // TF_LOG_PROVIDER wins over TF_LOG, both ways.
        assert_eq!(
            levels(
                ADDR,
                &env(&[("TF_LOG", "trace"), ("TF_LOG_PROVIDER", "warn")])
            ),
            (Level::Warn, Level::Warn)
        );
        assert_eq!(
            levels(
                ADDR,
                &env(&[("TF_LOG", "trace"), ("TF_LOG_PROVIDER", "off")])
            ),
            (Level::Off, Level::Off)
        );
        assert_eq!(
            levels(ADDR, &env(&[("TF_LOG_PROVIDER", "debug")])),
            (Level::Debug, Level::Debug)
        );
        // Per-provider and per-module refinements, as terraform-plugin-go reads them.
        assert_eq!(
            levels(
                ADDR,
                &env(&[
                    ("TF_LOG", "debug"),
                    ("TF_LOG_PROVIDER_RDSIAM", "trace"),
                    ("TF_LOG_SDK_PROTO", "error"),
                ])
            ),
            (Level::Trace, Level::Error)
        );
        assert_eq!(
            levels(ADDR, &env(&[("TF_LOG", "debug"), ("TF_LOG_SDK", "off")])),
            (Level::Debug, Level::Off)
        );
        // Alone, the per-provider variable does not turn logging on: Terraform would drop it.
        assert_eq!(
            levels(ADDR, &env(&[("TF_LOG_PROVIDER_RDSIAM", "trace")])),
            (Level::Off, Level::Off)
        );
    }

    #[test]
    fn line_is_hclog_json() {
        let now = time::OffsetDateTime::from_unix_timestamp_nanos(1_795_896_000_123_456_789)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let cx = LogContext::new()
            .with("tf_rpc", "ApplyResourceChange")
            .with("tf_resource_type", "rdsiam_postgres_user");
        let line = format_line(
            Level::Debug,
            PROVIDER,
            "PostgreSQL connection opened",
            &cx,
            &[
                ("host", "db.example.com".into()),
                ("port", 5432u16.into()),
                ("iam_auth", true.into()),
                ("@level", "error".into()),
            ],
            now,
        );
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "one line: {line}");
        let v: Json = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(v["@level"], "debug");
        assert_eq!(v["@message"], "PostgreSQL connection opened");
        assert_eq!(v["@module"], "provider");
        // go-plugin's layout: 2006-01-02T15:04:05.000000Z07:00
        assert_eq!(v["@timestamp"], "2026-11-28T20:00:00.123456Z");
        assert_eq!(v["tf_rpc"], "ApplyResourceChange");
        assert_eq!(v["tf_resource_type"], "rdsiam_postgres_user");
        assert_eq!(v["host"], "db.example.com");
        assert_eq!(v["port"], 5432);
        assert_eq!(v["iam_auth"], true);
        // The header comes first, in hclog's order.
        let keys: Vec<_> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(&keys[..4], ["@level", "@message", "@module", "@timestamp"]);
        // A multi-line message stays one line.
        let two = format_line(Level::Info, PROTO, "a\nb", &cx, &[], now);
        assert_eq!(two.matches('\n').count(), 1);
    }

    #[test]
    fn secrets_are_masked() {
        let token = "db.example.com:5432/?Action=connect&DBUser=app&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                     &X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Feu-west-1%2Frds-db%2Faws4_request\
                     &X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
                     &X-Amz-Signature=abcdef0123";
        let msg = format!("connecting with {token} now");
        assert_eq!(redact(&msg), "connecting with [REDACTED] now");
        assert_eq!(redact("x-amz-security-token=abc"), REDACTED);
        assert_eq!(redact("nothing here"), "nothing here");

        register_secret("s3cr3t-Pa$$ with space");
        assert_eq!(
            redact("login failed for s3cr3t-Pa$$ with space!"),
            "login failed for [REDACTED]!"
        );
        // The URL-encoded form too (e.g. a session token inside a presigned URL).
        assert_eq!(redact("p=s3cr3t%2DPa%24%24%20with%20space"), "p=[REDACTED]");

        let now = time::OffsetDateTime::UNIX_EPOCH;
        let line = format_line(
            Level::Error,
            PROVIDER,
            &format!("bad {token}"),
            &LogContext::new(),
            &[
                ("password", "hunter2-not-registered".into()),
                ("session_token", "FwoGZXIvYXdzE".into()),
                ("value", secret("anything")),
                (
                    "sql",
                    "ALTER ROLE x PASSWORD 's3cr3t-Pa$$ with space'".into(),
                ),
                ("tokens_minted", 3u64.into()),
            ],
            now,
        );
        for leaked in [
            "abcdef0123",
            "hunter2",
            "FwoGZXIvYXdzE",
            "anything",
            "s3cr3t",
            "AKIDEXAMPLE%2F",
        ] {
            assert!(!line.contains(leaked), "{leaked} leaked: {line}");
        }
        let v: Json = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(v["password"], REDACTED);
        assert_eq!(v["value"], REDACTED);
        assert_eq!(v["@message"], "bad [REDACTED]");
        assert_eq!(v["sql"], "ALTER ROLE x PASSWORD '[REDACTED]'");
        assert_eq!(v["tokens_minted"], 3);
    }

    #[test]
    fn long_values_are_clipped() {
        let long = "é".repeat(MAX_VALUE_CHARS + 10);
        let line = format_line(
            Level::Trace,
            PROVIDER,
            "m",
            &LogContext::new(),
            &[("sql", long.as_str().into())],
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert!(line.len() < 64 * 1024, "{}", line.len());
        assert!(line.contains("…(truncated)"));
    }

    #[tokio::test]
    async fn context_is_task_local() {
        assert!(current().fields.is_empty());
        let cx = LogContext::new().with("tf_rpc", "ReadResource");
        let inner = cx.scope(async { current() }).await;
        assert_eq!(inner.fields, vec![("tf_rpc", "ReadResource".to_string())]);
        assert!(current().fields.is_empty());
    }
}
