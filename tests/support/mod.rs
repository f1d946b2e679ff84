//! Acceptance-test harness: runs real Terraform CLIs (installed by `scripts/install-tools.sh`
//! into `<repo>/.tools/bin/terraform-<version>`) against a throw-away working directory.
//!
//! The one support module of every suite (`mod support;` in tests/integration.rs) and bench
//! (`#[path = "../tests/support/mod.rs"] mod support;`): Terraform workspaces, provider
//! configurations, PostgreSQL clusters, moto, fixtures. A bench uses only part of it, hence the
//! `dead_code` allowances.
//!
//! Debugging knobs (environment of `cargo test`):
//! * `RDSIAM_KEEP_TMP=1`: keep each workspace's temp dir and print its path.
//! * `RDSIAM_TF_LOG=<level>`: pass `TF_LOG=<level>` to every Terraform run (logs go to stderr,
//!   which is included in every panic message of `ok`/`fails`).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[allow(dead_code)]
pub mod catalog;
pub mod iam_front;
#[allow(dead_code)]
pub mod moto;
#[allow(dead_code)]
pub mod postgres;
#[allow(dead_code)]
pub mod watchdog;

/// Terraform versions the acceptance tests run against (newest and oldest supported).
pub const TF_VERSIONS: &[&str] = &["1.15.5", "1.0.3"];

/// Provider source address used in `dev_overrides` / the filesystem mirror.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/rdsiam/rdsiam";
/// Provider binary base name Terraform looks for.
pub const PROVIDER_BIN_NAME: &str = "terraform-provider-rdsiam";

/// `<CARGO_MANIFEST_DIR>`, the repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `<repo>/.tools`, where `scripts/install-tools.sh` installs the test tools.
pub fn tools_dir() -> PathBuf {
    repo_root().join(".tools")
}

/// `<repo>/.tools/venv/bin/<name>`: python, moto_server, aws (`scripts/install-tools.sh`).
pub fn venv_bin(name: &str) -> PathBuf {
    tools_dir().join("venv").join("bin").join(name)
}

/// Path of the Terraform CLI for `version`; panics with install instructions if missing.
pub fn terraform(version: &str) -> PathBuf {
    let path = tools_dir().join("bin").join(format!("terraform-{version}"));
    if !path.is_file() {
        panic!(
            "Terraform {version} not found at {}.\n\
             Install the test tools by running, from the repository root:\n\n    \
             scripts/install-tools.sh\n",
            path.display()
        );
    }
    path
}

/// The provider binary Cargo built for this test or bench (under `cargo bench`, the release
/// build).
pub fn provider_bin() -> &'static Path {
    Path::new(PROVIDER_BIN)
}

/// [`provider_bin`] as a string, for argument lists.
pub const PROVIDER_BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-rdsiam");

/// One `#[test]` per PostgreSQL major calling the same scenario:
/// `per_major!(scenario: scenario_pg13 = "13", scenario_pg15 = "15");`
#[macro_export]
macro_rules! per_major {
    ($f:ident: $($name:ident = $major:literal),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $f($major);
            }
        )+
    };
}

/// The `terraform` block every configuration of the provider starts with, as a literal for
/// `concat!` in constant configurations (else use [`REQUIRED_PROVIDERS`]).
#[macro_export]
macro_rules! required_providers {
    () => {
        "terraform {\n  required_providers {\n    rdsiam = { source = \"rdsiam/rdsiam\" }\n  }\n}\n"
    };
}

/// `data.rdsiam_policy_document.app`: `app_service` on cluster-ABC123 in eu-west-1, which
/// needs neither AWS nor a database; a literal for `concat!`.
#[macro_export]
macro_rules! app_policy_document {
    () => {
        r#"
data "rdsiam_policy_document" "app" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = "cluster-ABC123"
  db_users    = ["app_service"]
}
"#
    };
}

/// The `terraform` block every configuration of the provider starts with.
pub const REQUIRED_PROVIDERS: &str = required_providers!();

/// A `provider "rdsiam"` block whose database nothing listens on (port 1), for configurations
/// that must fail at plan time, before any connection.
pub const UNREACHABLE_PROVIDER: &str = r#"provider "rdsiam" {
  postgres {
    host     = "localhost"
    port     = 1
    username = "nobody"
  }
}
"#;

/// `plan` of [`REQUIRED_PROVIDERS`] and `config` on the newest Terraform, which must fail; its
/// output.
#[track_caller]
pub fn failed_plan(config: &str) -> Output {
    let ws = Workspace::new(TF_VERSIONS[0], provider_bin());
    ws.write("main.tf", &format!("{REQUIRED_PROVIDERS}{config}"));
    ws.fails(&["plan"])
}

/// [`REQUIRED_PROVIDERS`] and a `provider "rdsiam"` block: an `aws { region }` block unless
/// `region` is empty, then a `postgres` block of the (indented) lines `postgres`.
pub fn provider_config(region: &str, postgres: &str) -> String {
    let aws = if region.is_empty() {
        String::new()
    } else {
        format!("  aws {{\n    region = {}\n  }}\n", hcl(region))
    };
    format!(
        "{REQUIRED_PROVIDERS}provider \"rdsiam\" {{\n{aws}  postgres {{\n{postgres}\n  }}\n}}\n"
    )
}

/// `users` `rdsiam_postgres_user.u` named by the HCL expression `name` (of the index `i`), each
/// with four grants on database `db`: CONNECT, USAGE on schema public, SELECT on every table
/// of public and INSERT, UPDATE on t1 and t2 (with tables t1-t3: 7 table privileges a user).
pub fn users_with_four_grants(users: usize, name: &str, db: &str) -> String {
    format!(
        r#"locals {{
  users = [for i in range({users}) : {name}]
}}
resource "rdsiam_postgres_user" "u" {{
  for_each = toset(local.users)
  name     = each.value
}}
resource "rdsiam_postgres_grant" "connect" {{
  for_each    = rdsiam_postgres_user.u
  role        = each.value.name
  database    = {db}
  object_type = "database"
  privileges  = ["CONNECT"]
}}
resource "rdsiam_postgres_grant" "usage" {{
  for_each    = rdsiam_postgres_user.u
  role        = each.value.name
  database    = {db}
  object_type = "schema"
  schema      = "public"
  privileges  = ["USAGE"]
}}
resource "rdsiam_postgres_grant" "read" {{
  for_each    = rdsiam_postgres_user.u
  role        = each.value.name
  database    = {db}
  object_type = "table"
  schema      = "public"
  privileges  = ["SELECT"]
}}
resource "rdsiam_postgres_grant" "write" {{
  for_each    = rdsiam_postgres_user.u
  role        = each.value.name
  database    = {db}
  object_type = "table"
  schema      = "public"
  objects     = ["t1", "t2"]
  privileges  = ["INSERT", "UPDATE"]
}}
"#,
        db = hcl(db),
    )
}

/// Every member of a saved plan (a zip) as text, to search for secrets.
pub fn plan_file_text(path: &Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist():\n    sys.stdout.write(z.read(n).decode('utf-8', 'replace'))",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies the tree `from` to `to`, leaving out every entry whose file name `skip` is true for.
pub fn copy_dir(from: &Path, to: &Path, skip: &dyn Fn(&str) -> bool) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir").flatten() {
        if skip(&e.file_name().to_string_lossy()) {
            continue;
        }
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest, skip);
        } else {
            fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// Kills the child however the test ends.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a bench runs in full (`cargo bench` passes `--bench`) rather than as the quick check
/// `cargo test --all-targets` runs.
pub fn full_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Prints a bench's verdict, `PASS: <claim> (<seconds> s in all)` or `FAIL: …`; returns `pass`.
pub fn verdict(pass: bool, claim: &str, started: std::time::Instant) -> bool {
    println!(
        "\n{}: {claim} ({:.1} s in all)",
        if pass { "PASS" } else { "FAIL" },
        started.elapsed().as_secs_f64()
    );
    pass
}

/// A bench's size: the positive number in the environment variable `var`, else `full` for a
/// [`full_bench`] and `quick` for the quick check.
pub fn bench_size(var: &str, full: usize, quick: usize) -> usize {
    match std::env::var(var) {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{var}={v:?} is not a positive number")),
        Err(_) if full_bench() => full,
        Err(_) => quick,
    }
}

/// Result of one Terraform run.
#[derive(Debug, Clone)]
pub struct Output {
    /// The arguments Terraform was run with (for messages).
    pub args: Vec<String>,
    /// Exit code; -1 if the process was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// stdout followed by stderr.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics (with the full output) unless the exit code is 0.
    #[track_caller]
    pub fn assert_ok(self) -> Self {
        if self.code != 0 {
            panic!(
                "terraform exited with {}, expected success\n{self}",
                self.code
            );
        }
        self
    }

    /// Panics (with the full output) if the exit code is 0.
    #[track_caller]
    pub fn assert_fails(self) -> Self {
        if self.code == 0 {
            panic!("terraform succeeded, expected a failure\n{self}");
        }
        self
    }

    /// [`combined`](Self::combined) with every run of white space folded to one space:
    /// Terraform wraps long diagnostics.
    pub fn words(&self) -> String {
        self.combined()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Panics (with the full output) naming the first of `needles` that stdout followed by
    /// stderr lacks.
    #[track_caller]
    pub fn assert_mentions(&self, needles: &[&str]) -> &Self {
        self.assert_all_in(&self.combined(), needles)
    }

    /// [`assert_mentions`](Self::assert_mentions) on [`words`](Self::words).
    #[track_caller]
    pub fn assert_mentions_words(&self, needles: &[&str]) -> &Self {
        self.assert_all_in(&self.words(), needles)
    }

    #[track_caller]
    fn assert_all_in(&self, text: &str, needles: &[&str]) -> &Self {
        if let Some(needle) = needles.iter().find(|n| !text.contains(**n)) {
            panic!("{needle:?} missing from the output\n{self}");
        }
        self
    }

    /// Unless the exit code is one of `ok`: prints the output and returns the problem for a
    /// bench to report.
    pub fn unexpected_exit(&self, ok: &[i32]) -> Option<String> {
        if ok.contains(&self.code) {
            return None;
        }
        eprintln!("{self}");
        Some(format!(
            "terraform {} exited with {} (expected {ok:?}; output above)",
            self.args.join(" "),
            self.code
        ))
    }

    /// Panics unless stdout or stderr contains `needle`.
    #[track_caller]
    pub fn assert_contains(&self, needle: &str) -> &Self {
        if !self.stdout.contains(needle) && !self.stderr.contains(needle) {
            panic!("terraform output does not contain {needle:?}\n{self}");
        }
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "$ terraform {}  (exit code {})",
            self.args.join(" "),
            self.code
        )?;
        writeln!(f, "----- stdout -----\n{}", self.stdout)?;
        write!(f, "----- stderr -----\n{}", self.stderr)
    }
}

/// A temporary Terraform working directory with its own CLI configuration.
pub struct Workspace {
    dir: tempfile::TempDir,
    tf: PathBuf,
    tf_version: String,
    cli_config: PathBuf,
    /// Extra environment applied to every run (see [`Workspace::set_env`]).
    env: Vec<(String, String)>,
}

/// `s` as an HCL string literal (`${`/`%{` escaped, so it is never a template).
pub fn hcl(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().expect("current dir").join(p)
    }
}

fn keep_tmp() -> bool {
    std::env::var("RDSIAM_KEEP_TMP").is_ok_and(|v| v == "1")
}

/// Subcommands that accept `-no-color`.
const NO_COLOR_CMDS: &[&str] = &[
    "apply", "plan", "destroy", "validate", "output", "show", "import", "init", "refresh",
];
/// Subcommands that need `-auto-approve` to run unattended.
const AUTO_APPROVE_CMDS: &[&str] = &["apply", "destroy"];

impl Workspace {
    fn create(tf_version: &str) -> (tempfile::TempDir, PathBuf) {
        let tf = terraform(tf_version);
        let mut dir = tempfile::Builder::new()
            .prefix(&format!("rdsiam-tf{tf_version}-"))
            .tempdir()
            .expect("create temp dir");
        if keep_tmp() {
            dir.disable_cleanup(true);
            eprintln!(
                "RDSIAM_KEEP_TMP=1: keeping Terraform workspace {}",
                dir.path().display()
            );
        }
        (dir, tf)
    }

    fn from_parts(
        dir: tempfile::TempDir,
        tf: PathBuf,
        tf_version: &str,
        cli_config_text: &str,
    ) -> Self {
        // Named `.hcl` (not `.tf`) so Terraform does not read it as configuration.
        let cli_config = dir.path().join("terraformrc.hcl");
        fs::write(&cli_config, cli_config_text).expect("write CLI config");
        Workspace {
            dir,
            tf,
            tf_version: tf_version.to_string(),
            cli_config,
            env: Vec::new(),
        }
    }

    /// Workspace whose CLI config points `registry.terraform.io/rdsiam/rdsiam` at the directory
    /// containing `provider_binary` via `dev_overrides` (no `terraform init` needed).
    pub fn new(tf_version: &str, provider_binary: &Path) -> Workspace {
        let (dir, tf) = Self::create(tf_version);
        let bin = absolute(provider_binary);
        let bin_dir = bin
            .parent()
            .expect("provider binary has a parent directory");
        let cfg = format!(
            "provider_installation {{\n  dev_overrides {{\n    {} = {}\n  }}\n  direct {{}}\n}}\n",
            hcl(PROVIDER_SOURCE),
            hcl(&bin_dir.to_string_lossy()),
        );
        Self::from_parts(dir, tf, tf_version, &cfg)
    }

    /// Workspace whose CLI config installs the provider (as `version`) from a local filesystem
    /// mirror holding a copy of `provider_binary`, so `terraform init` works offline. The
    /// configuration must still declare `required_providers { rdsiam = { source = "rdsiam/rdsiam" } }`.
    pub fn with_mirror(tf_version: &str, provider_binary: &Path, version: &str) -> Workspace {
        let (dir, tf) = Self::create(tf_version);
        let mirror = dir.path().join("mirror");
        let platform_dir = mirror
            .join(PROVIDER_SOURCE)
            .join(version)
            .join("linux_amd64");
        fs::create_dir_all(&platform_dir).expect("create mirror dir");
        let dest = platform_dir.join(format!("{PROVIDER_BIN_NAME}_v{version}"));
        fs::copy(absolute(provider_binary), &dest).unwrap_or_else(|e| {
            panic!(
                "copy provider binary {} to mirror: {e}",
                provider_binary.display()
            )
        });
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).expect("chmod provider");
        }
        let cfg = format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = {}\n    include = [{}]\n  }}\n  direct {{\n    exclude = [{}]\n  }}\n}}\n",
            hcl(&mirror.to_string_lossy()),
            hcl(PROVIDER_SOURCE),
            hcl(PROVIDER_SOURCE),
        );
        // `mirror/` is a subdirectory: Terraform only loads `*.tf`/`*.tf.json` from the top level.
        Self::from_parts(dir, tf, tf_version, &cfg)
    }

    /// The working directory Terraform runs in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn tf_version(&self) -> &str {
        &self.tf_version
    }

    pub fn cli_config(&self) -> &Path {
        &self.cli_config
    }

    /// Add an environment variable for every later run of this workspace.
    pub fn set_env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Static AWS credentials for every later run, and no other source of them (no instance
    /// metadata, config or credentials file).
    pub fn set_aws_credentials(&mut self, key_id: &str, secret: &str, session: &str) -> &mut Self {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", key_id),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", session),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ] {
            self.set_env(k, v);
        }
        self
    }

    /// Write (or overwrite) a file relative to the workspace, e.g. `main.tf`.
    pub fn write(&self, name: &str, content: &str) -> &Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// Read a file relative to the workspace.
    pub fn read(&self, name: &str) -> String {
        let path = self.dir.path().join(name);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Remove a file relative to the workspace (no error if absent).
    pub fn remove(&self, name: &str) {
        let _ = fs::remove_file(self.dir.path().join(name));
    }

    /// Run Terraform with exactly `args` (nothing appended).
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.run_env(args, &[])
    }

    /// Run Terraform with exactly `args` and extra environment variables.
    ///
    /// The inherited environment is scrubbed of every `TF_*` variable (TF_LOG, TF_DATA_DIR,
    /// TF_PLUGIN_CACHE_DIR, TF_CLI_ARGS*, TF_VAR_*, ...); then `TF_CLI_CONFIG_FILE`,
    /// `TF_IN_AUTOMATION=1`, `TF_INPUT=0`, `CHECKPOINT_DISABLE=1` are set, then the workspace's
    /// [`set_env`](Self::set_env) variables, then `envs` (which win).
    pub fn run_env<S: AsRef<OsStr>>(&self, args: &[S], envs: &[(&str, &str)]) -> Output {
        let out = self
            .command(args, envs)
            .output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", self.tf.display()));
        Output {
            args: args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The command [`run_env`](Self::run_env) runs, with its environment, not yet started:
    /// for a test that signals Terraform while it runs.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S], envs: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.tf);
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TF_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1");
        if let Ok(level) = std::env::var("RDSIAM_TF_LOG") {
            cmd.env("TF_LOG", level);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// `args` with `-no-color` inserted after the subcommand where Terraform accepts it, and
    /// `-auto-approve` for apply/destroy (neither is duplicated if already present).
    pub fn tf_args(args: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        // Global options such as -chdir=DIR come before the subcommand.
        let Some(pos) = out.iter().position(|a| !a.starts_with('-')) else {
            return out;
        };
        let sub = out[pos].clone();
        let mut extra = Vec::new();
        if NO_COLOR_CMDS.contains(&sub.as_str()) && !args.contains(&"-no-color") {
            extra.push("-no-color".to_string());
        }
        if AUTO_APPROVE_CMDS.contains(&sub.as_str())
            && !args
                .iter()
                .any(|a| *a == "-auto-approve" || a.starts_with("-auto-approve="))
        {
            extra.push("-auto-approve".to_string());
        }
        out.splice(pos + 1..pos + 1, extra);
        out
    }

    /// Run Terraform with [`tf_args`](Self::tf_args) applied (e.g. `ws.tf(&["apply"])`).
    pub fn tf(&self, args: &[&str]) -> Output {
        self.run(&Self::tf_args(args))
    }

    /// Like [`tf`](Self::tf) with extra environment variables.
    pub fn tf_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.run_env(&Self::tf_args(args), envs)
    }

    /// [`tf`](Self::tf), panicking with the full output unless the exit code is 0.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        self.tf(args).assert_ok()
    }

    /// [`tf`](Self::tf), panicking with the full output if the exit code is 0.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> Output {
        self.tf(args).assert_fails()
    }

    /// `terraform plan -detailed-exitcode -no-color`: the full output (code 0 = no changes,
    /// 1 = error, 2 = changes present).
    pub fn plan_detailed(&self) -> Output {
        self.run(&["plan", "-detailed-exitcode", "-no-color"])
    }

    /// Exit code of `terraform plan -detailed-exitcode -no-color` (0 = no changes,
    /// 2 = changes). On an error (1) the output is printed to stderr (shown on test failure).
    pub fn plan_exit_code(&self) -> i32 {
        let out = self.plan_detailed();
        if out.code != 0 && out.code != 2 {
            eprintln!("plan -detailed-exitcode failed:\n{out}");
        }
        out.code
    }

    /// Panics with the plan output unless `plan -detailed-exitcode` reports no changes.
    #[track_caller]
    pub fn assert_no_changes(&self) {
        let out = self.plan_detailed();
        if out.code != 0 {
            panic!(
                "expected an empty plan (exit 0), got exit {}\n{out}",
                out.code
            );
        }
    }

    /// `plan -out=<plan_file>` (which must succeed), then each planned resource's address and
    /// actions from `show -json <plan_file>`.
    pub fn plan_actions(&self, plan_file: &str) -> Vec<(String, Vec<String>)> {
        self.ok(&["plan", &format!("-out={plan_file}")]);
        let out = self.tf(&["show", "-json", plan_file]);
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        plan["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["address"].as_str().unwrap_or_default().to_string(),
                    r["change"]["actions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect(),
                )
            })
            .collect()
    }

    /// The actions of `address` in a [`plan_actions`](Self::plan_actions) result (none if absent).
    pub fn actions_of(planned: &[(String, Vec<String>)], address: &str) -> Vec<String> {
        planned
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, actions)| actions.clone())
            .unwrap_or_default()
    }

    /// `terraform output -json`, parsed.
    #[track_caller]
    pub fn output_json(&self) -> serde_json::Value {
        let out = self.ok(&["output", "-json"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("output -json is not JSON: {e}\n{out}"))
    }

    /// `terraform show -json`, parsed (the state; pass a plan file via `run` to show a plan).
    #[track_caller]
    pub fn show_json(&self) -> serde_json::Value {
        let out = self.ok(&["show", "-json"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("show -json is not JSON: {e}\n{out}"))
    }
}

/// Fixed AWS credentials and signing time (`RDSIAM_TEST_SIGNING_TIME`), with which the provider
/// mints a token known in advance. Set as a local server's password, that token lets the
/// provider's `iam_auth` login succeed, standing in for RDS's token check.
#[derive(Clone, Copy, Debug)]
pub struct FixedIam<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub session_token: &'a str,
    pub region: &'a str,
    pub signing_time: u64,
}

impl FixedIam<'static> {
    /// The example credentials of the IAM benches and tests (valid nowhere).
    pub const EXAMPLE: FixedIam<'static> = FixedIam {
        access_key: "AKIDEXAMPLE",
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: "FwoGZXIvYXdzEBYaDH+abc/def==",
        region: "eu-west-1",
        signing_time: 1_790_000_000,
    };
}

impl FixedIam<'_> {
    /// The token the provider mints for `user` at `localhost:port`.
    pub fn token(&self, port: u16, user: &str) -> String {
        use terraform_provider_rdsiam::aws::token;
        let creds = aws_credential_types::Credentials::new(
            self.access_key,
            self.secret_key,
            Some(self.session_token.to_string()),
            None,
            "test",
        );
        token::generate(
            &creds,
            &token::TokenRequest {
                hostname: "localhost",
                port,
                username: user,
                region: self.region,
                expires_in: token::MAX_EXPIRES_IN,
            },
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.signing_time),
        )
        .unwrap_or_else(|e| panic!("mint the token for {user}: {e}"))
    }

    /// Gives `ws`'s runs these credentials and signing time (and no instance metadata).
    pub fn set_env(&self, ws: &mut Workspace) {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", self.access_key),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key),
            ("AWS_SESSION_TOKEN", self.session_token),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("RDSIAM_TEST_SIGNING_TIME", &self.signing_time.to_string()),
        ] {
            ws.set_env(k, v);
        }
    }
}
