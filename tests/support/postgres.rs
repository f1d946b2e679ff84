//! Throw-away PostgreSQL clusters for the database tests, started by the tests themselves from
//! the binaries `scripts/install-postgres.sh` puts in `<repo>/.tools/pg/<major>/bin`.
//!
//! Each cluster: `initdb` into its own directory under `/tmp/rdsiam-pg/<pid>-<start>/`, run as
//! Debian's unprivileged `postgres` user (initdb and postgres refuse root), listening on
//! 127.0.0.1 only on a random free port, with TLS (a fresh test CA and a server certificate for
//! `localhost` and 127.0.0.1) and scram-sha-256 password authentication over TCP.
//!
//! Clean-up: the postmaster is a direct child started through `setpriv --pdeathsig QUIT`, so it
//! gets SIGQUIT (immediate shutdown; its own children follow) when the test process exits, even
//! for the never-dropped [`shared`] clusters or a killed test run. A dropped [`PgCluster`] is
//! stopped and its directory removed at once; directories of dead test processes are removed
//! when the next test process starts its first cluster.
//!
//! `RDSIAM_KEEP_TMP=1` keeps the cluster directories (data, `postgres.log`, certificates).

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Server majors the database tests run against (oldest and newest installed by default).
pub const PG_MAJORS: &[&str] = &["15", "17"];

/// Parent of every test process's cluster directories.
pub const BASE_DIR: &str = "/tmp/rdsiam-pg";
/// The bootstrap superuser created by initdb.
const SUPERUSER: &str = "postgres";
/// The RDS-like master user the acceptance tests create with
/// [`PgCluster::make_rds_like_admin`] and log in as with [`Admin::RdsLike`].
pub const RDS_ADMIN: &str = "rds_like_admin";
/// [`RDS_ADMIN`]'s password.
pub const RDS_ADMIN_PASSWORD: &str = "rds-like-admin-pw";

/// The two kinds of admin the provider logs in as: the cluster's superuser, or an RDS-like
/// master user (CREATEROLE, not a superuser, not a usable member of `rds_iam`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admin {
    Superuser,
    RdsLike,
}

/// The user and password the provider logs in with.
pub struct Login {
    pub user: String,
    pub password: String,
}

/// The application_name the provider's connections carry (src/pg/connect.rs).
pub const PROVIDER_APP: &str = "terraform-provider-rdsiam";

/// The provider's SQL statements in a slice of the server log, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statements {
    pub total: usize,
    /// Catalog snapshot loads.
    pub snapshots: usize,
    /// `rdsiam_postgres_user` reads: one query per user, not snapshot-backed.
    pub user_reads: usize,
}

impl Statements {
    /// Counts the statements of connections named [`PROVIDER_APP`] in `log`, a server log
    /// written with `log_statement = 'all'` and `log_line_prefix` ending in `app=%a `.
    pub fn count(log: &str) -> Statements {
        use terraform_provider_rdsiam::pg::catalog::SNAPSHOT_MARKER;
        let app = format!("app={PROVIDER_APP} ");
        let snapshot = SNAPSHOT_MARKER
            .trim_start_matches("/* ")
            .trim_end_matches(" */");
        let mut c = Statements::default();
        for line in log.lines().filter(|l| l.contains(&app)) {
            let Some((_, msg)) = line.split_once("LOG:  ") else {
                continue;
            };
            // Simple protocol: "statement: …"; extended protocol: "execute <name>: …".
            if !(msg.starts_with("statement: ") || msg.starts_with("execute ")) {
                continue;
            }
            c.total += 1;
            if msg.contains(snapshot) {
                c.snapshots += 1;
            } else if msg.contains("rolconnlimit") {
                c.user_reads += 1;
            }
        }
        c
    }

    /// Neither snapshots nor user reads (version checks and the like).
    pub fn other(&self) -> usize {
        self.total - self.snapshots - self.user_reads
    }

    /// Everything but the users' reads.
    pub fn grant_side(&self) -> usize {
        self.total - self.user_reads
    }
}

/// [`super::provider_config`] logging in to `pg` as `user` with verify-full TLS against the
/// cluster's CA; `extra` are more (indented) lines of the `postgres` block.
pub fn provider_block(pg: &PgCluster, user: &str, extra: &str) -> String {
    provider_block_aws(pg, "", user, extra)
}

/// [`provider_block`] with an `aws { region }` block unless `region` is empty (for `iam_auth`).
pub fn provider_block_aws(pg: &PgCluster, region: &str, user: &str, extra: &str) -> String {
    let hcl = super::hcl;
    super::provider_config(
        region,
        &format!(
            "    host        = \"localhost\"\n    port        = {port}\n    username    = {user}\n    \
             sslmode     = \"verify-full\"\n    sslrootcert = {ca}\n{extra}",
            port = pg.port(),
            user = hcl(user),
            ca = hcl(&pg.ca_path().to_string_lossy()),
        ),
    )
}

/// OS user the server runs as when the tests run as root.
const OS_USER: &str = "postgres";

/// One running throw-away cluster. Stopped (immediate shutdown) and deleted on drop.
pub struct PgCluster {
    major: String,
    dir: PathBuf,
    port: u16,
    pid: u32,
    password: String,
    ca_pem: String,
    ca_der: Vec<u8>,
    /// Receives the postmaster's exit status from the thread that spawned and waits for it.
    exited: Mutex<mpsc::Receiver<ExitStatus>>,
    /// Serializes [`PgCluster::make_rds_like_admin`] (its CREATE ROLE checks would race).
    admin_lock: Mutex<()>,
}

/// The cluster of `major` shared by every test of the calling source file (one suite),
/// started on first use. Per file, not per process: the suites are modules of one test binary
/// and use the same database and role names, so each keeps the cluster it had as a binary.
///
/// Tests run in parallel against it: use role and database names unique to the test (e.g.
/// prefixed with the test name) and drop what you create. Never dropped: the postmaster stops
/// when the test process exits (see the module docs).
#[track_caller]
pub fn shared(major: &str) -> &'static PgCluster {
    type Cells = Mutex<HashMap<(&'static str, String), &'static OnceLock<PgCluster>>>;
    static CELLS: OnceLock<Cells> = OnceLock::new();
    let suite = std::panic::Location::caller().file();
    let cell = {
        let mut map = lock(CELLS.get_or_init(Default::default));
        *map.entry((suite, major.to_string()))
            .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
    };
    // Outside the map lock: different majors start in parallel.
    cell.get_or_init(|| PgCluster::start(major))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn keep_tmp() -> bool {
    std::env::var("RDSIAM_KEEP_TMP").is_ok_and(|v| v == "1")
}

/// `<repo>/.tools/pg/<major>/bin`; panics with install instructions if the server is missing.
pub fn bin_dir(major: &str) -> PathBuf {
    let dir = super::tools_dir().join("pg").join(major).join("bin");
    for b in ["initdb", "postgres"] {
        if !dir.join(b).is_file() {
            panic!(
                "PostgreSQL {major} server binaries not found in {} (no {b}).\n\
                 Install them by running, from the repository root:\n\n    \
                 scripts/install-postgres.sh {major}\n",
                dir.display()
            );
        }
    }
    dir
}

/// The psql client: Debian's (any major talks to every server major), else `psql` on PATH.
pub fn psql_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin/psql"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop().unwrap_or_else(|| PathBuf::from("psql"))
    })
    .clone()
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// uid and gid of the `postgres` OS user.
fn os_user_ids() -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == OS_USER).then(|| (f[2].parse().ok(), f[3].parse().ok()))
        })
        .and_then(|(u, g)| Some((u?, g?)))
        .unwrap_or_else(|| {
            panic!("no `{OS_USER}` OS user: the tests run PostgreSQL as it when run as root (initdb refuses root); scripts/install-postgres.sh installs Debian's postgresql package, which creates it")
        })
}

/// Give a path to the server's OS user (only needed, and only possible, as root).
fn give_to_server(path: &Path) {
    if is_root() {
        let (uid, gid) = os_user_ids();
        chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }
}

/// `setpriv [--reuid postgres ...] [--pdeathsig QUIT] -- <program>`: drops root for
/// initdb/postgres. With `pdeathsig` the kernel sends SIGQUIT to the program when the thread
/// that spawned it exits (setpriv sets it after changing user, so it survives the change).
fn server_command(program: &Path, pdeathsig: bool) -> Command {
    let mut cmd = Command::new("setpriv");
    if is_root() {
        cmd.args([
            &format!("--reuid={OS_USER}"),
            &format!("--regid={OS_USER}"),
            "--init-groups",
        ]);
    }
    if pdeathsig {
        cmd.args(["--pdeathsig", "QUIT"]);
    }
    cmd.arg("--").arg(program);
    // A clean environment: no PG* variables or locale surprises from the caller.
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LC_ALL", "C");
    cmd
}

/// Start time (clock ticks since boot) of `pid`, to tell a live process from a reused pid.
fn proc_start_time(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the fields after the `)` closing the command name start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Remove the cluster directories of test processes that are gone (their postmasters got
/// SIGQUIT when they exited). Directories holding a `KEEP` file (`RDSIAM_KEEP_TMP=1`) stay.
/// Returns the directories removed.
pub fn sweep_stale_dirs() -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(BASE_DIR).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((pid, start)) = name.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let alive = proc_start_time(pid).as_deref() == Some(start);
        if !alive && !entry.path().join("KEEP").exists() && fs::remove_dir_all(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed
}

/// This process's directory, `/tmp/rdsiam-pg/<pid>-<start time>`; sweeps stale ones first.
pub fn process_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        fs::create_dir_all(BASE_DIR).unwrap_or_else(|e| panic!("create {BASE_DIR}: {e}"));
        sweep_stale_dirs();
        let pid = std::process::id();
        let start = proc_start_time(pid).expect("read /proc/self/stat");
        let dir = Path::new(BASE_DIR).join(format!("{pid}-{start}"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        // The server's OS user must reach its cluster directory below this one.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod process dir");
        if keep_tmp() {
            fs::write(dir.join("KEEP"), "RDSIAM_KEEP_TMP=1\n").expect("write KEEP");
        }
        dir
    })
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A port nobody listens on right now (the server may still lose a race for it: retried).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Quote an SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quote an SQL string literal (standard_conforming_strings is on).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quote a libpq connection-string value.
fn conninfo_value(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

struct Certs {
    ca_pem: String,
    ca_der: Vec<u8>,
    server_pem: String,
    server_key_pem: String,
}

/// A fresh test CA and a server certificate for `localhost` and 127.0.0.1 signed by it.
fn make_certs() -> Certs {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "rdsiam test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().expect("server key");
    // `new` turns "127.0.0.1" into an IP address SAN.
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).expect("sign server cert");
    Certs {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        server_pem: cert.pem(),
        server_key_pem: key.serialize_pem(),
    }
}

/// Run psql (`-X -A -t -q -v ON_ERROR_STOP=1`) on `conninfo` with `sql` on stdin: trimmed
/// stdout, or stderr (with the exit status) on failure.
pub fn run_psql(conninfo: &str, password: &str, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new(psql_bin());
    cmd.args([
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "-",
        "-d",
    ])
    .arg(conninfo);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", psql_bin().display()));
    let mut stdin = child.stdin.take().expect("psql stdin");
    let sql = sql.to_string();
    // A thread, so a large result can't deadlock against our write.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(sql.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for psql");
    let _ = writer.join();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "psql ({}) failed: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

impl PgCluster {
    /// Start a fresh cluster of `major` (e.g. "15", "17"). Panics with a clear message (naming
    /// `scripts/install-postgres.sh` if the binaries are missing) when it can't.
    pub fn start(major: &str) -> PgCluster {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir(major);
        let dir = process_dir().join(format!(
            "pg{major}-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod cluster dir");
        give_to_server(&dir);

        let certs = make_certs();
        let write = |name: &str, content: &str, mode: u32| {
            let path = dir.join(name);
            fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            give_to_server(&path);
            path
        };
        write("ca.pem", &certs.ca_pem, 0o644);
        write("server.crt", &certs.server_pem, 0o644);
        // The server refuses a key readable by others.
        write("server.key", &certs.server_key_pem, 0o600);

        let password = random_hex(16);
        let pwfile = write("superuser.pw", &format!("{password}\n"), 0o600);
        let data = dir.join("data");
        let out = server_command(&bin.join("initdb"), false)
            .current_dir(&dir)
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--no-sync"])
            .args(["-E", "UTF8", "--locale=C"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb via setpriv");
        let _ = fs::remove_file(&pwfile);
        if !out.status.success() {
            panic!(
                "initdb for PostgreSQL {major} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // Local socket: the directory is private to root and the server user. TCP: passwords
        // only; `host` (not just `hostssl`) so tests can also try sslmode=disable.
        fs::write(
            data.join("pg_hba.conf"),
            "local   all all              trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             host    all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("write pg_hba.conf");
        let d = dir.display();
        let conf = format!(
            "\n# rdsiam test settings\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{d}'\n\
             ssl = on\n\
             ssl_cert_file = '{d}/server.crt'\n\
             ssl_key_file = '{d}/server.key'\n\
             password_encryption = 'scram-sha-256'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             wal_level = minimal\n\
             max_wal_senders = 0\n\
             autovacuum = off\n\
             shared_buffers = 32MB\n\
             max_connections = 100\n\
             jit = off\n"
        );
        fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .expect("append to postgresql.conf");

        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            match spawn_postmaster(&bin, &dir, &data, port) {
                Ok((pid, exited)) => {
                    return PgCluster {
                        major: major.to_string(),
                        dir,
                        port,
                        pid,
                        password,
                        ca_pem: certs.ca_pem,
                        ca_der: certs.ca_der,
                        exited: Mutex::new(exited),
                        admin_lock: Mutex::new(()),
                    };
                }
                // Lost the race for the port to another process: try another one.
                Err(log) if log.contains("could not bind") || log.contains("already in use") => {
                    last_log = log;
                }
                Err(log) => panic!("PostgreSQL {major} did not start:\n{log}"),
            }
        }
        panic!("PostgreSQL {major} did not start (no free port after 5 tries):\n{last_log}");
    }

    pub fn major(&self) -> &str {
        &self.major
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host name the server certificate is for (connect to 127.0.0.1 with it as `host`).
    pub fn host(&self) -> &str {
        "localhost"
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The cluster's directory (data/, postgres.log, certificates, socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    /// The test CA that signed the server certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The test CA, DER (for a rustls `RootCertStore`).
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_der.clone()
    }

    /// A file holding [`ca_pem`](Self::ca_pem), for libpq's `sslrootcert`.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The bootstrap superuser's login and password.
    pub fn superuser(&self) -> (&str, &str) {
        (SUPERUSER, &self.password)
    }

    /// libpq connection string (no password) reaching 127.0.0.1 and verifying the server
    /// certificate against the test CA for the name `host` (`sslmode=verify-full`).
    pub fn conninfo_host(&self, host: &str, db: &str, user: &str) -> String {
        format!(
            "host={} hostaddr=127.0.0.1 port={} dbname={} user={} sslmode=verify-full sslrootcert={}",
            conninfo_value(host),
            self.port,
            conninfo_value(db),
            conninfo_value(user),
            conninfo_value(&self.ca_path().to_string_lossy()),
        )
    }

    /// [`conninfo_host`](Self::conninfo_host) for `localhost`.
    pub fn conninfo(&self, db: &str, user: &str) -> String {
        self.conninfo_host(self.host(), db, user)
    }

    /// Run `sql` in `db` as the superuser; trimmed stdout (`-A -t`: one row a line, columns
    /// separated by `|`). Panics with psql's stderr and the server log tail on failure.
    #[track_caller]
    /// Whether a role of that exact name exists.
    pub fn role_exists(&self, role: &str) -> bool {
        let sql = format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = {}",
            quote_literal(role)
        );
        self.psql("postgres", &sql) == "1"
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        let (user, password) = self.superuser();
        self.try_psql(db, user, password, sql)
            .unwrap_or_else(|e| panic!("{e}\nSQL:\n{sql}\n{}", self.log_tail()))
    }

    /// Run `sql` in `db` as `user` over TLS (verify-full).
    pub fn try_psql(
        &self,
        db: &str,
        user: &str,
        password: &str,
        sql: &str,
    ) -> Result<String, String> {
        run_psql(&self.conninfo(db, user), password, sql)
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "----- server log (last lines) -----\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }

    /// rustls client configuration trusting only the test CA (aws-lc-rs provider).
    pub fn rustls_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(self.ca_der()))
            .expect("add test CA to RootCertStore");
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
    }

    /// tokio-postgres configuration: TCP to 127.0.0.1, TLS required and verified for `host`
    /// (rustls always checks the name: the equivalent of libpq's verify-full).
    pub fn tokio_config_host(
        &self,
        host: &str,
        db: &str,
        user: &str,
        password: &str,
    ) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(host)
            .hostaddr(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .port(self.port)
            .dbname(db)
            .user(user)
            .password(password)
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// Connect with tokio-postgres + rustls (verified for `localhost`); the connection task is
    /// spawned on the current tokio runtime.
    pub async fn connect(
        &self,
        db: &str,
        user: &str,
        password: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.rustls_config());
        let (client, connection) = self
            .tokio_config_host(self.host(), db, user, password)
            .connect(tls)
            .await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// How the provider logs in as `admin`. Creates [`RDS_ADMIN`] (and `rds_iam`,
    /// `rds_superuser`, which the superuser case needs too) either way.
    pub fn login(&self, admin: Admin) -> Login {
        self.make_rds_like_admin(RDS_ADMIN, RDS_ADMIN_PASSWORD);
        let (user, password) = match admin {
            Admin::Superuser => self.superuser(),
            Admin::RdsLike => (RDS_ADMIN, RDS_ADMIN_PASSWORD),
        };
        Login {
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// Create (idempotently) an RDS-like master user `name`: LOGIN, CREATEROLE, CREATEDB, not a
    /// superuser, member of the NOLOGIN group `rds_superuser`; also creates the NOLOGIN role
    /// `rds_iam`. On 16+ (where CREATEROLE may only grant roles held WITH ADMIN OPTION) it holds
    /// `rds_iam` WITH ADMIN OPTION, INHERIT FALSE, SET FALSE: it can grant the role but is not
    /// a usable member. On 15 and older CREATEROLE alone lets it grant `rds_iam`: no grant.
    pub fn make_rds_like_admin(&self, name: &str, password: &str) {
        let _guard = lock(&self.admin_lock);
        let (id, lit) = (quote_ident(name), quote_literal(name));
        let mut sql = format!(
            "DO $$ BEGIN\n\
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_superuser') THEN\n\
                 CREATE ROLE rds_superuser NOLOGIN;\n\
               END IF;\n\
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN\n\
                 CREATE ROLE rds_iam NOLOGIN;\n\
               END IF;\n\
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {lit}) THEN\n\
                 CREATE ROLE {id};\n\
               END IF;\n\
             END $$;\n\
             ALTER ROLE {id} WITH LOGIN NOSUPERUSER CREATEROLE CREATEDB NOREPLICATION NOBYPASSRLS PASSWORD {pw};\n\
             GRANT rds_superuser TO {id};\n",
            pw = quote_literal(password),
        );
        if self.major_num() >= 16 {
            sql.push_str(&format!(
                "GRANT rds_iam TO {id} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;\n"
            ));
        }
        self.psql("postgres", &sql);
    }

    fn major_num(&self) -> u32 {
        self.major.parse().expect("numeric major")
    }

    /// Whether `admin` is a usable member of `role`: a pg_auth_members row for it that confers
    /// membership (any row on 15 and older; on 16+ one with INHERIT or SET, so the ADMIN-only
    /// row of [`make_rds_like_admin`](Self::make_rds_like_admin) does not count), or
    /// `pg_has_role(admin, role, 'USAGE')` (or `'SET'` on 16+). False if either role is missing.
    pub fn admin_is_member_of(&self, admin: &str, role: &str) -> bool {
        let (a, r) = (quote_literal(admin), quote_literal(role));
        let (row_confers, set_check) = if self.major_num() >= 16 {
            (
                "AND (m.inherit_option OR m.set_option)",
                format!("OR pg_has_role({a}, {r}, 'SET')"),
            )
        } else {
            ("", String::new())
        };
        let sql = format!(
            "SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {a})\n\
                          OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {r}) THEN false\n\
                     ELSE EXISTS (SELECT FROM pg_auth_members m\n\
                                  JOIN pg_roles rr ON rr.oid = m.roleid\n\
                                  JOIN pg_roles mr ON mr.oid = m.member\n\
                                  WHERE rr.rolname = {r} AND mr.rolname = {a} {row_confers})\n\
                          OR pg_has_role({a}, {r}, 'USAGE') {set_check} END;"
        );
        match self.psql("postgres", &sql).as_str() {
            "t" => true,
            "f" => false,
            other => panic!("admin_is_member_of: unexpected psql output {other:?}"),
        }
    }

    /// Non-system roles: all but `pg_*`, `rds_*` and the bootstrap superuser, sorted. For
    /// checking that no test leaves roles behind.
    pub fn roles(&self) -> Vec<String> {
        let sql = format!(
            "SELECT rolname FROM pg_roles WHERE rolname !~ '^(pg|rds)_' AND rolname <> {} ORDER BY 1;",
            quote_literal(SUPERUSER)
        );
        self.psql("postgres", &sql)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Panics listing the [`roles`](Self::roles) left in the cluster but those `kept` allows:
    /// tests drop the roles they create.
    #[track_caller]
    pub fn assert_no_roles_left(&self, kept: impl Fn(&str) -> bool) {
        let left: Vec<String> = self.roles().into_iter().filter(|r| !kept(r)).collect();
        assert!(
            left.is_empty(),
            "pg{}: roles left behind: {left:?}",
            self.major
        );
    }

    /// `pg_ctl restart -m fast`: SIGINT (sessions end, open transactions roll back, a
    /// checkpoint is written), wait for the exit, start again on the same port and wait until
    /// it accepts connections. Returns how long the server was down.
    pub fn restart(&mut self) -> Duration {
        let down = Instant::now();
        {
            let exited = lock(&self.exited);
            let _ = Command::new("kill")
                .args(["-s", "INT", &self.pid.to_string()])
                .status();
            if exited.recv_timeout(Duration::from_secs(60)).is_err() {
                panic!(
                    "PostgreSQL {} (pid {}) did not stop within 60 s\n{}",
                    self.major,
                    self.pid,
                    self.log_tail()
                );
            }
        }
        let bin = bin_dir(&self.major);
        let data = self.dir.join("data");
        let (pid, exited) = spawn_postmaster(&bin, &self.dir, &data, self.port)
            .unwrap_or_else(|log| panic!("PostgreSQL {} did not restart:\n{log}", self.major));
        self.pid = pid;
        self.exited = Mutex::new(exited);
        down.elapsed()
    }

    /// Ends every backend whose application_name is `application` (`pg_terminate_backend`);
    /// how many, or psql's error (e.g. while the server restarts).
    pub fn terminate_backends(&self, application: &str) -> Result<usize, String> {
        let (user, password) = self.superuser();
        self.try_psql(
            "postgres",
            user,
            password,
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = {} AND pid <> pg_backend_pid()",
                quote_literal(application)
            ),
        )
        .map(|n| n.parse().unwrap_or(0))
    }

    /// Immediate shutdown (SIGQUIT, as `pg_ctl stop -m immediate`), waiting for the exit.
    fn stop(&self) {
        let exited = lock(&self.exited);
        // Already exited (and reaped: its pid may be reused), nothing to signal.
        if exited.try_recv().is_ok() {
            return;
        }
        for (signal, wait) in [("QUIT", 15), ("KILL", 5)] {
            let _ = Command::new("kill")
                .args(["-s", signal, &self.pid.to_string()])
                .stderr(Stdio::null())
                .status();
            if exited.recv_timeout(Duration::from_secs(wait)).is_ok() {
                return;
            }
        }
        eprintln!("PostgreSQL {} (pid {}) did not stop", self.major, self.pid);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
        if keep_tmp() {
            eprintln!(
                "RDSIAM_KEEP_TMP=1: keeping PostgreSQL cluster directory {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Start `postgres` in the foreground from a dedicated thread that then waits for it: the
/// parent-death signal fires when the spawning *thread* exits, so that thread must live as long
/// as the server (it does; at process exit it dies and the server gets SIGQUIT). Returns the
/// pid and the exit-status channel once the server is ready, or the server log.
fn spawn_postmaster(
    bin: &Path,
    dir: &Path,
    data: &Path,
    port: u16,
) -> Result<(u32, mpsc::Receiver<ExitStatus>), String> {
    let log_path = dir.join("postgres.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("open postgres.log");
    let mut cmd = server_command(&bin.join("postgres"), true);
    cmd.current_dir(dir)
        .arg("-D")
        .arg(data)
        .arg("-c")
        .arg(format!("port={port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log fd"))
        .stderr(log);
    let (pid_tx, pid_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("postmaster-{port}"))
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id()));
                if let Ok(status) = child.wait() {
                    let _ = exit_tx.send(status);
                }
            }
            Err(e) => {
                let _ = pid_tx.send(Err(format!("spawn setpriv/postgres: {e}")));
            }
        })
        .expect("spawn postmaster thread");
    let pid = pid_rx.recv().expect("postmaster thread")?;

    // postmaster.pid's 8th line becomes "ready" once it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pidfile = data.join("postmaster.pid");
    loop {
        if let Ok(status) = exit_rx.try_recv() {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("postgres exited ({status}):\n{log}"));
        }
        let ready = fs::read_to_string(&pidfile)
            .is_ok_and(|s| s.lines().nth(7).is_some_and(|l| l.trim() == "ready"));
        if ready {
            return Ok((pid, exit_rx));
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .status();
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("postgres not ready after 30 s:\n{log}"));
        }
        thread::sleep(Duration::from_millis(10));
    }
}
