//! Refreshing many `rdsiam_postgres_grant` resources (issue 5): the SQL the provider sends and
//! the wall time of `terraform plan -refresh-only` and `terraform plan` for 500 grants (125
//! users × 4 grants) against a throw-away PostgreSQL 17, as an RDS-like admin. Every grant
//! lives in one database, so a refresh should load one catalog snapshot
//! ([`SNAPSHOT_MARKER`]) and answer every grant's read from it: a bounded number of catalog
//! queries, not one per grant. Apply and destroy are timed and counted too, and Terraform's own
//! floor (a refresh of as many `terraform_data` resources) is measured for comparison.
//!
//! Needs `[[bench]] name = "grants" harness = false` in Cargo.toml.
//!
//! * `cargo bench --bench grants`: the full run, 125 users × 4 grants, each plan run 3 times
//!   (`RDSIAM_BENCH_GRANT_USERS=<n>` changes the number of users).
//! * without `--bench` (as `cargo test --all-targets` runs it): the same checks for 5 users ×
//!   4 grants, each plan once.
//!
//! Either way the process exits non-zero when an invariant does not hold: apply, refresh and
//! destroy succeed; the re-plans are empty; a refresh loads at most 2 snapshots and sends at
//! most [`MAX_GRANT_STATEMENTS`] statements besides the users' own reads, whatever the number
//! of grants.
//!
//! How statements are counted: the server runs with `log_statement = 'all'` and a
//! `log_line_prefix` carrying the application name; before and after each Terraform command
//! psql sends `SELECT 'bench-mark-…'`, and the log lines between the two markers whose
//! application is `terraform-provider-rdsiam` are the provider's statements for that command.
//!
//! Needs the test tools: `scripts/install-tools.sh` (Terraform) and
//! `scripts/install-postgres.sh 17`.

// Compiled as a test (harness = true, i.e. without the Cargo.toml entry) `main` is unused.
#![cfg_attr(test, allow(dead_code))]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::postgres::{PgCluster, Statements, provider_block, quote_ident};
use support::{Workspace, bench_size, provider_bin, users_with_four_grants};

const PG_MAJOR: &str = "17";
const TF_VERSION: &str = "1.15.5";
const ADMIN: &str = "bench_grant_admin";
const ADMIN_PASSWORD: &str = "bench-grant-admin-pw";
const DB: &str = "bench_grants";
const TABLES: &[&str] = &["t1", "t2", "t3"];
const GRANTS_PER_USER: usize = 4;
/// Catalog snapshots one refresh may load (one per provider process that reads).
const MAX_SNAPSHOTS: usize = 2;
/// Statements one refresh may send besides the users' reads (one per user): snapshots and
/// version checks. A constant: it must not grow with the number of grants.
const MAX_GRANT_STATEMENTS: usize = 10;

struct Bench<'a> {
    pg: &'a PgCluster,
    seq: usize,
    problems: Vec<String>,
}

struct Run {
    wall: Duration,
    counts: Statements,
}

impl Bench<'_> {
    /// Runs one Terraform command between two log markers; records a problem unless it exits
    /// with one of `ok_codes`.
    fn measure(&mut self, ws: &Workspace, args: &[&str], ok_codes: &[i32]) -> Run {
        self.seq += 1;
        let start = format!("bench-mark-start-{}", self.seq);
        let end = format!("bench-mark-end-{}", self.seq);
        self.pg.psql("postgres", &format!("SELECT '{start}'"));
        let t0 = Instant::now();
        let out = ws.tf(args);
        let wall = t0.elapsed();
        self.pg.psql("postgres", &format!("SELECT '{end}'"));
        self.problems.extend(out.unexpected_exit(ok_codes));
        let log = self.pg.log();
        let from = log.find(&start).unwrap_or(0);
        let to = log[from..].find(&end).map_or(log.len(), |i| from + i);
        Run {
            wall,
            counts: Statements::count(&log[from..to]),
        }
    }
}

fn config(pg: &PgCluster, users: usize) -> String {
    format!(
        "{}{}",
        provider_block(pg, ADMIN, ""),
        users_with_four_grants(users, r#"format("bench_grant_user_%04d", i)"#, DB)
    )
}

/// A database owned by the admin with tables it owns (as on RDS); CONNECT revoked from PUBLIC.
fn setup_database(pg: &PgCluster) {
    pg.make_rds_like_admin(ADMIN, ADMIN_PASSWORD);
    let (db, admin) = (quote_ident(DB), quote_ident(ADMIN));
    pg.psql("postgres", &format!("CREATE DATABASE {db} OWNER {admin}"));
    pg.psql(
        "postgres",
        &format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC"),
    );
    let ddl: String = TABLES
        .iter()
        .map(|t| format!("CREATE TABLE public.{} (id int);", quote_ident(t)))
        .collect();
    pg.try_psql(DB, ADMIN, ADMIN_PASSWORD, &ddl)
        .unwrap_or_else(|e| panic!("create tables: {e}"));
    // Every statement in the log, tagged with its application.
    pg.psql(
        "postgres",
        "ALTER SYSTEM SET log_statement = 'all'; \
         ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '; \
         SELECT pg_reload_conf();",
    );
}

/// Privileges the users hold on the tables: SELECT on 3 + INSERT, UPDATE on 2 each.
fn table_acl_entries(pg: &PgCluster) -> usize {
    pg.psql(
        DB,
        "SELECT count(*) FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a \
         JOIN pg_roles r ON r.oid = a.grantee \
         WHERE r.rolname LIKE 'bench\\_grant\\_user\\_%' AND c.relname IN ('t1', 't2', 't3')",
    )
    .parse()
    .unwrap_or(0)
}

fn users_left(pg: &PgCluster) -> usize {
    pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'bench\\_grant\\_user\\_%'",
    )
    .parse()
    .unwrap_or(0)
}

fn median(walls: &[Duration]) -> Duration {
    let mut w = walls.to_vec();
    w.sort_unstable();
    w.get(w.len() / 2).copied().unwrap_or_default()
}

/// One row of the result table.
struct Row {
    command: String,
    walls: Vec<Duration>,
    counts: Statements,
}

impl Row {
    fn from_runs(command: &str, runs: &[Run]) -> Row {
        Row {
            command: command.to_string(),
            walls: runs.iter().map(|r| r.wall).collect(),
            counts: runs.first().map(|r| r.counts).unwrap_or_default(),
        }
    }
}

/// Runs the scenario; returns whether every invariant held.
fn run(users: usize, reps: usize, full: bool) -> bool {
    let started = Instant::now();
    let grants = users * GRANTS_PER_USER;
    let resources = users + grants;
    let pg = PgCluster::start(PG_MAJOR);
    setup_database(&pg);
    let mut ws = Workspace::new(TF_VERSION, provider_bin());
    ws.set_env("PGPASSWORD", ADMIN_PASSWORD);
    ws.write("main.tf", &config(&pg, users));
    println!(
        "grants bench: {users} users × {GRANTS_PER_USER} grants = {grants} grants ({resources} \
         resources), one database, PostgreSQL {PG_MAJOR} (RDS-like admin), Terraform \
         {TF_VERSION}, default -parallelism (10), provider {}{}",
        provider_bin().display(),
        if full {
            ""
        } else {
            " (quick run; `cargo bench --bench grants` for the full one)"
        }
    );

    let mut b = Bench {
        pg: &pg,
        seq: 0,
        problems: Vec::new(),
    };
    let mut rows = Vec::new();

    let apply = b.measure(&ws, &["apply"], &[0]);
    rows.push(Row::from_runs("apply", &[apply]));
    let acl = table_acl_entries(&pg);
    if acl != users * 7 {
        b.problems.push(format!(
            "after apply: {acl} table privileges held, expected {}",
            users * 7
        ));
    }

    let refresh_args = ["plan", "-refresh-only", "-detailed-exitcode"];
    let plan_args = ["plan", "-detailed-exitcode"];
    let mut refreshes = Vec::new();
    let mut plans = Vec::new();
    for _ in 0..reps {
        refreshes.push(b.measure(&ws, &refresh_args, &[0]));
        plans.push(b.measure(&ws, &plan_args, &[0]));
    }
    for (name, runs) in [("plan -refresh-only", &refreshes), ("plan", &plans)] {
        for (i, r) in runs.iter().enumerate() {
            let c = r.counts;
            if c.snapshots > MAX_SNAPSHOTS {
                b.problems.push(format!(
                    "{name} #{}: {} catalog snapshots > {MAX_SNAPSHOTS}",
                    i + 1,
                    c.snapshots
                ));
            }
            if c.grant_side() > MAX_GRANT_STATEMENTS {
                b.problems.push(format!(
                    "{name} #{}: {} statements besides user reads > {MAX_GRANT_STATEMENTS} \
                     for {grants} grants",
                    i + 1,
                    c.grant_side()
                ));
            }
            if c != runs[0].counts {
                println!(
                    "note: {name} #{} sent {c:?}, #1 sent {:?}",
                    i + 1,
                    runs[0].counts
                );
            }
        }
        rows.push(Row::from_runs(name, runs));
    }

    let destroy = b.measure(&ws, &["destroy"], &[0]);
    rows.push(Row::from_runs("destroy", &[destroy]));
    let left = users_left(&pg);
    if left != 0 {
        b.problems
            .push(format!("after destroy: {left} users left behind"));
    }

    // Terraform's floor: as many resources of the built-in terraform_data, refreshed.
    let floor_ws = Workspace::new(TF_VERSION, provider_bin());
    floor_ws.write(
        "main.tf",
        &format!(
            "resource \"terraform_data\" \"r\" {{\n  count = {resources}\n  input = count.index\n}}\n"
        ),
    );
    let floor_apply = floor_ws.tf(&["apply"]);
    let mut floor = Vec::new();
    if floor_apply.success() {
        for _ in 0..reps {
            let t0 = Instant::now();
            let out = floor_ws.tf(&refresh_args);
            floor.push(t0.elapsed());
            if out.code != 0 {
                println!(
                    "terraform_data floor: refresh-only plan exited {}",
                    out.code
                );
            }
        }
    } else {
        println!("terraform_data floor: skipped, apply failed:\n{floor_apply}");
    }

    println!();
    println!(
        "| command | grants | wall s{} | ms/grant | provider SQL statements | catalog snapshots | user reads | other | statements/grant | besides user reads, /grant |",
        if reps > 1 {
            format!(" (median of {reps})")
        } else {
            String::new()
        }
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        let wall = median(&r.walls).as_secs_f64();
        let c = r.counts;
        println!(
            "| `terraform {}` | {grants} | {wall:.2} | {:.2} | {} | {} | {} | {} | {:.3} | {:.3} |",
            r.command,
            wall * 1000.0 / grants as f64,
            c.total,
            c.snapshots,
            c.user_reads,
            c.other(),
            c.total as f64 / grants as f64,
            c.grant_side() as f64 / grants as f64,
        );
    }
    if !floor.is_empty() {
        let ours = median(&refreshes.iter().map(|r| r.wall).collect::<Vec<_>>()).as_secs_f64();
        let f = median(&floor).as_secs_f64();
        println!(
            "| `terraform plan -refresh-only`, {resources} × `terraform_data` (Terraform's floor) | - | {f:.2} | - | - | - | - | - | - | - |"
        );
        println!(
            "\nrefresh-only plan of {grants} grants + {users} users: {ours:.2} s vs {f:.2} s for \
             {resources} terraform_data: {:.1}× Terraform's floor",
            ours / f.max(1e-9)
        );
    }
    for r in &rows {
        if r.walls.len() > 1 {
            let all: Vec<String> = r
                .walls
                .iter()
                .map(|w| format!("{:.2}", w.as_secs_f64()))
                .collect();
            println!("  terraform {}: runs {} s", r.command, all.join(", "));
        }
    }

    let pass = b.problems.is_empty();
    for p in &b.problems {
        println!("FAIL {p}");
    }
    let claim = format!(
        "re-plans empty, <= {MAX_SNAPSHOTS} catalog snapshots and <= {MAX_GRANT_STATEMENTS} \
         statements besides user reads per refresh of {grants} grants"
    );
    support::verdict(pass, &claim, started)
}

fn main() {
    let full = support::full_bench();
    let users = bench_size("RDSIAM_BENCH_GRANT_USERS", 125, 5);
    let reps = if full { 3 } else { 1 };
    if !run(users, reps, full) {
        std::process::exit(1);
    }
}
