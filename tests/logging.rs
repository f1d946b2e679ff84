//! Provider logs under TF_LOG, through real Terraform (1.15.5 and 1.0.3) against real
//! PostgreSQL: our hclog JSON lines come back re-logged by Terraform with their level,
//! `@module` and request fields; no password, IAM token or AWS secret ever shows up in the
//! output, the state or the saved plan; and with TF_LOG unset the plugin writes nothing to
//! stderr (checked on the raw stderr of a `--debug` process).

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use support::postgres::{provider_block, provider_block_aws, quote_literal, shared};
use support::{FixedIam, Output, REQUIRED_PROVIDERS, Reap, Workspace, provider_bin};

/// The name go-plugin gives our logger in Terraform's log (the binary's file name).
const PLUGIN: &str = "provider.terraform-provider-rdsiam";

const ACCESS_KEY: &str = "AKIDLOGTEST";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/LoGtEsTsEcReTkEy";
const SIGNING_TIME: u64 = 1_790_000_000;

fn session_token() -> String {
    format!("FwoGZXIvYXdzELoGtEsT/={}", "T".repeat(600))
}

/// One line Terraform wrote for our plugin:
/// `<time> [LEVEL] provider.terraform-provider-rdsiam: <message>: k=v k="v w" …`.
#[derive(Debug)]
struct Line {
    level: String,
    message: String,
    fields: String,
}

impl Line {
    fn has(&self, key: &str, value: &str) -> bool {
        let plain = format!(" {key}={value}");
        let quoted = format!(" {key}=\"{value}\"");
        let padded = format!(" {}", self.fields);
        [plain, quoted].iter().any(|p| {
            padded
                .match_indices(p.as_str())
                .any(|(i, _)| matches!(padded[i + p.len()..].chars().next(), None | Some(' ')))
        })
    }
}

fn plugin_lines(stderr: &str) -> Vec<Line> {
    let marker = format!("] {PLUGIN}: ");
    stderr
        .lines()
        .filter_map(|l| {
            let (head, rest) = l.split_once(&marker)?;
            let level = head.rsplit_once('[')?.1.trim().to_string();
            let (message, fields) = rest.split_once(": ").unwrap_or((rest, ""));
            Some(Line {
                level,
                message: message.to_string(),
                fields: fields.to_string(),
            })
        })
        .collect()
}

/// Panics with the plugin's lines unless one has `level`, `message` and every field.
#[track_caller]
fn expect_line(out: &Output, level: &str, message: &str, fields: &[(&str, &str)]) {
    let lines = plugin_lines(&out.stderr);
    let found = lines.iter().any(|l| {
        l.level == level && l.message == message && fields.iter().all(|(k, v)| l.has(k, v))
    });
    if !found {
        let ours: Vec<String> = lines
            .iter()
            .map(|l| format!("[{}] {}: {}", l.level, l.message, l.fields))
            .collect();
        panic!(
            "no [{level}] {message:?} line with {fields:?} in `terraform {}`; plugin lines:\n{}",
            out.args.join(" "),
            ours.join("\n")
        );
    }
}

/// Panics if any of `secrets` (or any IAM token parameter) appears in `text`.
#[track_caller]
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !text.contains(s),
            "{what} contains a secret ({} chars)",
            s.len()
        );
    }
    for marker in [
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
    ] {
        assert!(!text.contains(marker), "{what} contains {marker}");
    }
}

/// Every member of the saved plan (a zip of config, state snapshots and plan), decompressed.
fn plan_file_contents(ws: &Workspace, name: &str) -> String {
    let text = support::plan_file_text(&ws.path().join(name));
    assert!(!text.is_empty(), "empty plan file");
    text
}

fn user_resource(name: &str) -> String {
    format!("resource \"rdsiam_postgres_user\" \"u\" {{\n  name = \"{name}\"\n}}\n")
}

/// `plan -out` and `apply` of that plan, both with TF_LOG=trace; checks that no secret is in
/// their output, the saved plan (raw and `show -json`) or the state.
fn plan_and_apply(ws: &Workspace, secrets: &[&str]) -> (Output, Output) {
    let trace = [("TF_LOG", "trace")];
    let plan = ws
        .run_env(&["plan", "-no-color", "-out=tfplan"], &trace)
        .assert_ok();
    let shown = ws.run(&["show", "-json", "tfplan"]).assert_ok();
    assert_clean("show -json of the saved plan", &shown.stdout, secrets);
    assert_clean(
        "the saved plan file",
        &plan_file_contents(ws, "tfplan"),
        secrets,
    );
    let apply = ws
        .run_env(&["apply", "-no-color", "tfplan"], &trace)
        .assert_ok();
    assert_clean("terraform.tfstate", &ws.read("terraform.tfstate"), secrets);
    assert_clean("plan output", &plan.combined(), secrets);
    assert_clean("apply output", &apply.combined(), secrets);
    (plan, apply)
}

fn tag(version: &str) -> String {
    version.replace('.', "")
}

/// Provider configured with a password (PGPASSWORD: a password in the configuration would be
/// in the saved plan by Terraform's design, whatever the provider does).
fn password_login(version: &str) {
    let pg = shared("17");
    let t = tag(version);
    let admin = format!("log_pw_admin_{t}");
    let user = format!("log_pw_user_{t}");
    let password = format!("Log-Pw-{t}-s3cr3t-value");
    pg.make_rds_like_admin(&admin, &password);

    let mut ws = Workspace::new(version, provider_bin());
    ws.set_env("PGPASSWORD", &password);
    ws.write(
        "main.tf",
        &format!("{}{}", provider_block(pg, &admin, ""), user_resource(&user)),
    );
    let secrets = [password.as_str()];
    let (_plan, apply) = plan_and_apply(&ws, &secrets);

    let in_apply = [
        ("@module", "provider"),
        ("tf_rpc", "ApplyResourceChange"),
        ("tf_resource_type", "rdsiam_postgres_user"),
        ("tf_provider_addr", "registry.terraform.io/rdsiam/rdsiam"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        in_apply.iter().chain(extra).copied().collect()
    };
    expect_line(
        &apply,
        "DEBUG",
        "PostgreSQL connection opened",
        &[
            in_apply.as_slice(),
            &[
                ("host", "localhost"),
                ("user", admin.as_str()),
                ("database", "postgres"),
                ("sslmode", "verify-full"),
                ("iam_auth", "false"),
            ],
        ]
        .concat(),
    );
    expect_line(&apply, "DEBUG", "SQL statement", &with(&[]));
    let create = plugin_lines(&apply.stderr)
        .into_iter()
        .find(|l| l.message == "SQL statement" && l.fields.contains("CREATE ROLE"))
        .unwrap_or_else(|| panic!("no CREATE ROLE statement logged\n{}", apply.stderr));
    assert!(create.fields.contains(&user), "{create:?}");
    expect_line(
        &apply,
        "DEBUG",
        "PostgreSQL transaction committed",
        &with(&[]),
    );
    // The server's own line per RPC, and the trace line on arrival.
    expect_line(
        &apply,
        "DEBUG",
        "Served request",
        &[
            ("@module", "sdk.proto"),
            ("tf_rpc", "ApplyResourceChange"),
            ("tf_resource_type", "rdsiam_postgres_user"),
            ("diagnostic_error_count", "0"),
        ],
    );
    expect_line(
        &apply,
        "TRACE",
        "Received request",
        &[("@module", "sdk.proto"), ("tf_rpc", "ConfigureProvider")],
    );

    // TF_LOG_PROVIDER alone: our lines at debug and above, nothing at trace, no core lines.
    let refresh = ws
        .run_env(&["plan", "-no-color"], &[("TF_LOG_PROVIDER", "debug")])
        .assert_ok();
    assert_clean("plan output", &refresh.combined(), &secrets);
    expect_line(
        &refresh,
        "DEBUG",
        "PostgreSQL connection opened",
        &[
            ("@module", "provider"),
            ("tf_rpc", "ReadResource"),
            ("tf_resource_type", "rdsiam_postgres_user"),
        ],
    );
    assert!(
        !refresh.stderr.contains("[TRACE]"),
        "trace lines with TF_LOG_PROVIDER=debug:\n{}",
        refresh.stderr
    );
    for l in refresh
        .stderr
        .lines()
        .filter(|l| l.starts_with("20") && l.contains(" ["))
    {
        let name = l.split("] ").nth(1).unwrap_or_default().trim_start();
        assert!(
            name.starts_with("provider"),
            "a non-provider line with only TF_LOG_PROVIDER set: {l}"
        );
    }

    let destroy = ws.tf_env(&["destroy"], &[("TF_LOG", "debug")]).assert_ok();
    assert_clean("destroy output", &destroy.combined(), &secrets);
    expect_line(
        &destroy,
        "DEBUG",
        "SQL statement",
        &[
            ("tf_rpc", "ApplyResourceChange"),
            ("tf_resource_type", "rdsiam_postgres_user"),
        ],
    );
    assert!(
        !destroy.stderr.contains("[TRACE]"),
        "TF_LOG=debug let trace lines through"
    );
    assert_clean("terraform.tfstate", &ws.read("terraform.tfstate"), &secrets);
    pg.psql("postgres", &format!("DROP ROLE {admin}"));
}

/// Provider configured with IAM auth: the admin's password is set to exactly the token the
/// provider will mint (fixed credentials and clock), as in acceptance_user.
fn iam_login(version: &str) {
    let pg = shared("17");
    let t = tag(version);
    let admin = format!("log_iam_admin_{t}");
    let user = format!("log_iam_user_{t}");
    pg.make_rds_like_admin(&admin, "placeholder-not-used");
    let session = session_token();
    let iam = FixedIam {
        access_key: ACCESS_KEY,
        secret_key: SECRET_KEY,
        session_token: &session,
        signing_time: SIGNING_TIME,
        ..FixedIam::EXAMPLE
    };
    let token = iam.token(pg.port(), &admin);
    let other_token = FixedIam {
        signing_time: SIGNING_TIME + 999,
        ..iam
    }
    .token(pg.port(), &admin);
    pg.psql(
        "postgres",
        &format!("ALTER ROLE {admin} PASSWORD {}", quote_literal(&token)),
    );
    let secrets = [
        token.as_str(),
        other_token.as_str(),
        SECRET_KEY,
        session.as_str(),
    ];

    let mut ws = Workspace::new(version, provider_bin());
    iam.set_env(&mut ws);
    ws.write(
        "main.tf",
        &format!(
            "{}{}",
            provider_block_aws(pg, "eu-west-1", &admin, "    iam_auth    = true"),
            user_resource(&user)
        ),
    );
    let (_plan, apply) = plan_and_apply(&ws, &secrets);
    let ours = [
        ("@module", "provider"),
        ("tf_rpc", "ApplyResourceChange"),
        ("tf_resource_type", "rdsiam_postgres_user"),
    ];
    expect_line(
        &apply,
        "DEBUG",
        "IAM auth token minted",
        &[
            ours.as_slice(),
            &[
                ("db_user", admin.as_str()),
                ("host", "localhost"),
                ("region", "eu-west-1"),
                ("expires_at", "2026-09-21T14:28:20Z"),
            ],
        ]
        .concat(),
    );
    expect_line(
        &apply,
        "DEBUG",
        "AWS credentials resolved",
        &[("temporary", "true")],
    );
    expect_line(
        &apply,
        "DEBUG",
        "PostgreSQL connection opened",
        &[ours.as_slice(), &[("iam_auth", "true")]].concat(),
    );

    // A token for another instant is refused: the error diagnostic is logged at ERROR by the
    // server, and neither token appears.
    ws.set_env(
        "RDSIAM_TEST_SIGNING_TIME",
        &(SIGNING_TIME + 999).to_string(),
    );
    let failed = ws.tf_env(&["apply"], &[("TF_LOG", "trace")]).assert_fails();
    assert_clean("failed apply output", &failed.combined(), &secrets);
    expect_line(
        &failed,
        "ERROR",
        "Response contains error diagnostic",
        &[("@module", "sdk.proto"), ("diagnostic_severity", "ERROR")],
    );
    assert_clean("terraform.tfstate", &ws.read("terraform.tfstate"), &secrets);

    ws.set_env("RDSIAM_TEST_SIGNING_TIME", &SIGNING_TIME.to_string());
    let destroy = ws.tf_env(&["destroy"], &[("TF_LOG", "trace")]).assert_ok();
    assert_clean("destroy output", &destroy.combined(), &secrets);
    pg.psql("postgres", &format!("DROP ROLE {admin}"));
}

#[test]
fn password_login_logs_without_secrets_tf_1_15_5() {
    password_login("1.15.5");
}

#[test]
fn password_login_logs_without_secrets_tf_1_0_3() {
    password_login("1.0.3");
}

#[test]
fn iam_login_logs_without_tokens_tf_1_15_5() {
    iam_login("1.15.5");
}

#[test]
fn iam_login_logs_without_tokens_tf_1_0_3() {
    iam_login("1.0.3");
}

/// Starts `--debug` with `env` (and no other TF_* variable), stderr to `stderr_file`; returns
/// the process and its TF_REATTACH_PROVIDERS value.
fn debug_provider(env: &[(&str, &str)], stderr_file: &Path) -> (Reap, String) {
    let mut cmd = Command::new(provider_bin());
    cmd.arg("--debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr_file).unwrap_or_else(|e| panic!("{e}")));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TF_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = Reap(cmd.spawn().unwrap_or_else(|e| panic!("{e}")));
    let stdout = child.0.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let line = BufReader::new(stdout)
        .lines()
        .map(|l| l.unwrap_or_default())
        .find(|l| l.contains("TF_REATTACH_PROVIDERS="))
        .unwrap_or_default();
    let value = line
        .split_once("TF_REATTACH_PROVIDERS='")
        .and_then(|(_, v)| v.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no reattach value: {line:?}"))
        .to_string();
    (child, value)
}

/// The plugin's raw stderr: empty when TF_LOG and TF_LOG_PROVIDER are unset; with TF_LOG set,
/// nothing but hclog JSON lines in go-plugin's exact timestamp layout.
#[test]
fn raw_stderr_is_hclog_json_or_nothing() {
    let pg = shared("17");
    let admin = "log_raw_admin";
    let password = "Log-Raw-s3cr3t-value";
    pg.make_rds_like_admin(admin, password);
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = format!(
        "{}{}",
        provider_block(pg, admin, ""),
        user_resource("log_raw_user")
    );

    for (label, level) in [("off", None), ("trace", Some("trace"))] {
        let stderr_path = scratch.path().join(format!("stderr-{label}"));
        let mut env = vec![("PGPASSWORD", password)];
        if let Some(l) = level {
            env.push(("TF_LOG", l));
        }
        let (child, reattach) = debug_provider(&env, &stderr_path);
        let ws = Workspace::new("1.15.5", provider_bin());
        ws.write("main.tf", &config);
        let attach = [("TF_REATTACH_PROVIDERS", reattach.as_str())];
        ws.run_env(&["apply", "-auto-approve", "-no-color"], &attach)
            .assert_ok();
        ws.run_env(&["destroy", "-auto-approve", "-no-color"], &attach)
            .assert_ok();
        drop(child);
        let raw = std::fs::read_to_string(&stderr_path).unwrap_or_else(|e| panic!("{e}"));
        match level {
            None => assert_eq!(raw, "", "stderr written with TF_LOG unset"),
            Some(_) => check_json_lines(&raw, password),
        }
    }
    pg.psql("postgres", &format!("DROP ROLE {admin}"));
}

fn check_json_lines(raw: &str, password: &str) {
    assert_clean("plugin stderr", raw, &[password]);
    let mut applied = false;
    for line in raw.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let o = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        let keys: Vec<&str> = o.keys().map(String::as_str).take(4).collect();
        assert_eq!(
            keys,
            ["@level", "@message", "@module", "@timestamp"],
            "{line}"
        );
        let level = o["@level"].as_str().unwrap_or_default();
        assert!(
            ["trace", "debug", "info", "warn", "error"].contains(&level),
            "{line}"
        );
        assert!(
            ["provider", "sdk.proto"].contains(&o["@module"].as_str().unwrap_or_default()),
            "{line}"
        );
        // go-plugin parses exactly 2006-01-02T15:04:05.000000Z07:00; anything else and the
        // line is shown unparsed.
        let ts = o["@timestamp"].as_str().unwrap_or_default();
        let b = ts.as_bytes();
        assert!(
            b.len() == 27
                && b[4] == b'-'
                && b[10] == b'T'
                && b[19] == b'.'
                && b[26] == b'Z'
                && ts[20..26].bytes().all(|c| c.is_ascii_digit()),
            "timestamp {ts:?}"
        );
        if o.get("tf_rpc").and_then(|r| r.as_str()) == Some("ApplyResourceChange")
            && o.get("tf_resource_type").and_then(|r| r.as_str()) == Some("rdsiam_postgres_user")
            && o["@module"] == "provider"
            && o.get("tf_req_id").is_some()
        {
            applied = true;
        }
    }
    assert!(applied, "no provider line from ApplyResourceChange:\n{raw}");
}

/// An RDS lookup against moto: logged with the data source type, and the AWS secret key and
/// session token (registered when credentials resolve) never appear.
#[test]
fn rds_lookup_is_logged_without_aws_secrets() {
    use support::moto::{self, Moto, REGION};
    let moto = Moto::start();
    moto.create_aurora_cluster("log-aurora", true);
    let secret = "MotoLogSecretKey-9f8e7d6c";
    let session = "MotoLogSessionToken-5b4a3c2d";
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIDMOTOLOG"),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_SESSION_TOKEN", session),
        ("TF_LOG", "debug"),
    ];
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write(
        "main.tf",
        &format!(
            "{REQUIRED_PROVIDERS}\
             {}\ndata \"rdsiam_cluster\" \"c\" {{\n  cluster_identifier = \"log-aurora\"\n}}\n",
            moto.provider_block("")
        ),
    );
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = moto::tf_without_aws(&ws, home.path(), &["apply"], &creds).assert_ok();
    assert_clean("apply output", &out.combined(), &[secret, session]);
    assert_clean(
        "terraform.tfstate",
        &ws.read("terraform.tfstate"),
        &[secret, session],
    );
    expect_line(
        &out,
        "DEBUG",
        "RDS lookup",
        &[
            ("@module", "provider"),
            ("tf_rpc", "ReadDataSource"),
            ("tf_data_source_type", "rdsiam_cluster"),
            ("kind", "DB cluster"),
            ("identifier", "log-aurora"),
            ("region", REGION),
        ],
    );
    expect_line(
        &out,
        "DEBUG",
        "AWS credentials resolved",
        &[
            ("tf_data_source_type", "rdsiam_cluster"),
            ("temporary", "true"),
        ],
    );
}
