//! Reliability under faults, each test bounded by a watchdog:
//! * faults mid-apply (COMMITs cut before their answer, backends terminated, the server
//!   restarted) while applying 100 users and a few grants: the apply recovers or fails
//!   clearly, the next one converges, state and catalog agree, no orphan roles;
//! * an apply of over three minutes with 60-second IAM tokens and backends killed every 20 s,
//!   through a front that verifies tokens as RDS does (and rejects expired ones);
//! * a locked table or role gives a lock_timeout error that names the object, never a hang;
//! * with TF_LOG=trace, no password or token in logs, state or saved plans.
//!
//! `RDSIAM_FAULT_ROUNDS=<n>` repeats the fault scenario (default 1) to look for flakiness.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use serde_json::Value as Json;
use support::iam_front::IamFront;
use support::postgres::{PgCluster, provider_block, quote_literal};
use support::watchdog::Watchdog;
use support::{
    Output, REQUIRED_PROVIDERS, Workspace, hcl, plan_file_text, provider_bin, provider_config,
};
use terraform_provider_rdsiam::aws::token;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SESSION: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+reliability=";
const REGION: &str = "eu-west-1";
const APP: &str = "terraform-provider-rdsiam";

fn creds() -> Credentials {
    Credentials::new(KEY_ID, SECRET, Some(SESSION.to_string()), None, "test")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A workspace whose provider logs in as `user` with IAM tokens through `front`.
fn iam_workspace(front: &IamFront, user: &str, resources: &str) -> Workspace {
    let mut ws = Workspace::new("1.15.5", provider_bin());
    ws.set_aws_credentials(KEY_ID, SECRET, SESSION);
    let postgres = format!(
        "    host     = \"localhost\"\n    hostaddr = \"127.0.0.1\"\n    port     = {port}\n    \
         username = {user}\n    sslmode  = \"require\"\n    iam_auth = true",
        port = front.port(),
        user = hcl(user),
    );
    ws.write(
        "main.tf",
        &format!("{}{resources}\n", provider_config(REGION, &postgres)),
    );
    ws
}

/// Runs Terraform on another thread so the test can inject faults meanwhile.
fn spawn_tf(ws: &Arc<Workspace>, args: &[&str]) -> mpsc::Receiver<Output> {
    let (tx, rx) = mpsc::channel();
    let ws = ws.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = tx.send(ws.tf(&args));
    });
    rx
}

fn count(pg: &PgCluster, sql: &str) -> usize {
    let (u, p) = pg.superuser();
    pg.try_psql("postgres", u, p, sql)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn lines(pg: &PgCluster, sql: &str) -> BTreeSet<String> {
    pg.psql("postgres", sql)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn state_values(ws: &Workspace, ty: &str) -> Vec<Json> {
    ws.show_json()["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["type"] == ty)
        .map(|r| r["values"].clone())
        .collect()
}

/// An error Terraform printed must say what failed; a crash or "already exists" (an orphan
/// from a lost COMMIT) is a bug.
fn assert_clear_failure(out: &Output, step: &str) {
    let text = out.words();
    for bad in [
        "panic",
        "plugin crashed",
        "already exists",
        "unexpected EOF",
    ] {
        assert!(
            !text.contains(bad),
            "{step}: output contains {bad:?}\n{out}"
        );
    }
    assert!(
        text.contains("Error: "),
        "{step}: failed without an error\n{out}"
    );
}

// ---------------------------------------------------------------------------------------
// Faults in the middle of an apply.

const USERS: usize = 100;
const GRANTED: usize = 5;

fn fault_config() -> String {
    format!(
        r#"
locals {{
  names = toset([for i in range({USERS}) : format("fault_user_%03d", i)])
}}
resource "rdsiam_postgres_user" "u" {{
  for_each = local.names
  name     = each.value
}}
resource "rdsiam_postgres_grant" "read" {{
  for_each    = toset([for i in range({GRANTED}) : format("fault_user_%03d", i)])
  role        = rdsiam_postgres_user.u[each.value].name
  database    = "postgres"
  object_type = "table"
  schema      = "public"
  objects     = ["fault_t"]
  privileges  = ["SELECT"]
}}
"#
    )
}

const FAULT_ROLES: &str =
    "SELECT rolname FROM pg_roles WHERE rolname LIKE 'fault\\_user\\_%' ORDER BY 1";

/// Waits until `n` fault users exist or the apply ended; false if it ended first.
fn wait_for_users(
    pg: &PgCluster,
    n: usize,
    apply: &mpsc::Receiver<Output>,
    early: &mut Option<Output>,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if early.is_none()
            && let Ok(out) = apply.try_recv()
        {
            *early = Some(out);
        }
        if early.is_some() {
            return false;
        }
        if count(
            pg,
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'fault\\_user\\_%'",
        ) >= n
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn fault_round(cluster: &mut PgCluster, front: &IamFront, round: usize) {
    let step = |s: &str| format!("round {round}: {s}");
    let ws = Arc::new(iam_workspace(front, "fault_admin", &fault_config()));
    let cut_before = front.stats.commits_cut.load(Ordering::SeqCst);
    front.cut_commits(3);
    let started = Instant::now();
    let apply = spawn_tf(&ws, &["apply", "-parallelism=10"]);
    let mut early = None;

    assert!(
        wait_for_users(cluster, 10, &apply, &mut early),
        "{}",
        step(&format!("apply ended before any fault: {early:?}"))
    );
    let killed = cluster.terminate_backends(APP).unwrap_or(0);
    assert!(
        wait_for_users(cluster, 35, &apply, &mut early),
        "{}",
        step(&format!("apply ended before the restart: {early:?}"))
    );
    let down = cluster.restart();
    let first = match early {
        Some(out) => out,
        None => apply
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("{}", step("first apply still running after 300 s"))),
    };
    let cut = front.stats.commits_cut.load(Ordering::SeqCst) - cut_before;
    eprintln!(
        "{}",
        step(&format!(
            "first apply exit {} after {:?}; {killed} backends terminated, server down {down:?}, {cut} COMMITs cut",
            first.code,
            started.elapsed()
        ))
    );
    assert_eq!(cut, 3, "{}", step("the front cut fewer COMMITs than asked"));
    if !first.success() {
        assert_clear_failure(&first, &step("first apply"));
    }

    // The next apply converges, and then nothing is left to do.
    let second = Instant::now();
    ws.ok(&["apply", "-parallelism=10"]);
    eprintln!(
        "{}",
        step(&format!("second apply took {:?}", second.elapsed()))
    );
    let plan = ws.plan_detailed();
    assert_eq!(plan.code, 0, "{}\n{plan}", step("re-plan not empty"));

    // State and catalog agree: no orphan, nothing missing, every user in rds_iam.
    let in_state: BTreeSet<String> = state_values(&ws, "rdsiam_postgres_user")
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let in_db = lines(cluster, FAULT_ROLES);
    assert_eq!(in_state.len(), USERS, "{}", step("users in state"));
    assert_eq!(in_db, in_state, "{}", step("catalog and state differ"));
    let iam = count(
        cluster,
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
         JOIN pg_roles u ON u.oid = m.member \
         WHERE g.rolname = 'rds_iam' AND u.rolname LIKE 'fault\\_user\\_%'",
    );
    assert_eq!(iam, USERS, "{}", step("users in rds_iam"));
    let granted = count(
        cluster,
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'fault\\_user\\_%' \
         AND has_table_privilege(rolname, 'public.fault_t', 'SELECT')",
    );
    assert_eq!(granted, GRANTED, "{}", step("grants"));
    assert_eq!(
        state_values(&ws, "rdsiam_postgres_grant").len(),
        GRANTED,
        "{}",
        step("grants in state")
    );

    ws.ok(&["destroy", "-parallelism=10"]);
    assert!(
        lines(cluster, FAULT_ROLES).is_empty(),
        "{}",
        step("roles left after destroy")
    );
}

#[test]
fn faults_mid_apply_then_converge() {
    let rounds: usize = std::env::var("RDSIAM_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let _watchdog = Watchdog::arm(
        "faults_mid_apply_then_converge",
        Duration::from_secs(480 * rounds as u64),
    );
    let mut cluster = PgCluster::start("15");
    cluster.make_rds_like_admin("fault_admin", "unused-password");
    cluster.psql(
        "postgres",
        "CREATE TABLE public.fault_t (x int); ALTER TABLE public.fault_t OWNER TO fault_admin;",
    );
    let front = IamFront::start(&cluster, creds(), REGION, "localhost");
    for round in 1..=rounds {
        fault_round(&mut cluster, &front, round);
    }
    assert!(front.rejections().is_empty(), "{:?}", front.rejections());
}

// ---------------------------------------------------------------------------------------
// Long applies with short-lived tokens.

const LIFETIME: u64 = 60;
const STAGES: usize = 8;
const SLEEP_SECS: u64 = 27;

/// Users created one after another, with a `sleep` between each: over three minutes.
fn chain_config() -> String {
    let mut out = String::new();
    for i in 0..STAGES {
        let after = if i == 0 {
            String::new()
        } else {
            format!("  depends_on = [terraform_data.pause_{}]\n", i - 1)
        };
        out.push_str(&format!(
            "resource \"rdsiam_postgres_user\" \"stage_{i}\" {{\n  name = \"long_user_{i}\"\n{after}}}\n"
        ));
        if i + 1 < STAGES {
            out.push_str(&format!(
                "resource \"terraform_data\" \"pause_{i}\" {{\n  input = rdsiam_postgres_user.stage_{i}.name\n  provisioner \"local-exec\" {{\n    command = \"sleep {SLEEP_SECS}\"\n  }}\n}}\n"
            ));
        }
    }
    out
}

/// Connects to the front directly with `password` as `user`.
fn front_login(front: &IamFront, user: &str, password: &str) -> Result<(), String> {
    use terraform_provider_rdsiam::pg::connect::{Roots, SslMode, client_tls_config};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
            client_tls_config(SslMode::Require, &Roots::Default).map_err(|e| e.0)?,
        );
        let mut cfg = tokio_postgres::Config::new();
        cfg.host("localhost")
            .hostaddr(std::net::IpAddr::from([127, 0, 0, 1]))
            .port(front.port())
            .user(user)
            .password(password)
            .dbname("postgres")
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(Duration::from_secs(10));
        let (client, conn) = cfg.connect(tls).await.map_err(|e| {
            e.as_db_error()
                .map(|d| format!("{} {}: {:?}", d.code().code(), d.message(), d.detail()))
                .unwrap_or_else(|| e.to_string())
        })?;
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT 40 + 2", &[])
            .await
            .map_err(|e| e.to_string())?;
        (row.get::<_, i32>(0) == 42)
            .then_some(())
            .ok_or_else(|| "wrong answer".to_string())
    })
}

fn token_at(front: &IamFront, user: &str, creds: &Credentials, signed: u64) -> String {
    token::generate(
        creds,
        &token::TokenRequest {
            hostname: "localhost",
            port: front.port(),
            username: user,
            region: REGION,
            expires_in: Duration::from_secs(LIFETIME),
        },
        UNIX_EPOCH + Duration::from_secs(signed),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn long_apply_with_short_lived_tokens() {
    let _watchdog = Watchdog::arm(
        "long_apply_with_short_lived_tokens",
        Duration::from_secs(420),
    );
    let cluster = PgCluster::start("15");
    let admin = "long_admin";
    cluster.make_rds_like_admin(admin, "unused-password");
    let front = IamFront::start(&cluster, creds(), REGION, "localhost");

    // The front is a real check: a fresh token works, an expired or forged one does not.
    let now = now_secs();
    front_login(&front, admin, &token_at(&front, admin, &creds(), now))
        .unwrap_or_else(|e| panic!("a fresh token was refused: {e}"));
    let expired = front_login(
        &front,
        admin,
        &token_at(&front, admin, &creds(), now - LIFETIME - 5),
    );
    assert!(
        expired
            .as_ref()
            .is_err_and(|e| e.contains("28P01") && e.contains("expired")),
        "an expired token: {expired:?}"
    );
    let forged = Credentials::new(KEY_ID, "not-the-secret", Some(SESSION.into()), None, "x");
    let wrong = front_login(&front, admin, &token_at(&front, admin, &forged, now));
    assert!(
        wrong.as_ref().is_err_and(|e| e.contains("28P01")),
        "a token signed with the wrong key: {wrong:?}"
    );

    let ws = Arc::new(iam_workspace(&front, admin, &chain_config()));
    // And the provider's own tokens go through that check: signed two minutes ago, refused.
    let old = ws.tf_env(
        &["apply"],
        &[
            ("RDSIAM_TEST_TOKEN_LIFETIME", "60"),
            ("RDSIAM_TEST_SIGNING_TIME", &(now_secs() - 120).to_string()),
        ],
    );
    assert!(
        !old.success(),
        "an apply with expired tokens succeeded\n{old}"
    );
    old.assert_contains("PAM authentication failed");
    let refused = front.rejections().len();

    // The long apply: every reconnect must present a token younger than 60 s.
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicUsize::new(0));
    let cluster = Arc::new(cluster);
    let killer = {
        let (stop, killed, cluster) = (stop.clone(), killed.clone(), cluster.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for _ in 0..100 {
                    std::thread::sleep(Duration::from_millis(200));
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                }
                let n = cluster.terminate_backends(APP).unwrap_or(0);
                killed.fetch_add(n, Ordering::SeqCst);
            }
        })
    };
    let accepted_before = front.stats.accepted.load(Ordering::SeqCst);
    let started = Instant::now();
    let out = ws.tf_env(&["apply"], &[("RDSIAM_TEST_TOKEN_LIFETIME", "60")]);
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let _ = killer.join();
    let out = out.assert_ok();
    let accepted = front.stats.accepted.load(Ordering::SeqCst) - accepted_before;
    let oldest = front.oldest_token();
    eprintln!(
        "long apply took {took:?}; {accepted} connections, {} backends killed, oldest token at connect {oldest:?}",
        killed.load(Ordering::SeqCst)
    );
    assert!(
        took > Duration::from_secs(180),
        "the apply took only {took:?}\n{out}"
    );
    assert_eq!(
        front.rejections().len(),
        refused,
        "the front refused tokens during the long apply: {:?}",
        front.rejections()
    );
    assert!(
        killed.load(Ordering::SeqCst) > 0,
        "no backend was ever killed"
    );
    assert!(
        accepted >= STAGES,
        "only {accepted} connections: reconnects were not forced"
    );
    let (age, lifetime) = oldest.unwrap_or((0, 0));
    assert_eq!(lifetime, LIFETIME, "tokens did not use the test lifetime");
    assert!(
        age < 10,
        "a token {age} s old was presented: tokens must be minted per connection"
    );
    let made = count(
        &cluster,
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'long\\_user\\_%'",
    );
    assert_eq!(made, STAGES);
    ws.ok(&["destroy"]);
}

// ---------------------------------------------------------------------------------------
// Locks.

fn password_workspace(pg: &PgCluster, resources: &str, extra: &str) -> Workspace {
    let (user, password) = pg.superuser();
    let ws = Workspace::new("1.15.5", provider_bin());
    let extra = format!("    password    = {}\n{extra}", hcl(password));
    ws.write(
        "main.tf",
        &format!("{}{resources}\n", provider_block(pg, user, &extra)),
    );
    ws
}

fn lock_config(limit: i64) -> String {
    format!(
        r#"
resource "rdsiam_postgres_user" "u" {{
  name             = "lock_user"
  iam_role         = "lock_iam"
  connection_limit = {limit}
}}
resource "rdsiam_postgres_grant" "g" {{
  role        = "lock_reader"
  database    = "postgres"
  object_type = "table"
  schema      = "public"
  objects     = ["lock_t"]
  privileges  = ["SELECT"]
}}
"#
    )
}

/// A session of the test that holds locks in an open transaction until told to roll back
/// (also used by `stop`).
pub(crate) struct Holder {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Holder {
    pub(crate) fn new(pg: &PgCluster) -> Holder {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let (user, password) = pg.superuser();
        let client = rt
            .block_on(pg.connect("postgres", user, password))
            .unwrap_or_else(|e| panic!("{e}"));
        Holder { rt, client }
    }

    pub(crate) fn run(&self, sql: &str) {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

fn assert_lock_error(out: &Output, object: &str, took: Duration) {
    assert!(
        !out.success(),
        "apply succeeded while the lock was held\n{out}"
    );
    assert!(
        took < Duration::from_secs(60),
        "the apply waited {took:?} for a lock with lock_timeout 2s"
    );
    eprintln!("lock error after {took:?}:\n{}", out.stderr.trim());
    // Terraform wraps diagnostics: compare with whitespace collapsed.
    out.assert_mentions_words(&[
        "lock timeout",
        "lock_timeout (2s)",
        "pg_stat_activity",
        object,
    ]);
}

#[test]
fn locked_objects_give_a_lock_timeout_error() {
    let _watchdog = Watchdog::arm(
        "locked_objects_give_a_lock_timeout_error",
        Duration::from_secs(300),
    );
    let pg = PgCluster::start("15");
    pg.psql(
        "postgres",
        "CREATE TABLE public.lock_t (x int); CREATE ROLE lock_reader; CREATE ROLE lock_iam;",
    );
    let ws = password_workspace(&pg, &lock_config(-1), "    lock_timeout = \"2s\"");
    let holder = Holder::new(&pg);

    // An open transaction that altered the table holds its catalog row: GRANT must wait.
    holder.run("BEGIN; ALTER TABLE public.lock_t ADD COLUMN y int;");
    let t = Instant::now();
    let out = ws.tf(&["apply"]);
    assert_lock_error(&out, "public.lock_t", t.elapsed());
    holder.run("ROLLBACK");
    ws.ok(&["apply"]);
    ws.assert_no_changes();
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT has_table_privilege('lock_reader', 'public.lock_t', 'SELECT')"
        ),
        "t"
    );

    // The same for a role another session is altering.
    holder.run("BEGIN; ALTER ROLE lock_user CONNECTION LIMIT 3;");
    ws.write(
        "main.tf",
        &ws.read("main.tf")
            .replace("connection_limit = -1", "connection_limit = 5"),
    );
    let t = Instant::now();
    let out = ws.tf(&["apply"]);
    assert_lock_error(&out, "\"lock_user\"", t.elapsed());
    holder.run("ROLLBACK");
    ws.ok(&["apply"]);
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'lock_user'"
        ),
        "5"
    );
    ws.ok(&["destroy"]);
}

// ---------------------------------------------------------------------------------------
// Secrets.

/// Plans to a file, applies it, shows plan and state, re-plans and destroys, all with
/// TF_LOG=trace; returns every log, state and plan text with what it is.
fn traced_lifecycle(ws: &Workspace, env: &[(&str, &str)]) -> Vec<(String, String)> {
    let run = |what: &str, args: &[&str]| -> (String, String) {
        let mut all = env.to_vec();
        all.push(("TF_LOG", "trace"));
        let out = ws.run_env(args, &all);
        assert!(out.success(), "{what}\n{out}");
        (what.to_string(), out.combined())
    };
    let mut texts = vec![
        run("plan -out", &["plan", "-no-color", "-out=saved.tfplan"]),
        run("show plan", &["show", "-no-color", "-json", "saved.tfplan"]),
    ];
    texts.push((
        "saved plan".into(),
        plan_file_text(&ws.path().join("saved.tfplan")),
    ));
    texts.push(run("apply plan", &["apply", "-no-color", "saved.tfplan"]));
    texts.push(run(
        "refresh plan",
        &["plan", "-no-color", "-detailed-exitcode"],
    ));
    texts.push(run("show state", &["show", "-no-color", "-json"]));
    texts.push(("state".into(), ws.read("terraform.tfstate")));
    texts.push(run("destroy", &["destroy", "-no-color", "-auto-approve"]));
    texts
}

fn assert_absent(texts: &[(String, String)], secret: &str, name: &str) {
    assert!(secret.len() >= 16, "{name} is too short to search for");
    for (what, text) in texts {
        assert!(!text.contains(secret), "{what} contains the {name}");
    }
}

#[test]
fn secrets_stay_out_of_logs_state_and_plans() {
    let _watchdog = Watchdog::arm(
        "secrets_stay_out_of_logs_state_and_plans",
        Duration::from_secs(300),
    );
    let pg = PgCluster::start("15");
    let resources = "resource \"rdsiam_postgres_user\" \"u\" {\n  name = \"secret_probe\"\n}\n";

    // A password in the provider configuration, from an ephemeral variable (Terraform itself
    // keeps plain variables in saved plans).
    let password = format!("pw-{}-{}", now_secs(), std::process::id()) + "-Zq7Xv9Kp2Lm";
    pg.make_rds_like_admin("secret_admin", &password);
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write(
        "main.tf",
        &format!(
            r#"{REQUIRED_PROVIDERS}variable "db_password" {{
  type      = string
  sensitive = true
  ephemeral = true
}}
provider "rdsiam" {{
  postgres {{
    host        = "localhost"
    port        = {port}
    username    = "secret_admin"
    password    = var.db_password
    sslmode     = "verify-full"
    sslrootcert = {ca}
  }}
}}
{resources}
"#,
            port = pg.port(),
            ca = hcl(&pg.ca_path().to_string_lossy()),
        ),
    );
    let texts = traced_lifecycle(&ws, &[("TF_VAR_db_password", &password)]);
    assert_absent(&texts, &password, "password");
    // The trace really has the provider's side of the conversation.
    assert!(
        texts.iter().any(|(_, t)| t.contains("ApplyResourceChange")),
        "TF_LOG=trace shows no provider calls"
    );

    // IAM: the provider mints a token for every connection; the front records them all.
    let front = IamFront::start(&pg, creds(), REGION, "localhost");
    pg.make_rds_like_admin("secret_iam_admin", "unused-password");
    let ws = iam_workspace(&front, "secret_iam_admin", resources);
    let texts = traced_lifecycle(&ws, &[]);
    let tokens = front.tokens();
    assert!(!tokens.is_empty(), "the provider never presented a token");
    assert!(front.rejections().is_empty(), "{:?}", front.rejections());
    for tok in &tokens {
        assert_absent(&texts, tok, "IAM token");
        if let Some((_, sig)) = tok.rsplit_once("X-Amz-Signature=") {
            assert_absent(&texts, sig, "IAM token's signature");
        }
    }
    assert_absent(&texts, SECRET, "AWS secret key");
    assert_absent(&texts, SESSION, "AWS session token");
    assert_eq!(
        pg.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_roles WHERE rolname = {}",
                quote_literal("secret_probe")
            )
        ),
        "0"
    );
}
