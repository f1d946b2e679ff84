//! Connections and IAM tokens for many `rdsiam_postgres_user` resources (issue 4): planning and
//! applying N users (200 by default) through real Terraform against a throw-away PostgreSQL 15
//! must open at most `max_connections` connections per provider process and mint exactly one
//! IAM token per connection.
//!
//! Needs `[[bench]] name = "users" harness = false` in Cargo.toml.
//!
//! * `cargo bench --bench users`: the full run, N = 200 (`RDSIAM_BENCH_USERS=<n>` changes it).
//! * without `--bench` (as `cargo test --all-targets` runs it): the same checks for N = 5.
//!
//! Either way the process exits non-zero when an invariant does not hold.
//!
//! IAM mode without AWS: the provider signs with fixed credentials at a fixed instant
//! (`RDSIAM_TEST_SIGNING_TIME`), and the RDS-like admin's password is set to exactly that token,
//! so every successful connection used a token the provider minted. Each Terraform command gets
//! its own `RDSIAM_STATS_FILE`, where every provider process appends its running counters each
//! time it opens a connection (the last line per pid is that process's total). While a command
//! runs, a sampler also counts the provider's backends in `pg_stat_activity` (peak open).
//!
//! Needs the test tools: `scripts/install-tools.sh` (Terraform) and
//! `scripts/install-postgres.sh 15`.

// Compiled as a test (harness = true, i.e. without the Cargo.toml entry) `main` is unused.
#![cfg_attr(test, allow(dead_code))]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::postgres::{PROVIDER_APP, PgCluster, provider_block_aws, quote_literal};
use support::{FixedIam, Workspace, bench_size, provider_bin};

const PG_MAJOR: &str = "15";
const TF_VERSION: &str = "1.15.5";
const MAX_CONNECTIONS: usize = 4;
const PARALLELISM: usize = 10;
const ADMIN: &str = "bench_iam_admin";
const USER_PREFIX: &str = "bench_user_";
/// Credentials and clock the provider signs with; the admin's password is their token.
const IAM: FixedIam = FixedIam::EXAMPLE;

/// Totals of one provider process: the last line it wrote to the stats file.
#[derive(Clone, Copy, Debug, Default)]
struct ProcStats {
    connections: u64,
    tokens: u64,
}

/// `pid -> totals` from a stats file (missing file: no process opened a connection).
fn read_stats(path: &Path) -> BTreeMap<u64, ProcStats> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut procs = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad stats line {line:?} in {}: {e}", path.display()));
        let field = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("stats line {line:?} has no {k}"))
        };
        let s: &mut ProcStats = procs.entry(field("pid")).or_default();
        // Counters only grow; max() is the last line even if lines interleave.
        s.connections = s.connections.max(field("connections_opened"));
        s.tokens = s.tokens.max(field("tokens_minted"));
    }
    procs
}

struct Row {
    command: String,
    wall: Duration,
    procs: BTreeMap<u64, ProcStats>,
    peak_open: usize,
    problems: Vec<String>,
}

impl Row {
    fn connections(&self) -> u64 {
        self.procs.values().map(|p| p.connections).sum()
    }
    fn tokens(&self) -> u64 {
        self.procs.values().map(|p| p.tokens).sum()
    }
    fn max_per_proc(&self) -> u64 {
        self.procs
            .values()
            .map(|p| p.connections)
            .max()
            .unwrap_or(0)
    }
    fn ratio(&self) -> String {
        match self.connections() {
            0 => "-".to_string(),
            c => format!("{:.2}", self.tokens() as f64 / c as f64),
        }
    }
    fn pass(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Number of the provider's backends open right now.
fn open_provider_backends(pg: &PgCluster) -> usize {
    pg.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = {}",
            quote_literal(PROVIDER_APP)
        ),
    )
    .parse()
    .unwrap_or(0)
}

fn count_users(pg: &PgCluster) -> (usize, usize) {
    let like = quote_literal(&format!("{}%", USER_PREFIX.replace('_', "\\_")));
    let out = pg.psql(
        "postgres",
        &format!(
            "SELECT count(*) || '|' || count(*) FILTER (WHERE pg_has_role(r.oid, 'rds_iam', 'MEMBER')) \
             FROM pg_roles r WHERE r.rolname LIKE {like}"
        ),
    );
    let (a, b) = out.split_once('|').unwrap_or(("0", "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

/// Runs one Terraform command with its own stats file and a `pg_stat_activity` sampler.
/// `ok_codes`: exit codes that count as success.
fn measure(pg: &PgCluster, ws: &Workspace, label: &str, args: &[&str], ok_codes: &[i32]) -> Row {
    let stats_path = ws.path().join(format!("stats-{}.jsonl", args[0]));
    let _ = std::fs::remove_file(&stats_path);
    let stats_env = stats_path.to_string_lossy().into_owned();
    let stop = AtomicBool::new(false);
    let peak = AtomicUsize::new(0);
    let (out, wall) = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(open_provider_backends(pg), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let t0 = Instant::now();
        let out = ws.tf_env(args, &[("RDSIAM_STATS_FILE", &stats_env)]);
        let wall = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        (out, wall)
    });
    let mut problems = Vec::new();
    problems.extend(out.unexpected_exit(ok_codes));
    let procs = read_stats(&stats_path);
    // N >= 1 users: every command reads or writes them, so a connection must show up (else
    // the stats hook is not working and the checks below would pass vacuously).
    if procs.values().all(|p| p.connections == 0) {
        problems.push(format!(
            "no provider process recorded a connection in {}",
            stats_path.display()
        ));
    }
    for (pid, p) in &procs {
        if p.connections > MAX_CONNECTIONS as u64 {
            problems.push(format!(
                "provider pid {pid} opened {} connections > max_connections {MAX_CONNECTIONS}",
                p.connections
            ));
        }
        if p.tokens != p.connections {
            problems.push(format!(
                "provider pid {pid} minted {} tokens for {} connections",
                p.tokens, p.connections
            ));
        }
    }
    let peak_open = peak.load(Ordering::Relaxed);
    if peak_open > MAX_CONNECTIONS {
        problems.push(format!(
            "{peak_open} provider connections open at once > max_connections {MAX_CONNECTIONS}"
        ));
    }
    Row {
        command: label.to_string(),
        wall,
        procs,
        peak_open,
        problems,
    }
}

fn config(pg: &PgCluster, n: usize) -> String {
    let extra = format!("    iam_auth        = true\n    max_connections = {MAX_CONNECTIONS}");
    format!(
        r#"{provider}
resource "rdsiam_postgres_user" "u" {{
  count = {n}
  name  = format("{USER_PREFIX}%04d", count.index)
}}
"#,
        provider = provider_block_aws(pg, IAM.region, ADMIN, &extra),
    )
}

/// Runs the scenario; returns whether every invariant held.
fn run(n: usize, full: bool) -> bool {
    let started = Instant::now();
    let pg = PgCluster::start(PG_MAJOR);
    let tok = IAM.token(pg.port(), ADMIN);
    // The admin's password is the token the provider will present.
    pg.make_rds_like_admin(ADMIN, &tok);

    let tf_version = std::env::var("RDSIAM_BENCH_TF").unwrap_or_else(|_| TF_VERSION.to_string());
    let mut ws = Workspace::new(&tf_version, provider_bin());
    IAM.set_env(&mut ws);
    ws.write("main.tf", &config(&pg, n));

    println!(
        "users bench: N = {n}, PostgreSQL {PG_MAJOR}, Terraform {tf_version}, provider {}, \
         iam_auth = true, max_connections = {MAX_CONNECTIONS}, -parallelism={PARALLELISM}{}",
        provider_bin().display(),
        if full {
            ""
        } else {
            " (quick run; `cargo bench --bench users` for the full one)"
        }
    );

    let par = format!("-parallelism={PARALLELISM}");
    let mut rows = Vec::new();
    let mut catalog = Vec::new();

    rows.push(measure(
        &pg,
        &ws,
        "`terraform apply`",
        &["apply", &par],
        &[0],
    ));
    let (present, in_iam) = count_users(&pg);
    catalog.push(("after apply", present, in_iam, present == n && in_iam == n));

    rows.push(measure(
        &pg,
        &ws,
        "`terraform plan` (no changes)",
        &["plan", "-detailed-exitcode", &par],
        &[0],
    ));

    rows.push(measure(
        &pg,
        &ws,
        "`terraform destroy`",
        &["destroy", &par],
        &[0],
    ));
    let (left, left_iam) = count_users(&pg);
    catalog.push(("after destroy", left, left_iam, left == 0));

    println!();
    println!(
        "| command | N | wall s | ms/user | provider processes connecting | connections opened | tokens minted | tokens/connection | max per process | peak open (sampled) | verdict |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in &rows {
        println!(
            "| {} | {n} | {:.1} | {:.1} | {} | {} | {} | {} | {} / {MAX_CONNECTIONS} | {} | {} |",
            r.command,
            r.wall.as_secs_f64(),
            r.wall.as_secs_f64() * 1000.0 / n.max(1) as f64,
            r.procs.len(),
            r.connections(),
            r.tokens(),
            r.ratio(),
            r.max_per_proc(),
            r.peak_open,
            if r.pass() { "PASS" } else { "FAIL" }
        );
    }
    println!();
    println!("| catalog | `bench_user_*` roles | of them in rds_iam | verdict |");
    println!("| --- | ---: | ---: | --- |");
    for (when, roles, iam, ok) in &catalog {
        println!(
            "| {when} | {roles} | {iam} | {} |",
            if *ok { "PASS" } else { "FAIL" }
        );
    }

    let mut pass = true;
    for r in &rows {
        for p in &r.problems {
            println!("FAIL {}: {p}", r.command);
            pass = false;
        }
        for (pid, p) in &r.procs {
            println!(
                "  {}: provider pid {pid}: {} connections, {} tokens",
                r.command, p.connections, p.tokens
            );
        }
    }
    for (when, roles, iam, ok) in &catalog {
        if !ok {
            println!("FAIL catalog {when}: {roles} roles, {iam} in rds_iam (N = {n})");
            pass = false;
        }
    }
    let claim = format!(
        "every provider process opened <= {MAX_CONNECTIONS} connections and minted one token per connection"
    );
    support::verdict(pass, &claim, started)
}

fn main() {
    let full = support::full_bench();
    let n = bench_size("RDSIAM_BENCH_USERS", 200, 5);
    if !run(n, full) {
        std::process::exit(1);
    }
}
