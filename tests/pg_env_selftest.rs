//! Self-test of the PostgreSQL test environment (tests/support/postgres.rs): clusters start for
//! every major in PG_MAJORS, TLS verifies against the test CA (psql and tokio-postgres +
//! rustls), the RDS-like admin can grant rds_iam without being a member, and clusters go away
//! with the test process. Needs `scripts/install-postgres.sh`.

use crate::support;

use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::postgres::{PG_MAJORS, PgCluster, process_dir, run_psql, shared, sweep_stale_dirs};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Whether `pid` is gone (or a zombie: an orphan whose new parent has not reaped it yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    process_gone(pid)
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )
    .is_ok()
}

#[test]
fn psql_connects_with_verify_full_and_rejects_a_wrong_host_name() {
    for major in PG_MAJORS {
        let pg = shared(major);
        let (user, password) = pg.superuser();
        let sql = "SELECT current_setting('server_version_num'), s.ssl, current_user \
                   FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid();";
        let out = pg.psql("postgres", sql);
        let cols: Vec<&str> = out.split('|').collect();
        assert!(
            cols[0].starts_with(major),
            "server_version_num {out:?} is not PostgreSQL {major}"
        );
        assert_eq!(&cols[1..], ["t", user], "PostgreSQL {major}: {out}");

        // The certificate also names 127.0.0.1 (IP SAN).
        let by_ip = run_psql(
            &pg.conninfo_host("127.0.0.1", "postgres", user),
            password,
            "SELECT 1;",
        );
        assert_eq!(by_ip.as_deref(), Ok("1"), "PostgreSQL {major}");

        let err = run_psql(
            &pg.conninfo_host("wronghost", "postgres", user),
            password,
            "SELECT 1;",
        )
        .expect_err("verify-full must reject a certificate not issued for `wronghost`");
        assert!(
            err.contains("does not match host name \"wronghost\""),
            "PostgreSQL {major}: {err}"
        );

        let err = pg
            .try_psql("postgres", user, "wrong-password", "SELECT 1;")
            .expect_err("a wrong password must fail");
        assert!(
            err.contains("password authentication failed"),
            "PostgreSQL {major}: {err}"
        );
    }
}

#[test]
fn tokio_postgres_with_rustls_verifies_the_test_ca() {
    let rt = runtime();
    for major in PG_MAJORS {
        let pg = shared(major);
        let (user, password) = pg.superuser();
        rt.block_on(async {
            // The working example: `PgCluster::connect` (rustls, aws-lc-rs, test CA only).
            let client = pg
                .connect("postgres", user, password)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL {major}: connect: {e:?}"));
            let row = client
                .query_one(
                    "SELECT s.ssl, s.version, current_setting('server_version_num') \
                     FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()",
                    &[],
                )
                .await
                .expect("query");
            assert!(row.get::<_, bool>(0), "PostgreSQL {major}: not over TLS");
            let tls_version: String = row.get(1);
            assert!(
                tls_version.starts_with("TLSv1."),
                "PostgreSQL {major}: {tls_version}"
            );
            assert!(row.get::<_, String>(2).starts_with(major));

            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(pg.rustls_config());
            let err = pg
                .tokio_config_host("wronghost", "postgres", user, password)
                .connect(tls)
                .await
                .err()
                .unwrap_or_else(|| panic!("PostgreSQL {major}: `wronghost` must be rejected"));
            let msg = format!("{err:?}");
            assert!(msg.contains("NotValidForName"), "PostgreSQL {major}: {msg}");

            // A trust store without the test CA rejects the server.
            let empty = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
            let err = pg
                .tokio_config_host(pg.host(), "postgres", user, password)
                .connect(tokio_postgres_rustls::MakeRustlsConnect::new(empty))
                .await
                .err()
                .unwrap_or_else(|| panic!("PostgreSQL {major}: unknown CA must be rejected"));
            let msg = format!("{err:?}");
            assert!(msg.contains("UnknownIssuer"), "PostgreSQL {major}: {msg}");
        });
    }
}

#[test]
fn rds_like_admin_grants_rds_iam_without_being_a_member() {
    for major in PG_MAJORS {
        let pg = shared(major);
        let admin = format!("selftest_admin_{major}");
        let user = format!("selftest_iam_user_{major}");
        let password = "admin-pw-1";
        pg.make_rds_like_admin(&admin, password);
        pg.make_rds_like_admin(&admin, password); // idempotent

        let attrs = pg.psql(
            "postgres",
            &format!(
                "SELECT rolsuper, rolcanlogin, rolcreaterole, rolcreatedb, \
                        pg_has_role(rolname, 'rds_superuser', 'USAGE') \
                 FROM pg_roles WHERE rolname = '{admin}';"
            ),
        );
        assert_eq!(attrs, "f|t|t|t|t", "PostgreSQL {major}: admin attributes");
        assert_eq!(
            pg.psql(
                "postgres",
                "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) \
                 FROM pg_roles WHERE rolname IN ('rds_iam', 'rds_superuser');"
            ),
            "rds_iam:false,rds_superuser:false"
        );
        assert!(
            !pg.admin_is_member_of(&admin, "rds_iam"),
            "PostgreSQL {major}: the admin must not be a member of rds_iam"
        );
        assert!(pg.admin_is_member_of(&admin, "rds_superuser"));
        // What the admin holds on rds_iam: an ADMIN-only row on 16+, nothing on 15.
        let rows = pg.psql(
            "postgres",
            &format!(
                "SELECT m.admin_option FROM pg_auth_members m \
                 WHERE m.roleid = 'rds_iam'::regrole AND m.member = '{admin}'::regrole;"
            ),
        );
        let expected = if major.parse::<u32>().unwrap() >= 16 {
            "t"
        } else {
            ""
        };
        assert_eq!(rows, expected, "PostgreSQL {major}: admin's rds_iam rows");

        // As the admin (password auth over TLS): create a login role, grant it rds_iam.
        pg.try_psql(
            "postgres",
            &admin,
            password,
            &format!("CREATE ROLE {user} LOGIN; GRANT rds_iam TO {user};"),
        )
        .unwrap_or_else(|e| panic!("PostgreSQL {major}: admin grants rds_iam: {e}"));
        assert!(
            pg.admin_is_member_of(&user, "rds_iam"),
            "PostgreSQL {major}: {user} must be a member of rds_iam"
        );
        assert!(!pg.admin_is_member_of(&admin, "rds_iam"));
        let err = pg
            .try_psql("postgres", &admin, password, "SET ROLE rds_iam;")
            .expect_err("the admin must not be able to SET ROLE rds_iam");
        assert!(
            err.contains("permission denied"),
            "PostgreSQL {major}: {err}"
        );

        pg.try_psql("postgres", &admin, password, &format!("DROP ROLE {user};"))
            .unwrap_or_else(|e| panic!("PostgreSQL {major}: admin drops its role: {e}"));
        pg.psql("postgres", &format!("DROP ROLE {admin};"));
        let left: Vec<String> = pg
            .roles()
            .into_iter()
            .filter(|r| r.starts_with("selftest_"))
            .collect();
        assert!(
            left.is_empty(),
            "PostgreSQL {major}: leftover roles {left:?}"
        );
    }
}

#[test]
fn roles_lists_only_non_system_roles() {
    for major in PG_MAJORS {
        let pg = shared(major);
        let name = format!("selftest_roles_{major}");
        pg.psql("postgres", &format!("CREATE ROLE {name};"));
        assert!(pg.roles().contains(&name), "PostgreSQL {major}");
        assert!(
            pg.roles()
                .iter()
                .all(|r| !r.starts_with("pg_") && !r.starts_with("rds_") && r != "postgres")
        );
        pg.psql("postgres", &format!("DROP ROLE {name};"));
        assert!(!pg.roles().contains(&name), "PostgreSQL {major}");
    }
}

#[test]
fn own_cluster_starts_fast_and_is_removed_on_drop() {
    for major in PG_MAJORS {
        let started = Instant::now();
        let pg = PgCluster::start(major);
        let took = started.elapsed();
        eprintln!("PostgreSQL {major}: cluster started in {took:?}");
        assert!(
            took < Duration::from_secs(20),
            "PostgreSQL {major}: {took:?}"
        );
        let (pid, port, dir) = (pg.pid(), pg.port(), pg.dir().to_path_buf());
        assert_eq!(pg.psql("postgres", "SELECT 40 + 2;"), "42");
        assert!(pg.roles().is_empty(), "fresh cluster: {:?}", pg.roles());
        assert!(pg.ca_path().is_file() && pg.ca_pem().contains("BEGIN CERTIFICATE"));
        drop(pg);
        assert!(
            process_gone(pid),
            "PostgreSQL {major}: postmaster {pid} still runs"
        );
        assert!(
            !accepts_connections(port),
            "PostgreSQL {major}: port {port} open"
        );
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
}

const CHILD_ENV: &str = "RDSIAM_PG_SELFTEST_CHILD";

/// Re-runs this test binary with only this test and CHILD_ENV set: the child starts a shared
/// cluster (a static, never dropped) and exits; its postmaster must stop on its own.
#[test]
fn shared_cluster_stops_when_the_test_process_exits() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let pg = shared(PG_MAJORS[0]);
        println!(
            "CHILD_CLUSTER pid={} port={} dir={}",
            pg.pid(),
            pg.port(),
            pg.dir().display()
        );
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    // The test's name in the harness: its module path without the crate name.
    let name = format!(
        "{}::shared_cluster_stops_when_the_test_process_exits",
        module_path!().split_once("::").map_or("", |(_, m)| m)
    );
    let out = Command::new(exe)
        .args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env_remove("RDSIAM_KEEP_TMP")
        .output()
        .expect("run child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD_CLUSTER ").map(|(_, rest)| rest.trim()))
        .unwrap_or_else(|| panic!("no CHILD_CLUSTER line in:\n{stdout}"));
    let field = |k: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {line}"))
            .to_string()
    };
    let pid: u32 = field("pid=").parse().unwrap();
    let port: u16 = field("port=").parse().unwrap();
    let dir = Path::new(&field("dir=")).to_path_buf();

    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "postmaster {pid} outlived its test process"
    );
    assert!(!accepts_connections(port), "port {port} still open");
    // SIGQUIT (not SIGKILL) shut it down: the postmaster removed its lock file itself.
    assert!(
        !dir.join("data/postmaster.pid").exists(),
        "postmaster.pid left behind in {}",
        dir.display()
    );
    // The child's directory is stale now; the sweep (run by every first cluster start) removes
    // it, and never this live process's directory.
    let _ = process_dir();
    let removed = sweep_stale_dirs();
    let child_dir = dir.parent().unwrap().to_path_buf();
    assert!(
        removed.contains(&child_dir) || !child_dir.exists(),
        "{} not swept",
        child_dir.display()
    );
    assert!(!child_dir.exists());
    assert!(process_dir().exists());
}
