//! Scale benchmark (issue 7): apply, re-plan and destroy N `rdsiam_postgres_user` + N
//! `rdsiam_postgres_grant` (N = 10, 100, 1000) through real Terraform against a throw-away
//! PostgreSQL 15, in IAM mode, beside three baselines measured in the same run:
//!
//! * Terraform's floor: 2N built-in `terraform_data` resources, the second N depending on the
//!   first as each grant depends on its user (the same graph: 2N nodes, N edges);
//! * the database's floor: the same work as SQL through one psql session (per user `CREATE
//!   ROLE … LOGIN; GRANT rds_iam …; GRANT CONNECT …`; re-plan: one catalog SELECT per user and
//!   per grant; destroy: `REVOKE …; DROP ROLE …`);
//! * today's workaround: N `terraform_data` with a `local-exec` psql per user (create and
//!   destroy provisioners; its re-plan reads nothing from the database).
//!
//! For our provider it also records the provider processes' peak RSS (`RDSIAM_RSS_FILE`), the
//! connections opened and tokens minted per process (`RDSIAM_STATS_FILE`) and the SQL
//! statements they sent (server `log_statement = 'all'`, lines tagged with the application
//! name, between psql markers). Every Terraform command runs with its default
//! `-parallelism` (10).
//!
//! * `cargo bench --bench scale`: the full matrix; writes `docs/benchmarks.md` from
//!   `benches/benchmarks.md.in`, embedding the other benches' output when `scripts/bench.sh`
//!   (`make bench`) captured it in `BENCH_CAPTURE_DIR`.
//! * `BENCH_N=10,100 cargo bench --bench scale`: a smaller matrix; writes
//!   `target/bench/benchmarks.md` instead (`BENCH_OUT=<path>` overrides either).
//! * without `--bench` (as `cargo test --all-targets` runs it): N = 10, our provider only,
//!   one re-plan, with the invariants checked and no file written.
//!
//! The process exits non-zero when a run is broken (a command fails, a re-plan is not empty,
//! the catalog is not as expected, a process opens more than `max_connections` connections or
//! mints a token per connection other than one). Missing a performance target is reported as
//! FAIL in the output and the document but does not change the exit code.
//!
//! Needs the test tools: `scripts/install-tools.sh` (Terraform, PostgreSQL 15).

// Compiled as a test (harness = true, i.e. without the Cargo.toml entry) `main` is unused.
#![cfg_attr(test, allow(dead_code))]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::postgres::{
    PROVIDER_APP, PgCluster, Statements, provider_block_aws, psql_bin, quote_ident, quote_literal,
};
use support::{FixedIam, Workspace, hcl, provider_bin, repo_root};

const PG_MAJOR: &str = "15";
const TF_VERSION: &str = "1.15.5";
const MAX_CONNECTIONS: u64 = 4;
const ADMIN: &str = "bench_scale_admin";
const DB: &str = "bench_scale";
/// Credentials and clock the provider signs with; the admin's password is their token.
const IAM: FixedIam = FixedIam::EXAMPLE;
const DEFAULT_MATRIX: &[usize] = &[10, 100, 1000];
/// Targets (issue 7).
const REPLAN_TARGET: f64 = 1.3;
const RSS_TARGET_MB: f64 = 50.0;
/// Statements a re-plan may send besides one read per user: snapshots, version checks.
const MAX_OTHER_STATEMENTS: usize = 10;

/// Role names of one system: distinct prefixes, so a leftover never collides.
fn role(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:04}")
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum System {
    Ours,
    TfFloor,
    DbFloor,
    Workaround,
}

impl System {
    const ALL: [System; 4] = [
        System::TfFloor,
        System::Ours,
        System::DbFloor,
        System::Workaround,
    ];
    fn label(self) -> &'static str {
        match self {
            System::Ours => "rdsiam (N users + N grants)",
            System::TfFloor => "Terraform floor (2N `terraform_data`)",
            System::DbFloor => "database floor (one psql session)",
            System::Workaround => "workaround (N `terraform_data` + `local-exec` psql)",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            System::Ours => "bench_scale_u_",
            System::TfFloor => "bench_scale_f_",
            System::DbFloor => "bench_scale_d_",
            System::Workaround => "bench_scale_w_",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    Apply,
    Replan,
    Destroy,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Apply, Phase::Replan, Phase::Destroy];
    fn label(self) -> &'static str {
        match self {
            Phase::Apply => "apply",
            Phase::Replan => "re-plan",
            Phase::Destroy => "destroy",
        }
    }
}

/// What the provider processes of one Terraform command did.
#[derive(Clone, Debug, Default)]
struct ProviderStats {
    /// pid -> (connections opened, tokens minted); processes that connected.
    conns: BTreeMap<u64, (u64, u64)>,
    /// pid -> (peak RSS in kB, CPU ms); every process that was shut down.
    rss_kb: BTreeMap<u64, (u64, u64)>,
    statements: Statements,
    /// Most provider backends open at once (all processes), sampled every 10 ms.
    peak_open: usize,
}

impl ProviderStats {
    fn connections(&self) -> u64 {
        self.conns.values().map(|c| c.0).sum()
    }
    fn tokens(&self) -> u64 {
        self.conns.values().map(|c| c.1).sum()
    }
    fn max_conns_per_process(&self) -> u64 {
        self.conns.values().map(|c| c.0).max().unwrap_or(0)
    }
    fn peak_rss_mb(&self) -> f64 {
        self.rss_kb.values().map(|r| r.0).max().unwrap_or(0) as f64 / 1024.0
    }
    /// CPU time of all the command's provider processes.
    fn cpu_secs(&self) -> f64 {
        self.rss_kb.values().map(|r| r.1).sum::<u64>() as f64 / 1000.0
    }
    fn processes(&self) -> usize {
        self.rss_kb.len().max(self.conns.len())
    }
}

/// One measured phase of one system.
#[derive(Clone, Debug, Default)]
struct Measured {
    walls: Vec<Duration>,
    /// The command failed (the workaround only: its failures are results, not bench bugs).
    failed: bool,
    /// CPU seconds of the first run's Terraform process and everything it waited for
    /// (provider processes, local-exec shells and psql).
    cpu: Option<f64>,
    /// Our provider only; for a repeated phase, the first run's.
    stats: Option<ProviderStats>,
}

impl Measured {
    fn median(&self) -> f64 {
        let mut w = self.walls.clone();
        w.sort_unstable();
        w.get(w.len() / 2).map_or(f64::NAN, Duration::as_secs_f64)
    }
}

type Results = BTreeMap<(usize, System, Phase), Measured>;

/// `pid -> (connections, tokens)` from the connection stats file (last line per pid wins).
fn read_conn_stats(path: &Path) -> Result<BTreeMap<u64, (u64, u64)>, String> {
    let mut out = BTreeMap::new();
    for line in read_lines(path) {
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("bad stats line {line:?}: {e}"))?;
        let field = |k: &str| v[k].as_u64().ok_or(format!("stats line {line:?}: no {k}"));
        let e: &mut (u64, u64) = out.entry(field("pid")?).or_default();
        // Counters only grow: the max is the process's total.
        e.0 = e.0.max(field("connections_opened")?);
        e.1 = e.1.max(field("tokens_minted")?);
    }
    Ok(out)
}

/// `pid -> (peak RSS kB, CPU ms)` from the RSS file.
fn read_rss(path: &Path) -> Result<BTreeMap<u64, (u64, u64)>, String> {
    let mut out = BTreeMap::new();
    for line in read_lines(path) {
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("bad RSS line {line:?}: {e}"))?;
        match (v["pid"].as_u64(), v["peak_rss_kb"].as_u64()) {
            (Some(pid), Some(kb)) => {
                out.insert(pid, (kb, v["cpu_ms"].as_u64().unwrap_or(0)));
            }
            _ => return Err(format!("bad RSS line {line:?}")),
        }
    }
    Ok(out)
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Counts the provider's backends in `pg_stat_activity` every 10 ms over one long-lived
/// connection (no process per sample), while `active`; keeps the peak.
struct Sampler {
    active: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pg: &PgCluster) -> Sampler {
        let (user, password) = pg.superuser();
        let config = pg.tokio_config_host(pg.host(), "postgres", user, password);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(pg.rustls_config());
        let active = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let (a, s, p) = (active.clone(), stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("sampler runtime: {e}"));
            rt.block_on(async move {
                let (client, conn) = config
                    .connect(tls)
                    .await
                    .unwrap_or_else(|e| panic!("sampler connection: {e}"));
                tokio::spawn(conn);
                let sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1";
                while !s.load(Ordering::Relaxed) {
                    if a.load(Ordering::Relaxed)
                        && let Ok(row) = client.query_one(sql, &[&PROVIDER_APP]).await
                    {
                        let n: i64 = row.get(0);
                        p.fetch_max(usize::try_from(n).unwrap_or(0), Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        });
        Sampler {
            active,
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn begin(&self) {
        self.peak.store(0, Ordering::Relaxed);
        self.active.store(true, Ordering::Relaxed);
    }

    fn end(&self) -> usize {
        self.active.store(false, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One throw-away cluster for one N: an RDS-like admin whose password is the IAM token the
/// provider mints (fixed clock and credentials), a database it owns, every statement logged.
struct Bench {
    // Declared first: dropped (stopped) before the cluster.
    sampler: Sampler,
    pg: PgCluster,
    token: String,
    scratch: tempfile::TempDir,
    seq: usize,
    problems: Vec<String>,
    /// Failures of the workaround: reported in the document, not bench problems.
    notes: Vec<String>,
    /// Exit code and first `ERROR:` line of the last Terraform command.
    last_code: i32,
    last_error: String,
    /// CPU seconds of the last Terraform command and its children.
    last_cpu: f64,
}

impl Bench {
    fn start() -> Bench {
        let pg = PgCluster::start(PG_MAJOR);
        let token = IAM.token(pg.port(), ADMIN);
        pg.make_rds_like_admin(ADMIN, &token);
        let (db, admin) = (quote_ident(DB), quote_ident(ADMIN));
        pg.psql("postgres", &format!("CREATE DATABASE {db} OWNER {admin}"));
        pg.psql(
            "postgres",
            &format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC"),
        );
        pg.psql(
            "postgres",
            "ALTER SYSTEM SET log_statement = 'all'; \
             ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '; \
             SELECT pg_reload_conf();",
        );
        let scratch = tempfile::Builder::new()
            .prefix("rdsiam-bench-scale-")
            .tempdir()
            .unwrap_or_else(|e| panic!("scratch dir: {e}"));
        Bench {
            sampler: Sampler::start(&pg),
            pg,
            token,
            scratch,
            seq: 0,
            problems: Vec::new(),
            notes: Vec::new(),
            last_code: 0,
            last_error: String::new(),
            last_cpu: 0.0,
        }
    }

    fn mark(&self, what: &str) {
        self.pg.psql("postgres", &format!("SELECT '{what}'"));
    }

    /// Runs one Terraform command (timed), recording a problem unless it exits with one of
    /// `ok`. With `ours`, collects what the provider processes did.
    fn terraform(
        &mut self,
        ws: &Workspace,
        args: &[&str],
        ok: &[i32],
        ours: bool,
    ) -> (Duration, Option<ProviderStats>) {
        self.seq += 1;
        let stats_path = self
            .scratch
            .path()
            .join(format!("conns-{}.jsonl", self.seq));
        let rss_path = self.scratch.path().join(format!("rss-{}.jsonl", self.seq));
        let (start, end) = (
            format!("bench-mark-start-{}", self.seq),
            format!("bench-mark-end-{}", self.seq),
        );
        if ours {
            self.mark(&start);
            self.sampler.begin();
        }
        let (s, r) = (
            stats_path.to_string_lossy().into_owned(),
            rss_path.to_string_lossy().into_owned(),
        );
        let cpu0 = children_cpu_secs();
        let t0 = Instant::now();
        let out = ws.tf_env(args, &[("RDSIAM_STATS_FILE", &s), ("RDSIAM_RSS_FILE", &r)]);
        let wall = t0.elapsed();
        self.last_cpu = children_cpu_secs() - cpu0;
        let peak_open = self.sampler.end();
        self.last_code = out.code;
        self.last_error = out
            .combined()
            .lines()
            .find(|l| l.contains("ERROR:"))
            .unwrap_or("")
            .trim()
            .to_string();
        self.problems.extend(out.unexpected_exit(ok));
        if !ours {
            return (wall, None);
        }
        self.mark(&end);
        let log = self.pg.log();
        let from = log.find(&start).unwrap_or(0);
        let to = log[from..].find(&end).map_or(log.len(), |i| from + i);
        let mut stats = ProviderStats {
            statements: Statements::count(&log[from..to]),
            peak_open,
            ..Default::default()
        };
        match read_conn_stats(&stats_path) {
            Ok(c) => stats.conns = c,
            Err(e) => self.problems.push(e),
        }
        match read_rss(&rss_path) {
            Ok(r) => stats.rss_kb = r,
            Err(e) => self.problems.push(e),
        }
        self.check_provider(args, &stats);
        (wall, Some(stats))
    }

    fn check_provider(&mut self, args: &[&str], s: &ProviderStats) {
        let cmd = args.join(" ");
        // Every command reads or writes users: no recorded connection means a broken hook.
        if s.connections() == 0 {
            self.problems
                .push(format!("terraform {cmd}: no provider connection recorded"));
        }
        if s.peak_open as u64 > MAX_CONNECTIONS {
            self.problems.push(format!(
                "terraform {cmd}: {} provider connections open at once > max_connections \
                 {MAX_CONNECTIONS}",
                s.peak_open
            ));
        }
        for (pid, (c, t)) in &s.conns {
            if c != t {
                self.problems.push(format!(
                    "terraform {cmd}: provider pid {pid} minted {t} tokens for {c} connections"
                ));
            }
            if !s.rss_kb.contains_key(pid) {
                self.problems.push(format!(
                    "terraform {cmd}: provider pid {pid} recorded no peak RSS at shutdown"
                ));
            }
        }
    }

    /// After a failed workaround command: notes why, then reruns it (untimed, up to 3 times)
    /// so the run can go on. Returns whether it failed.
    fn workaround_retry(&mut self, ws: &Workspace, n: usize, args: &[&str]) -> bool {
        if self.last_code == 0 {
            return false;
        }
        self.notes.push(format!(
            "N = {n}: workaround `terraform {}` failed: {}",
            args.join(" "),
            self.last_error
        ));
        for _ in 0..3 {
            if ws.tf(args).success() {
                return true;
            }
        }
        self.problems.push(format!(
            "N = {n}: workaround `terraform {}` failed 4 times",
            args.join(" ")
        ));
        true
    }

    /// Runs `sql` through one psql session as the admin (timed).
    fn psql(&mut self, what: &str, sql: &str) -> Duration {
        let t0 = Instant::now();
        let r = self.pg.try_psql("postgres", ADMIN, &self.token, sql);
        let wall = t0.elapsed();
        if let Err(e) = r {
            self.problems.push(format!("database floor {what}: {e}"));
        }
        wall
    }

    /// (roles with `prefix`, of them in rds_iam, of them with CONNECT on the database).
    fn catalog(&self, prefix: &str) -> (usize, usize, usize) {
        let like = quote_literal(&format!("{}%", prefix.replace('_', "\\_")));
        let out = self.pg.psql(
            "postgres",
            &format!(
                "SELECT count(*) || '|' \
                 || count(*) FILTER (WHERE pg_has_role(r.oid, 'rds_iam', 'MEMBER')) || '|' \
                 || count(*) FILTER (WHERE has_database_privilege(r.oid, {db}, 'CONNECT')) \
                 FROM pg_roles r WHERE r.rolname LIKE {like}",
                db = quote_literal(DB)
            ),
        );
        let v: Vec<usize> = out.split('|').map(|x| x.parse().unwrap_or(0)).collect();
        (
            v.first().copied().unwrap_or(0),
            v.get(1).copied().unwrap_or(0),
            v.get(2).copied().unwrap_or(0),
        )
    }

    fn expect_catalog(&mut self, system: System, when: &str, want: usize) {
        let got = self.catalog(system.prefix());
        if got != (want, want, want) {
            self.problems.push(format!(
                "{} after {when}: (roles, in rds_iam, with CONNECT) = {got:?}, expected all {want}",
                system.label()
            ));
        }
    }

    fn workspace(&self) -> Workspace {
        Workspace::new(TF_VERSION, provider_bin())
    }

    fn ours_config(&self, n: usize) -> String {
        let extra = format!("    iam_auth        = true\n    max_connections = {MAX_CONNECTIONS}");
        format!(
            r#"{provider}resource "rdsiam_postgres_user" "u" {{
  count = {n}
  name  = format("{prefix}%04d", count.index)
}}
resource "rdsiam_postgres_grant" "g" {{
  count       = {n}
  role        = rdsiam_postgres_user.u[count.index].name
  database    = {db}
  object_type = "database"
  privileges  = ["CONNECT"]
}}
"#,
            provider = provider_block_aws(&self.pg, IAM.region, ADMIN, &extra),
            prefix = System::Ours.prefix(),
            db = hcl(DB),
        )
    }
}

fn floor_config(n: usize) -> String {
    format!(
        r#"resource "terraform_data" "u" {{
  count = {n}
  input = format("{prefix}%04d", count.index)
}}
resource "terraform_data" "g" {{
  count = {n}
  input = terraform_data.u[count.index].output
}}
"#,
        prefix = System::TfFloor.prefix()
    )
}

fn workaround_config(n: usize) -> String {
    // libpq settings come from the environment (PGHOST, PGPASSWORD, …); names are plain
    // identifiers, so no quoting is needed inside the shell command.
    let psql = format!("{} -X -q -v ON_ERROR_STOP=1", psql_bin().display());
    format!(
        r#"resource "terraform_data" "u" {{
  count = {n}
  input = format("{prefix}%04d", count.index)
  provisioner "local-exec" {{
    command = "{psql} -c 'CREATE ROLE ${{self.input}} LOGIN; GRANT rds_iam TO ${{self.input}}; GRANT CONNECT ON DATABASE {DB} TO ${{self.input}}'"
  }}
  provisioner "local-exec" {{
    when    = destroy
    command = "{psql} -c 'REVOKE CONNECT ON DATABASE {DB} FROM ${{self.input}}; DROP ROLE ${{self.input}}'"
  }}
}}
"#,
        prefix = System::Workaround.prefix()
    )
}

/// The database's floor: the same work as plain SQL in one session. For the re-plan, the
/// statements the provider itself sends: its role query once per user, and one query for the
/// database's whole ACL (what its catalog snapshot reads for the grants). One ACL query per
/// grant instead would be quadratic: the ACL holds all N grantees.
fn db_floor_sql(n: usize, phase: Phase) -> String {
    let db = quote_ident(DB);
    let mut sql = String::new();
    if phase == Phase::Replan {
        let _ = writeln!(
            sql,
            "SELECT g.rolname, a.privilege_type, a.is_grantable FROM pg_database d, \
             aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
             LEFT JOIN pg_roles g ON g.oid = a.grantee WHERE d.datname = {};",
            quote_literal(DB)
        );
    }
    for i in 0..n {
        let name = role(System::DbFloor.prefix(), i);
        let (id, lit) = (quote_ident(&name), quote_literal(&name));
        let _ = match phase {
            Phase::Apply => writeln!(
                sql,
                "CREATE ROLE {id} LOGIN; GRANT rds_iam TO {id}; GRANT CONNECT ON DATABASE {db} TO {id};"
            ),
            Phase::Replan => writeln!(
                sql,
                "SELECT r.rolconnlimit::int8, coalesce(r.rolconfig, '{{}}')::text[], \
                 array(SELECT DISTINCT g.rolname::text FROM pg_auth_members m \
                 JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) \
                 FROM pg_roles r WHERE r.rolname = {lit};"
            ),
            Phase::Destroy => writeln!(
                sql,
                "REVOKE CONNECT ON DATABASE {db} FROM {id}; DROP ROLE {id};"
            ),
        };
    }
    sql
}

/// Returns (problems, notes).
fn run_n(
    n: usize,
    reps: usize,
    systems: &[System],
    results: &mut Results,
) -> (Vec<String>, Vec<String>) {
    let mut b = Bench::start();
    let plan: &[&str] = &["plan", "-detailed-exitcode"];
    for &sys in systems {
        println!("  N = {n}: {} … (load {})", sys.label(), load_average());
        let mut put = |phase: Phase, wall: Duration, stats: Option<ProviderStats>, cpu: f64| {
            let m = results.entry((n, sys, phase)).or_default();
            m.walls.push(wall);
            if m.cpu.is_none() && sys != System::DbFloor {
                m.cpu = Some(cpu);
            }
            if m.stats.is_none() {
                m.stats = stats;
            }
        };
        match sys {
            System::DbFloor => {
                for phase in Phase::ALL {
                    let times = if phase == Phase::Replan { reps } else { 1 };
                    for _ in 0..times {
                        let wall = b.psql(phase.label(), &db_floor_sql(n, phase));
                        put(phase, wall, None, 0.0);
                    }
                    match phase {
                        Phase::Apply => b.expect_catalog(sys, "apply", n),
                        Phase::Destroy => b.expect_catalog(sys, "destroy", 0),
                        Phase::Replan => {}
                    }
                }
            }
            _ => {
                let mut ws = b.workspace();
                let ours = sys == System::Ours;
                match sys {
                    System::Ours => {
                        IAM.set_env(&mut ws);
                        ws.write("main.tf", &b.ours_config(n));
                    }
                    System::TfFloor => {
                        ws.write("main.tf", &floor_config(n));
                    }
                    _ => {
                        let port = b.pg.port().to_string();
                        let ca = b.pg.ca_path().to_string_lossy().into_owned();
                        for (k, v) in [
                            ("PGHOST", "localhost"),
                            ("PGHOSTADDR", "127.0.0.1"),
                            ("PGPORT", &port),
                            ("PGUSER", ADMIN),
                            ("PGDATABASE", "postgres"),
                            ("PGSSLMODE", "verify-full"),
                            ("PGSSLROOTCERT", &ca),
                            ("PGPASSWORD", &b.token),
                        ] {
                            ws.set_env(k, v);
                        }
                        ws.write("main.tf", &workaround_config(n));
                    }
                }
                // The workaround's failures are results (see `workaround_retry`).
                let ok: &[i32] = if sys == System::Workaround {
                    &[0, 1]
                } else {
                    &[0]
                };
                let (wall, stats) = b.terraform(&ws, &["apply"], ok, ours);
                put(Phase::Apply, wall, stats, b.last_cpu);
                let apply_failed = b.workaround_retry(&ws, n, &["apply"]);
                if sys != System::TfFloor {
                    b.expect_catalog(sys, "apply", n);
                }
                for _ in 0..reps {
                    let (wall, stats) = b.terraform(&ws, plan, &[0], ours);
                    put(Phase::Replan, wall, stats, b.last_cpu);
                }
                let (wall, stats) = b.terraform(&ws, &["destroy"], ok, ours);
                put(Phase::Destroy, wall, stats, b.last_cpu);
                let destroy_failed = b.workaround_retry(&ws, n, &["destroy"]);
                for (phase, failed) in [
                    (Phase::Apply, apply_failed),
                    (Phase::Destroy, destroy_failed),
                ] {
                    results.entry((n, sys, phase)).or_default().failed = failed;
                }
                if sys != System::TfFloor {
                    b.expect_catalog(sys, "destroy", 0);
                }
            }
        }
    }
    // A re-plan reads each user once; grants come from a bounded number of snapshots.
    if let Some(s) = results
        .get(&(n, System::Ours, Phase::Replan))
        .and_then(|m| m.stats.as_ref())
    {
        let other = s.statements.total - s.statements.user_reads;
        if s.statements.user_reads > n || other > MAX_OTHER_STATEMENTS {
            b.problems.push(format!(
                "re-plan of N = {n}: {} statements ({} user reads) > N + {MAX_OTHER_STATEMENTS}",
                s.statements.total, s.statements.user_reads
            ));
        }
    }
    (b.problems, b.notes)
}

/// CPU seconds of this process's waited-for children (cutime + cstime), which include
/// Terraform's own waited-for children.
fn children_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            // Fields 16 and 17 of the line; after the command name, state is index 0. Clock
            // ticks (USER_HZ, 100 on Linux).
            let t = |i: usize| f.get(i)?.parse::<u64>().ok();
            Some((t(13)? + t(14)?) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "-".into()
    }
}

fn secs(m: Option<&Measured>) -> f64 {
    m.map_or(f64::NAN, Measured::median)
}

fn fmt_secs(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.2}")
    } else {
        "-".into()
    }
}

/// The wall-time table: every system per N and phase, with ratios.
fn time_table(results: &Results, ns: &[usize], reps: usize) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| N | phase | rdsiam s | Terraform floor s | rdsiam / TF floor | database floor s | \
         rdsiam / DB floor | workaround s | workaround / TF floor | rdsiam / workaround |"
    );
    let _ = writeln!(
        t,
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for &n in ns {
        for phase in Phase::ALL {
            let get = |s: System| secs(results.get(&(n, s, phase)));
            let (o, f, d, w) = (
                get(System::Ours),
                get(System::TfFloor),
                get(System::DbFloor),
                get(System::Workaround),
            );
            let failed = results
                .get(&(n, System::Workaround, phase))
                .is_some_and(|m| m.failed);
            let label = if phase == Phase::Replan && reps > 1 {
                format!("re-plan (median of {reps})")
            } else {
                phase.label().to_string()
            };
            let _ = writeln!(
                t,
                "| {n} | {label} | {} | {} | {} | {} | {} | {} | {} | {} |",
                fmt_secs(o),
                fmt_secs(f),
                ratio(o, f),
                fmt_secs(d),
                ratio(o, d),
                fmt_secs(w) + if failed { " (failed)" } else { "" },
                ratio(w, f),
                ratio(o, w),
            );
        }
    }
    t
}

/// Our provider's counters per N and phase.
fn provider_table(results: &Results, ns: &[usize]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| N | phase | provider processes | connections opened | opened, max per process | \
         open at once (sampled peak) | tokens minted | peak RSS MB (max process) | \
         provider CPU s (all processes) | SQL statements | catalog snapshots | user reads |"
    );
    let _ = writeln!(
        t,
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for &n in ns {
        for phase in Phase::ALL {
            let Some(s) = results
                .get(&(n, System::Ours, phase))
                .and_then(|m| m.stats.as_ref())
            else {
                continue;
            };
            let _ = writeln!(
                t,
                "| {n} | {} | {} | {} | {} | {} / {MAX_CONNECTIONS} | {} | {:.1} | {:.2} | {} | {} | {} |",
                phase.label(),
                s.processes(),
                s.connections(),
                s.max_conns_per_process(),
                s.peak_open,
                s.tokens(),
                s.peak_rss_mb(),
                s.cpu_secs(),
                s.statements.total,
                s.statements.snapshots,
                s.statements.user_reads,
            );
        }
    }
    t
}

/// Where the time goes: CPU seconds of each Terraform command and its children, ours split
/// into the provider's share and the rest (Terraform), beside the floor's.
fn cpu_table(results: &Results, ns: &[usize]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| N | phase | rdsiam wall s | rdsiam: Terraform + provider CPU s | of it, provider CPU s | \
         Terraform floor wall s | Terraform floor CPU s |"
    );
    let _ = writeln!(t, "| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for &n in ns {
        for phase in Phase::ALL {
            let (Some(o), Some(f)) = (
                results.get(&(n, System::Ours, phase)),
                results.get(&(n, System::TfFloor, phase)),
            ) else {
                continue;
            };
            let w = |m: &Measured| m.walls.first().map_or(f64::NAN, Duration::as_secs_f64);
            let _ = writeln!(
                t,
                "| {n} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                phase.label(),
                w(o),
                o.cpu.unwrap_or(f64::NAN),
                o.stats.as_ref().map_or(f64::NAN, ProviderStats::cpu_secs),
                w(f),
                f.cpu.unwrap_or(f64::NAN),
            );
        }
    }
    t
}

/// Verdicts against the issue's targets, with numbers.
fn verdicts(results: &Results, ns: &[usize]) -> (String, bool) {
    let mut t = String::new();
    let mut all = true;
    let mut line = |ok: bool, text: String| {
        all &= ok;
        let _ = writeln!(t, "- **{}** {text}", if ok { "PASS" } else { "FAIL" });
    };
    if let Some(&n) = ns.iter().max() {
        let o = secs(results.get(&(n, System::Ours, Phase::Replan)));
        let f = secs(results.get(&(n, System::TfFloor, Phase::Replan)));
        if o.is_finite() && f.is_finite() {
            line(
                o / f <= REPLAN_TARGET,
                format!(
                    "re-plan of {n} users + {n} grants within {REPLAN_TARGET}× Terraform's floor \
                     (2N `terraform_data`): {o:.2} s vs {f:.2} s = {:.2}×",
                    o / f
                ),
            );
        }
    }
    let ours = || {
        results
            .iter()
            .filter(|((_, s, _), _)| *s == System::Ours)
            .filter_map(|(_, m)| m.stats.as_ref())
    };
    let peak_open = ours().map(|s| s.peak_open).max().unwrap_or(0);
    let max_opened = ours().map(|s| s.max_conns_per_process()).max().unwrap_or(0);
    line(
        peak_open as u64 <= MAX_CONNECTIONS && peak_open > 0,
        format!(
            "provider connections open at once <= `max_connections` ({MAX_CONNECTIONS}): at \
             most {peak_open} (sampled every 10 ms in `pg_stat_activity`, all provider processes)"
        ),
    );
    line(
        max_opened <= MAX_CONNECTIONS,
        format!(
            "connections opened per provider process <= `max_connections` ({MAX_CONNECTIONS}): \
             at most {max_opened} in any process, any N, any phase"
        ),
    );
    let mismatched = ours().filter(|s| s.tokens() != s.connections()).count();
    line(
        mismatched == 0,
        format!(
            "one IAM token minted per connection: {} of {} commands differ",
            mismatched,
            ours().count()
        ),
    );
    let rss = ours().map(|s| s.peak_rss_mb()).fold(0.0, f64::max);
    line(
        rss <= RSS_TARGET_MB && rss > 0.0,
        format!("provider peak RSS <= {RSS_TARGET_MB} MB: at most {rss:.1} MB in any process"),
    );
    (t, all)
}

/// The token bench's text table (`cargo bench --bench token`) as markdown.
fn token_markdown(text: &str) -> Option<String> {
    let mut t = String::from(
        "| per token | n | mean µs | p50 µs | p99 µs | × ours |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut rows = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[f.len() - 5..].iter().any(|x| x.parse::<f64>().is_err()) {
            continue;
        }
        let label = f[..f.len() - 5].join(" ");
        let _ = writeln!(t, "| {label} | {} |", f[f.len() - 5..].join(" | "));
        rows += 1;
    }
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("per token:") || l.contains("skipped"))
        .collect();
    (rows > 0).then(|| format!("{t}\n{}", summary.join("\n")))
}

/// The markdown tables and the summary lines of the users / grants benches.
fn tables_of(text: &str) -> Option<String> {
    let keep: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with('|')
                || l.starts_with("PASS")
                || l.starts_with("FAIL")
                || l.starts_with("refresh-only plan")
                || l.is_empty()
        })
        .collect();
    let s = keep.join("\n").trim().replace("\n\n\n", "\n\n");
    s.contains('|').then_some(s)
}

fn captured(name: &str, render: fn(&str) -> Option<String>) -> String {
    let Some(dir) = std::env::var_os("BENCH_CAPTURE_DIR") else {
        return format!(
            "_Not run by this command; `make bench` runs `cargo bench --bench {name}` first._"
        );
    };
    let path = Path::new(&dir).join(format!("{name}.txt"));
    match std::fs::read_to_string(&path) {
        Ok(text) => render(&text).unwrap_or_else(|| {
            format!(
                "_`cargo bench --bench {name}` printed no table (see {})._",
                path.display()
            )
        }),
        Err(e) => format!("_No output of `cargo bench --bench {name}`: {e}._"),
    }
}

fn main() {
    let full = support::full_bench();
    let custom = std::env::var("BENCH_N").ok();
    let ns: Vec<usize> = match &custom {
        Some(v) => v
            .split(',')
            .map(|x| x.trim().parse::<usize>().ok().filter(|n| *n > 0))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_else(|| panic!("BENCH_N={v:?}: expected e.g. 10,100,1000")),
        None if full => DEFAULT_MATRIX.to_vec(),
        None => vec![10],
    };
    let (reps, systems): (usize, &[System]) = if full {
        (3, &System::ALL)
    } else {
        (1, &[System::Ours])
    };
    let started = Instant::now();
    let load_start = load_average();
    println!(
        "scale bench: N = {ns:?}, PostgreSQL {PG_MAJOR}, Terraform {TF_VERSION} (default \
         -parallelism = 10), iam_auth = true, max_connections = {MAX_CONNECTIONS}, provider {}{}",
        provider_bin().display(),
        if full {
            ""
        } else {
            " (quick run; `cargo bench --bench scale` or `make bench` for the full one)"
        }
    );
    let mut results = Results::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for &n in &ns {
        let (p, nt) = run_n(n, reps, systems, &mut results);
        problems.extend(p);
        notes.extend(nt);
    }
    let elapsed = started.elapsed();
    let load_end = load_average();

    let times = time_table(&results, &ns, reps);
    let provider = provider_table(&results, &ns);
    let (verdict, _) = verdicts(&results, &ns);
    let cpu = cpu_table(&results, &ns);
    println!("\n{times}\n{provider}\n{cpu}\n{verdict}");
    for n in &notes {
        println!("note: {n}");
    }
    for p in &problems {
        println!("FAIL {p}");
    }
    println!(
        "{} ({:.0} s; load average {load_start} at start, {load_end} at end)",
        if problems.is_empty() {
            "PASS: every run succeeded and the catalog matched"
        } else {
            "FAIL: see above"
        },
        elapsed.as_secs_f64()
    );
    if !full {
        if !problems.is_empty() {
            std::process::exit(1);
        }
        return;
    }

    let machine = format!(
        "{} CPUs ({}), load average (1, 5, 15 min) {load_start} at the start and {load_end} at \
         the end; {:.0} s for this matrix; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        elapsed.as_secs_f64(),
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map(|t| t.get(..19).unwrap_or(&t).replace('T', " ") + " UTC")
            .unwrap_or_default()
    );
    let template_path = repo_root().join("benches/benchmarks.md.in");
    let template = std::fs::read_to_string(&template_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", template_path.display()));
    let doc = template
        .replace("{{machine}}", &machine)
        .replace("{{matrix}}", &format!("{ns:?}"))
        .replace("{{times}}", times.trim_end())
        .replace("{{provider}}", provider.trim_end())
        .replace("{{cpu}}", cpu.trim_end())
        .replace("{{verdicts}}", verdict.trim_end())
        .replace(
            "{{notes}}",
            &bullets(&notes, "None: every workaround command succeeded."),
        )
        .replace(
            "{{problems}}",
            &bullets(
                &problems,
                "None: every run succeeded and the catalog matched.",
            ),
        )
        .replace("{{token}}", &captured("token", token_markdown))
        .replace("{{users}}", &captured("users", tables_of))
        .replace("{{grants}}", &captured("grants", tables_of));
    let out = match (std::env::var_os("BENCH_OUT"), &custom) {
        (Some(p), _) => PathBuf::from(p),
        (None, None) => repo_root().join("docs/benchmarks.md"),
        (None, Some(_)) => repo_root().join("target/bench/benchmarks.md"),
    };
    if let Some(parent) = out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&out, doc).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    println!("wrote {}", out.display());
    if !problems.is_empty() {
        std::process::exit(1);
    }
}

fn bullets(items: &[String], none: &str) -> String {
    if items.is_empty() {
        return none.to_string();
    }
    items.iter().map(|i| format!("- {i}\n")).collect::<String>()
}
