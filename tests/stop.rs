//! Stop means stop: Ctrl-C (Terraform's StopProvider) ends in-flight PostgreSQL work at once.
//! * the library: a statement waiting for a lock is cancelled on the server (over TLS, as the
//!   pool connects), a write waiting for another and a read waiting for the pool's only
//!   connection end too; nothing is committed and the pool serves later requests;
//! * real Terraform (1.15.5 and 1.0.3): an apply blocked on a lock another session holds, with
//!   `lock_timeout = "40s"`, gets SIGINT 3 s in and exits within 8 s, saying it was cancelled;
//!   no backend of ours is left; once the lock is released the next apply converges.

use crate::pool::settings;
use crate::reliability::Holder;
use crate::support;

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::postgres::{PgCluster, provider_block};
use support::watchdog::Watchdog;
use support::{Output, Reap, TF_VERSIONS, Workspace, hcl, provider_bin};
use terraform_provider_rdsiam::pg::connect::{Pool, StaticPassword};
use terraform_provider_rdsiam::pg::{Pg, PgError};
use tokio_util::sync::CancellationToken;

const APP: &str = "terraform-provider-rdsiam";

/// How many of our backends (`application_name`) match `condition`.
fn ours(pg: &PgCluster, condition: &str) -> usize {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APP}' AND ({condition})"
    );
    pg.psql("postgres", &sql).parse().unwrap_or(usize::MAX)
}

fn waiting_for_a_lock(pg: &PgCluster) -> usize {
    ours(pg, "wait_event_type = 'Lock'")
}

/// Waits until `pred` holds, for at most `limit`; whether it did.
fn eventually(limit: Duration, pred: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stop_ends_statements_and_waits_in_the_library() {
    let _watchdog = Watchdog::arm(
        "a_stop_ends_statements_and_waits_in_the_library",
        Duration::from_secs(120),
    );
    let cluster = PgCluster::start("15");
    cluster.psql(
        "postgres",
        "CREATE TABLE public.lib_t (x int); CREATE ROLE lib_reader;",
    );
    let holder = Holder::new(&cluster);
    holder.run("BEGIN; ALTER TABLE public.lib_t ADD COLUMN y int;");

    let (user, password) = cluster.superuser();
    let mut s = settings(&cluster, user, 1);
    s.lock_timeout = Some("40s".into());
    let pool = Pool::new(s, Arc::new(StaticPassword(password.to_string())))
        .unwrap_or_else(|e| panic!("{e}"));
    let base = Pg::new(pool, "postgres".into());
    let stop = CancellationToken::new();
    let pg = Arc::new(base.stopped_by(stop.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));

    let write = |sql: &str| {
        let (pg, sql) = (pg.clone(), sql.to_string());
        rt.spawn(async move { pg.write(None, &[sql]).await })
    };
    // Blocked on the lock, holding the pool's only connection and the database's write turn.
    let grant = write("GRANT SELECT ON public.lib_t TO lib_reader");
    assert!(
        eventually(Duration::from_secs(20), || waiting_for_a_lock(&cluster)
            == 1),
        "the GRANT never waited for the lock"
    );
    let queued = write("CREATE ROLE lib_after");
    let read = {
        let pg = pg.clone();
        rt.spawn(async move { pg.query(None, "SELECT 1", &[]).await.map(|_| ()) })
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(!grant.is_finished() && !queued.is_finished() && !read.is_finished());

    let t = Instant::now();
    stop.cancel();
    let (grant, queued, read) = rt.block_on(async {
        let end = |h: tokio::task::JoinHandle<Result<(), PgError>>| async move {
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .unwrap_or_else(|_| panic!("still waiting 10 s after the stop"))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        (end(grant).await, end(queued).await, end(read).await)
    });
    let took = t.elapsed();
    eprintln!("library: every wait ended {took:?} after the stop");
    assert!(took < Duration::from_secs(2), "the stop took {took:?}");
    let text = |r: Result<(), PgError>, what: &str| match r {
        Ok(()) => panic!("{what} succeeded after the stop"),
        Err(e) => {
            assert!(
                e.message
                    .starts_with("Cancelled: Terraform asked the provider to stop")
            );
            e.message
        }
    };
    let grant = text(grant, "the GRANT");
    for needle in ["asked to cancel", "rolled back", "nothing was committed"] {
        assert!(grant.contains(needle), "{needle:?} missing: {grant}");
    }
    let queued = text(queued, "the queued write");
    assert!(
        queued.contains("waiting for another change to database \"postgres\""),
        "{queued}"
    );
    let read = text(read, "the read");
    assert!(read.contains("waiting for a connection"), "{read}");

    // The server got the cancel request: nothing of ours waits, though the lock is still held.
    assert_eq!(waiting_for_a_lock(&cluster), 0);
    holder.run("ROLLBACK");
    let granted = "SELECT has_table_privilege('lib_reader', 'public.lib_t', 'SELECT')";
    assert_eq!(cluster.psql("postgres", granted), "f");
    assert_eq!(
        cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'lib_after'"
        ),
        "0"
    );

    // Later requests get a fresh token (a --debug provider outlives a stop): the pool, whose
    // only slot the cancelled write gave back, still serves them.
    let later = base.stopped_by(CancellationToken::new());
    rt.block_on(later.write(None, &["GRANT SELECT ON public.lib_t TO lib_reader".into()]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cluster.psql("postgres", granted), "t");
}

// ---------------------------------------------------------------------------------------
// Real Terraform.

/// Kills what is left of a process group however the test ends.
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

/// `terraform apply` started in the background (its own process group), its output collected
/// by threads.
struct Running {
    child: Reap,
    _group: KillGroup,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
    started: Instant,
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

fn start_apply(ws: &Workspace) -> Running {
    use std::os::unix::process::CommandExt;
    let args = Workspace::tf_args(&["apply"]);
    let mut child: Child = ws
        .command(&args, &[])
        // Its own process group, as a terminal's foreground job: Ctrl-C signals the group.
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("terraform: {e}"));
    let out = drain(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let err = drain(child.stderr.take().unwrap_or_else(|| panic!("no stderr")));
    Running {
        _group: KillGroup(child.id()),
        child: Reap(child),
        out,
        err,
        started: Instant::now(),
    }
}

/// Presses Ctrl-C once the apply has run 3 s and is blocked on the lock: SIGINT to Terraform's
/// process group, as a terminal sends it (Terraform 1.0's panicwrap parent ignores SIGINT and
/// leaves it to the child, which gets it from the group; the provider ignores it and waits for
/// StopProvider). Waits for the exit; the output and the time from the signal to the exit.
fn interrupt(pg: &PgCluster, mut run: Running) -> (Output, Duration) {
    assert!(
        eventually(Duration::from_secs(60), || waiting_for_a_lock(pg) >= 1),
        "the apply never waited for the lock"
    );
    let three = run.started + Duration::from_secs(3);
    if let Some(rest) = three.checked_duration_since(Instant::now()) {
        std::thread::sleep(rest);
    }
    assert!(
        run.child.0.try_wait().ok().flatten().is_none(),
        "terraform ended before the signal"
    );
    assert!(waiting_for_a_lock(pg) >= 1, "the apply is not blocked");
    let pid = run.child.0.id().to_string();
    let signalled = Instant::now();
    let group = format!("-{pid}");
    let sent = std::process::Command::new("kill")
        .args(["-INT", "--", &group])
        .status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -INT -- {group}");
    let status = loop {
        if let Some(st) = run.child.0.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break st;
        }
        if signalled.elapsed() > Duration::from_secs(60) {
            panic!("terraform still runs 60 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let out = Output {
        args: Workspace::tf_args(&["apply"]),
        code: status.code().unwrap_or(-1),
        stdout: run.out.join().unwrap_or_default(),
        stderr: run.err.join().unwrap_or_default(),
    };
    (out, took)
}

/// What every interrupted apply must show: a quick exit with the cancellation named, and none
/// of our backends left on the server.
fn assert_stopped(pg: &PgCluster, out: &Output, took: Duration, what: &str) {
    eprintln!(
        "{what}: terraform exited {:.2} s after SIGINT (exit code {})",
        took.as_secs_f64(),
        out.code
    );
    eprintln!("{}", out.stderr.trim());
    assert!(!out.success(), "{what}: the apply succeeded\n{out}");
    assert!(
        took < Duration::from_secs(8),
        "{what}: terraform exited {took:?} after SIGINT\n{out}"
    );
    out.assert_mentions_words(&["Cancelled: Terraform asked the provider to stop (Ctrl-C)"]);
    for bad in ["panic", "plugin crashed", "lock timeout"] {
        assert!(!out.words().contains(bad), "{what}: {bad:?} in\n{out}");
    }
    // The cancel reached the server before Terraform exited; the rest close with the process.
    assert_eq!(waiting_for_a_lock(pg), 0, "{what}: a backend still waits");
    assert!(
        eventually(Duration::from_secs(3), || ours(pg, "true") == 0),
        "{what}: backends of ours left:\n{}",
        pg.psql(
            "postgres",
            &format!(
                "SELECT pid, state, wait_event_type, query FROM pg_stat_activity \
                 WHERE application_name = '{APP}'"
            )
        )
    );
}

fn config(tag: &str, limit: i64) -> String {
    format!(
        r#"
resource "rdsiam_postgres_user" "u" {{
  name             = "stop_user_{tag}"
  iam_role         = "stop_iam_{tag}"
  connection_limit = {limit}
}}
resource "rdsiam_postgres_grant" "g" {{
  role        = "stop_reader_{tag}"
  database    = "postgres"
  object_type = "table"
  schema      = "public"
  objects     = ["stop_t_{tag}"]
  privileges  = ["SELECT"]
}}
"#
    )
}

/// One Terraform version: a create blocked on a locked table, then an update blocked on a
/// role another session altered; each interrupted, then converged.
fn ctrl_c_on(pg: &PgCluster, tf: &str, tag: &str) {
    pg.psql(
        "postgres",
        &format!(
            "CREATE TABLE public.stop_t_{tag} (x int); CREATE ROLE stop_reader_{tag}; \
             CREATE ROLE stop_iam_{tag};"
        ),
    );
    let (user, password) = pg.superuser();
    // One connection: while the GRANT waits, the user's reads wait for the pool too.
    let extra = format!(
        "    password        = {}\n    lock_timeout    = \"40s\"\n    max_connections = 1",
        hcl(password)
    );
    let ws = Workspace::new(tf, provider_bin());
    let write = |limit: i64| {
        ws.write(
            "main.tf",
            &format!(
                "{}{}\n",
                provider_block(pg, user, &extra),
                config(tag, limit)
            ),
        );
    };
    let holder = Holder::new(pg);
    let granted =
        format!("SELECT has_table_privilege('stop_reader_{tag}', 'public.stop_t_{tag}', 'SELECT')");

    // An open transaction that altered the table holds its catalog row: the GRANT waits.
    write(-1);
    holder.run(&format!(
        "BEGIN; ALTER TABLE public.stop_t_{tag} ADD COLUMN y int;"
    ));
    let (out, took) = interrupt(pg, start_apply(&ws));
    let what = format!("Terraform {tf}, create blocked on a table");
    assert_stopped(pg, &out, took, &what);
    out.assert_mentions_words(&["nothing was committed"]);
    assert_eq!(pg.psql("postgres", &granted), "f", "{what}: committed");
    holder.run("ROLLBACK");
    ws.ok(&["apply"]);
    ws.assert_no_changes();
    assert_eq!(pg.psql("postgres", &granted), "t");

    // An open transaction that altered the role: ALTER ROLE waits.
    holder.run(&format!(
        "BEGIN; ALTER ROLE stop_user_{tag} CONNECTION LIMIT 3;"
    ));
    write(5);
    let (out, took) = interrupt(pg, start_apply(&ws));
    let what = format!("Terraform {tf}, update blocked on a role");
    assert_stopped(pg, &out, took, &what);
    holder.run("ROLLBACK");
    let limit = format!("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'stop_user_{tag}'");
    assert_eq!(pg.psql("postgres", &limit), "-1", "{what}: committed");
    ws.ok(&["apply"]);
    ws.assert_no_changes();
    assert_eq!(pg.psql("postgres", &limit), "5");
    ws.ok(&["destroy"]);
}

#[test]
fn ctrl_c_ends_an_apply_blocked_on_a_lock() {
    let _watchdog = Watchdog::arm(
        "ctrl_c_ends_an_apply_blocked_on_a_lock",
        Duration::from_secs(600),
    );
    let pg = PgCluster::start("15");
    for (i, tf) in TF_VERSIONS.iter().enumerate() {
        ctrl_c_on(&pg, tf, &format!("v{i}"));
    }
}
