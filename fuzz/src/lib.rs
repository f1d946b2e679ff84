//! Fuzz entry points, shared by the cargo-fuzz targets in `fuzz_targets/` and by
//! `tests/fuzz_corpus.rs`, which replays the kept corpus and a proptest run through the very
//! same functions on the stable toolchain.
//!
//! Each function takes arbitrary bytes and panics only when a property fails: the code under
//! test must never panic on input from Terraform, a state file or a user. Where the first byte
//! picks a type or schema, the rest of the input is the payload.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use terraform_provider_rdsiam::aws::{arn, credentials, rds, token};
use terraform_provider_rdsiam::functions::dbuser_arn::DbuserArn;
use terraform_provider_rdsiam::pg::ident;
use terraform_provider_rdsiam::pg::{Pg, PgSource};
use terraform_provider_rdsiam::provider::RdsIam;
use terraform_provider_rdsiam::resources::import_id;
use terraform_provider_rdsiam::tfplugin::value::{self, Type, Value};
use terraform_provider_rdsiam::tfplugin::{Ctx, Diagnostics, Function, Provider, Resource, Schema};

/// The names of the targets, which are also the corpus directories.
pub const TARGETS: &[&str] = &[
    "msgpack",
    "json",
    "flatmap",
    "validate",
    "import_id",
    "identifiers",
];

/// Runs the entry point named `target` (see [`TARGETS`]).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "msgpack" => msgpack(data),
        "json" => json(data),
        "flatmap" => flatmap(data),
        "validate" => validate(data),
        "import_id" => import_id(data),
        "identifiers" => identifiers(data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

/// One validator the `validate` target can drive: a schema's implied type and its check.
struct Checked {
    ty: Type,
    check: Box<dyn Fn(&Value) -> Diagnostics + Send + Sync>,
}

/// Every real schema of the provider (provider block, resources, data sources, ephemeral
/// resources) with its validation function.
fn checked() -> &'static [Checked] {
    static ALL: OnceLock<Vec<Checked>> = OnceLock::new();
    ALL.get_or_init(|| {
        let p = Arc::new(RdsIam::new());
        let mut out = Vec::new();
        // As the server does: the schema's declared validators, then the type's own checks.
        fn both(
            schema: Schema,
            own: impl Fn(&Value) -> Diagnostics + Send + Sync + 'static,
        ) -> Checked {
            Checked {
                ty: schema.implied_type(),
                check: Box::new(move |v| {
                    let mut d = schema.validate(v);
                    d.extend(own(v));
                    d
                }),
            }
        }
        let pp = p.clone();
        out.push(both(p.schema(), move |v| pp.validate(v)));
        for r in p.resources() {
            out.push(both(r.schema(), move |v| r.validate(v)));
        }
        for d in p.data_sources() {
            out.push(both(d.schema(), move |v| d.validate(v)));
        }
        for e in p.ephemeral_resources() {
            out.push(both(e.schema(), move |v| e.validate(v)));
        }
        out
    })
}

/// Types the codecs are driven with: each real schema's, plus generic shapes (dynamic values,
/// every collection kind, tuples) that no schema has but the codec supports.
pub fn types() -> &'static [Type] {
    static ALL: OnceLock<Vec<Type>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut t: Vec<Type> = checked().iter().map(|c| c.ty.clone()).collect();
        t.extend([
            Type::String,
            Type::Number,
            Type::Bool,
            Type::Dynamic,
            Type::list(Type::String),
            Type::set(Type::Number),
            Type::map(Type::Dynamic),
            Type::list(Type::object([
                ("a", Type::String),
                ("b", Type::set(Type::Bool)),
            ])),
            Type::Tuple(vec![Type::String, Type::Dynamic, Type::map(Type::Number)]),
            Type::object([
                ("d", Type::Dynamic),
                ("l", Type::list(Type::list(Type::Number))),
                ("m", Type::map(Type::String)),
            ]),
        ]);
        t
    })
}

/// The type picked by the first byte, and the payload after it.
fn pick<'a, T>(items: &'a [T], data: &'a [u8]) -> Option<(&'a T, &'a [u8])> {
    let (first, rest) = data.split_first()?;
    let item = items.get(usize::from(*first) % items.len())?;
    Some((item, rest))
}

/// msgpack (`DynamicValue.msgpack`): decoding never panics, and whatever decodes re-encodes
/// and decodes to an equal value.
pub fn msgpack(data: &[u8]) {
    let Some((ty, bytes)) = pick(types(), data) else {
        return;
    };
    let Ok(v) = value::decode_msgpack(bytes, ty) else {
        return;
    };
    let enc = value::encode_msgpack(&v, ty)
        .unwrap_or_else(|e| panic!("decoded {v:?} as {ty:?} but cannot re-encode it: {e}"));
    let again = value::decode_msgpack(&enc, ty)
        .unwrap_or_else(|e| panic!("re-encoded {v:?} does not decode: {e}"));
    assert!(
        again == v,
        "msgpack round trip changed {v:?} into {again:?}"
    );
}

/// cty JSON (`RawState.json`) and JSON type descriptions (`dynamic` values): decoding never
/// panics; decoded types and values round-trip.
pub fn json(data: &[u8]) {
    if let Ok(t) = Type::from_json_bytes(data) {
        let again = Type::from_json_bytes(&t.to_json_bytes())
            .unwrap_or_else(|e| panic!("type {t:?} does not round-trip: {e}"));
        assert_eq!(again, t);
    }
    let Some((ty, bytes)) = pick(types(), data) else {
        return;
    };
    let Ok(v) = value::decode_json(bytes, ty) else {
        return;
    };
    let enc = value::encode_json(&v, ty)
        .unwrap_or_else(|e| panic!("decoded {v:?} as {ty:?} but cannot re-encode it: {e}"));
    let again = value::decode_json(&enc, ty)
        .unwrap_or_else(|e| panic!("re-encoded {v:?} does not decode: {e}"));
    assert!(again == v, "JSON round trip changed {v:?} into {again:?}");
    // What a state file holds must also travel to Terraform as msgpack.
    let mp = value::encode_msgpack(&v, ty)
        .unwrap_or_else(|e| panic!("JSON-decoded {v:?} cannot be msgpack-encoded: {e}"));
    let from_mp = value::decode_msgpack(&mp, ty)
        .unwrap_or_else(|e| panic!("msgpack of JSON-decoded {v:?} does not decode: {e}"));
    assert!(
        from_mp == v,
        "JSON -> msgpack changed {v:?} into {from_mp:?}"
    );
}

/// Legacy flatmap state: the payload is `key=value` lines. Decoding never panics, and what
/// decodes can be sent to Terraform (msgpack-encoded).
pub fn flatmap(data: &[u8]) {
    let objects: Vec<&Type> = types()
        .iter()
        .filter(|t| matches!(t, Type::Object(_)))
        .collect();
    let Some((ty, bytes)) = pick(&objects, data) else {
        return;
    };
    let text = String::from_utf8_lossy(bytes);
    let map: HashMap<String, String> = text
        .split('\n')
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let Ok(v) = value::decode_flatmap(&map, ty) else {
        return;
    };
    let enc = value::encode_msgpack(&v, ty)
        .unwrap_or_else(|e| panic!("flatmap-decoded {v:?} cannot be msgpack-encoded: {e}"));
    let again = value::decode_msgpack(&enc, ty)
        .unwrap_or_else(|e| panic!("msgpack of flatmap-decoded {v:?} does not decode: {e}"));
    assert!(
        again == v,
        "flatmap -> msgpack changed {v:?} into {again:?}"
    );
}

/// Decode-with-schema then validate, for every real schema, as `Validate*Config` does; plus
/// the provider function on four decoded arguments. Nothing may panic, and every error must
/// be a diagnostic.
pub fn validate(data: &[u8]) {
    let items = checked();
    let Some((first, _)) = data.split_first() else {
        return;
    };
    // One more slot than there are schemas: the function.
    if usize::from(*first) % (items.len() + 1) == items.len() {
        let ty = Type::Tuple(vec![Type::String; 4]);
        if let Ok(Value::Tuple(args)) = value::decode_msgpack(&data[1..], &ty)
            && args.iter().all(|a| a.as_str().is_some())
        {
            match DbuserArn.call(&args) {
                Ok(v) => assert!(
                    v.as_str().is_some_and(|s| s.starts_with("arn:aws")),
                    "dbuser_arn returned {v:?}"
                ),
                Err(e) => assert!(
                    e.argument.is_some_and(|i| i < 4),
                    "function error without a valid argument index: {e:?}"
                ),
            }
        }
        return;
    }
    let Some((c, bytes)) = pick(items, data) else {
        return;
    };
    if let Ok(v) = value::decode_msgpack(bytes, &c.ty) {
        let _ = (c.check)(&v);
    }
}

/// A PostgreSQL source that is never available.
struct NoDatabase;

#[async_trait]
impl PgSource for NoDatabase {
    async fn pg(&self) -> Result<Arc<Pg>, String> {
        Err("fuzzing: no database".to_string())
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
    })
}

fn resources() -> &'static [Arc<dyn Resource>] {
    static ALL: OnceLock<Vec<Arc<dyn Resource>>> = OnceLock::new();
    ALL.get_or_init(|| {
        use terraform_provider_rdsiam::resources::{
            managed::Managed, postgres_default_privileges::PostgresDefaultPrivileges,
            postgres_grant::PostgresGrant, postgres_user::PostgresUser,
        };
        // Never the environment's PGHOST: imports stop right after parsing the ID.
        let pg: Arc<dyn PgSource> = Arc::new(NoDatabase);
        vec![
            Arc::new(Managed::new(PostgresUser, pg.clone())),
            Arc::new(Managed::new(PostgresGrant::new(), pg.clone())),
            Arc::new(Managed::new(PostgresDefaultPrivileges, pg)),
        ]
    })
}

/// Import IDs: the shared field codec round-trips, and every resource's `import` answers any
/// ID with an error diagnostic (invalid ID, or here no database), never a panic or a state.
pub fn import_id(data: &[u8]) {
    let Ok(id) = std::str::from_utf8(data) else {
        return;
    };
    let enc = import_id::encode_field(id);
    assert!(
        !enc.contains(['|', ',']),
        "encoded field {enc:?} still holds a separator"
    );
    assert_eq!(import_id::decode_field(&enc).as_deref(), Ok(id));
    if let Ok(dec) = import_id::decode_field(id) {
        assert_eq!(
            import_id::decode_field(&import_id::encode_field(&dec)),
            Ok(dec)
        );
    }
    for r in resources() {
        let resp = runtime().block_on(r.import(&Ctx::default(), id));
        assert!(
            resp.states.is_empty() && resp.diags.has_errors(),
            "{} import of {id:?} without a database did not fail",
            r.type_name()
        );
    }
}

/// ARN, resource-id, identifier, host name and duration validators, the ARN builder and the
/// SQL quoting: never a panic; what a validator accepts builds well-formed output.
pub fn identifiers(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = arn::partition_for_region(s);
    let region_ok = arn::validate_region(s).is_ok();
    let _ = arn::validate_account_id(s);
    let _ = arn::validate_resource_id(s);
    let _ = arn::validate_db_user(s);
    let _ = arn::validate_sid(s);
    let escaped = arn::escape_iam_resource_part(s);
    assert!(
        !escaped
            .replace("${*}", "")
            .replace("${?}", "")
            .replace("${$}", "")
            .contains(['*', '?']),
        "unescaped wildcard in {escaped:?}"
    );
    for kind in [rds::Kind::Cluster, rds::Kind::Instance, rds::Kind::Proxy] {
        let _ = rds::validate_identifier(kind, s);
    }
    let _ = rds::parse_arn(s);
    for port in [0, 443, 5432, 65535] {
        if let Ok(host) = token::validate_hostname(s, port) {
            assert!(!host.contains(char::is_whitespace), "host header {host:?}");
        }
    }
    let _ = token::validate_username(s);
    if token::validate_region(s).is_err() {
        assert!(
            !region_ok,
            "{s:?} passes arn::validate_region but not the token check"
        );
    }
    let _ = credentials::parse_duration(s);
    let _ = ident::validate_name(s);
    let q = ident::quote_ident(s);
    let inner = q
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_else(|| panic!("quote_ident({s:?}) = {q:?} is not quoted"));
    assert!(
        !inner.replace("\"\"", "").contains('"'),
        "quote_ident({s:?}) = {q:?} has a lone quote"
    );
    let lit = ident::quote_literal(s);
    assert!(
        !lit.trim_start_matches('E')
            .trim_matches('\'')
            .replace("''", "")
            .contains('\''),
        "quote_literal({s:?}) = {lit:?} has a lone quote"
    );
    // Four newline-separated fields through the ARN builder.
    let mut f = s.splitn(4, '\n');
    let (r, a, id, u) = (
        f.next().unwrap_or(""),
        f.next().unwrap_or(""),
        f.next().unwrap_or(""),
        f.next().unwrap_or(""),
    );
    if let Ok(built) = arn::checked_dbuser_arn(r, a, id, u) {
        let prefix = format!(
            "arn:{}:rds-db:{r}:{a}:dbuser:{id}/",
            arn::partition_for_region(r)
        );
        assert!(built.starts_with(&prefix), "{built:?} lacks {prefix:?}");
    }
}

// ---- seeds: real values for each schema, replayed by tests/fuzz_corpus.rs on every run and
// written to fuzz/corpus/ by its ignored `write_seed_corpus` test ----

/// Plausible text for an attribute, so seeds reach the validators' deeper branches.
fn sample_text(name: &str, i: usize) -> String {
    let s = match name {
        "region" | "token_region" => "eu-west-1",
        "account_id" => "123456789012",
        "resource_id" => "cluster-ABC123",
        "host" | "hostname" | "token_hostname" => "db.example.com",
        "hostaddr" => "127.0.0.1",
        "object_type" if i == 0 => "table",
        "object_type" => "tables",
        "sslmode" => "verify-full",
        "sslrootcert" => "-----BEGIN CERTIFICATE-----\nx",
        "role_arn" => "arn:aws:iam::123456789012:role/admin",
        "duration" => "1h30m",
        "statement_timeout" | "lock_timeout" => "30s",
        "privileges" if i == 0 => "SELECT",
        "privileges" => "INSERT",
        "cluster_identifier" | "db_instance_identifier" | "db_proxy_name" => "app-aurora",
        "effect" => "Allow",
        "sid" => "AppConnect",
        "rds" | "sts" => "http://127.0.0.1:5000",
        "db_users" if i == 1 => "mario.rossi@example.com",
        _ if i == 1 => "a\"b|c,d%",
        _ => "app",
    };
    s.to_string()
}

/// A value of `ty`: variant 0 filled in, 1 with null leaves, 2 with unknown leaves.
fn sample(ty: &Type, name: &str, variant: u8, i: usize) -> Value {
    let leaf = |v: Value| match variant {
        1 => Value::Null,
        2 => Value::Unknown,
        _ => v,
    };
    match ty {
        Type::String | Type::Dynamic => leaf(Value::string(sample_text(name, i))),
        Type::Number => leaf(Value::int(match name {
            "port" | "token_port" => 5432,
            "expires_in" => 900,
            "connection_limit" => -1,
            _ => 3,
        })),
        Type::Bool => leaf(Value::bool(i == 0)),
        Type::List(t) => Value::List((0..2).map(|i| sample(t, name, variant, i)).collect()),
        Type::Set(t) => Value::Set((0..2).map(|i| sample(t, name, variant, i)).collect()),
        Type::Map(t) => Value::Map(
            [("k".to_string(), sample(t, name, variant, 0))]
                .into_iter()
                .collect(),
        ),
        Type::Object(attrs) => Value::Object(
            attrs
                .iter()
                .map(|(k, t)| (k.clone(), sample(t, k, variant, 0)))
                .collect(),
        ),
        Type::Tuple(ts) => Value::Tuple(
            ts.iter()
                .enumerate()
                .map(|(i, t)| sample(t, name, variant, i))
                .collect(),
        ),
    }
}

/// Legacy flatmap lines for `v`, as SDKv2 wrote them.
fn flatten(v: &Value, prefix: &str, out: &mut Vec<String>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Null => {}
        Value::Unknown => out.push(format!("{prefix}={}", value::UNKNOWN_SENTINEL)),
        Value::Bool(b) => out.push(format!("{prefix}={b}")),
        Value::Number(n) => out.push(format!("{prefix}={n}")),
        Value::String(s) => out.push(format!("{prefix}={s}")),
        Value::List(l) | Value::Tuple(l) => {
            out.push(format!("{}={}", key("#"), l.len()));
            for (i, e) in l.iter().enumerate() {
                flatten(e, &key(&i.to_string()), out);
            }
        }
        Value::Set(l) => {
            out.push(format!("{}={}", key("#"), l.len()));
            for (i, e) in l.iter().enumerate() {
                flatten(e, &key(&(i * 7919 + 17).to_string()), out);
            }
        }
        Value::Map(m) | Value::Object(m) => {
            if matches!(v, Value::Map(_)) {
                out.push(format!("{}={}", key("%"), m.len()));
            }
            for (k, e) in m {
                flatten(e, &key(k), out);
            }
        }
    }
}

fn selector(i: usize) -> u8 {
    u8::try_from(i).unwrap_or_else(|_| panic!("more than 256 types"))
}

fn with_selector(i: usize, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![selector(i)];
    b.extend_from_slice(payload);
    b
}

/// Seed inputs for every target: real msgpack / JSON / flatmap encodings of values of every
/// schema, real configurations, import IDs and identifiers.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, ty) in types().iter().enumerate() {
        for variant in 0..3 {
            let v = sample(ty, "", variant, 0);
            if let Ok(b) = value::encode_msgpack(&v, ty) {
                out.push(("msgpack", with_selector(i, &b)));
            }
            if let Ok(b) = value::encode_json(&v, ty) {
                out.push(("json", with_selector(i, &b)));
            }
        }
        out.push(("json", ty.to_json_bytes()));
    }
    let objects: Vec<&Type> = types()
        .iter()
        .filter(|t| matches!(t, Type::Object(_)))
        .collect();
    for (i, ty) in objects.iter().enumerate() {
        for variant in [0, 2] {
            let mut lines = Vec::new();
            flatten(&sample(ty, "", variant, 0), "", &mut lines);
            out.push(("flatmap", with_selector(i, lines.join("\n").as_bytes())));
        }
    }
    for (i, c) in checked().iter().enumerate() {
        for variant in 0..3 {
            if let Ok(b) = value::encode_msgpack(&sample(&c.ty, "", variant, 0), &c.ty) {
                out.push(("validate", with_selector(i, &b)));
            }
        }
    }
    let args = Type::Tuple(vec![Type::String; 4]);
    for a in [
        ["eu-west-1", "123456789012", "cluster-ABC123", "app*"],
        ["cn-north-1", "12", "db-", ""],
    ] {
        let v = Value::Tuple(a.iter().map(|s| Value::string(*s)).collect());
        if let Ok(b) = value::encode_msgpack(&v, &args) {
            out.push(("validate", with_selector(checked().len(), &b)));
        }
    }
    for id in [
        "app",
        "mario.rossi@example.com",
        "app|appdb|table|public|t1,t2|SELECT,INSERT|authoritative",
        "public|appdb|database|||CONNECT",
        "a%7Cb|db%25|schema|s%2Cx||USAGE",
        "app_service|myapp|public|app_owner|tables|SELECT,INSERT",
        "app_service|myapp||app_owner|sequences",
        "x|y|z",
        "%zz|%FF|%",
    ] {
        out.push(("import_id", id.as_bytes().to_vec()));
    }
    for s in [
        "eu-west-1",
        "us-gov-west-1",
        "123456789012",
        "cluster-ABC123",
        "prx-0123abc",
        "arn:aws:rds:eu-west-1:123456789012:cluster:app-aurora",
        "arn:aws-cn:rds:cn-north-1:123456789012:db:app",
        "app-aurora",
        "db.example.com",
        "[::1]",
        "1h30m",
        "a\"b'c\\d${*}?",
        "eu-west-1\n123456789012\ncluster-ABC123\nmario*",
    ] {
        out.push(("identifiers", s.as_bytes().to_vec()));
    }
    out
}
