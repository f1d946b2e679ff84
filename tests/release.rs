//! The release path: `scripts/install-mirror.sh` installs the provider into a filesystem
//! mirror (the default one under `$HOME`, and an explicit directory with another host and
//! namespace), then real Terraform (1.15.5 and 1.0.3) runs `init` with no dev_overrides,
//! locks the version with a checksum, and applies a configuration using the provider.
//!
//! The script gets the debug binary cargo built for the tests (`--binary`), not a release
//! build: the same file is installed either way, and a release build per test run is slow.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Output, PROVIDER_BIN, TF_VERSIONS, Workspace, provider_bin};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn script() -> PathBuf {
    support::repo_root()
        .join("scripts")
        .join("install-mirror.sh")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the script with `args`, HOME set to `home` and none of its RDSIAM_* variables.
fn install(home: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(script());
    cmd.args(args)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .current_dir(home);
    for k in [
        "RDSIAM_BINARY",
        "RDSIAM_MIRROR_DIR",
        "RDSIAM_MIRROR_HOST",
        "RDSIAM_MIRROR_NAMESPACE",
        "RDSIAM_PLATFORM",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script().display()));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn install_ok(home: &Path, args: &[&str]) -> String {
    let r = install(home, args);
    assert_eq!(
        r.code, 0,
        "install-mirror.sh {args:?} failed\n{}\n{}",
        r.stdout, r.stderr
    );
    r.stdout
}

/// The block starting at the line `first` in the script's output, up to its closing brace.
fn snippet(out: &str, first: &str) -> String {
    let mut lines = Vec::new();
    let mut depth = 0i32;
    for line in out.lines().skip_while(|l| l.trim_end() != first) {
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        lines.push(line);
        if depth == 0 {
            break;
        }
    }
    assert!(!lines.is_empty(), "no {first:?} block in:\n{out}");
    lines.join("\n") + "\n"
}

const CONFIG: &str = concat!(
    crate::app_policy_document!(),
    r#"
output "arn" {
  value = data.rdsiam_policy_document.app.arns[0]
}
"#
);

/// `terraform init` then `apply` in a workspace whose CLI configuration is exactly
/// `cli_config` (no dev_overrides), with HOME = `home`. Checks the lock file and the output.
fn init_and_apply(
    version: &str,
    home: &Path,
    cli_config: &str,
    terraform_block: &str,
    source: &str,
) {
    let ws = Workspace::new(version, provider_bin());
    // Replace the harness's dev_overrides configuration.
    std::fs::write(ws.cli_config(), cli_config).unwrap_or_else(|e| panic!("{e}"));
    ws.write("main.tf", &format!("{terraform_block}{CONFIG}"));
    let home_s = home.to_string_lossy().into_owned();
    let env = [("HOME", home_s.as_str())];
    let init: Output = ws.run_env(&["init", "-no-color"], &env).assert_ok();
    assert!(
        !init.combined().contains("overrides"),
        "dev_overrides in effect:\n{init}"
    );
    // Terraform names registry.terraform.io providers without the host.
    let shown = source
        .strip_prefix("registry.terraform.io/")
        .unwrap_or(source);
    assert!(
        init.stdout
            .contains(&format!("Installed {shown} v{VERSION}")),
        "{init}"
    );
    let lock = ws.read(".terraform.lock.hcl");
    let entry = lock
        .split("provider \"")
        .find(|b| b.starts_with(&format!("{source}\"")))
        .unwrap_or_else(|| panic!("{source} not in the lock file:\n{lock}"));
    assert!(
        entry.contains(&format!("version     = \"{VERSION}\"")),
        "{lock}"
    );
    assert!(entry.contains("\"h1:"), "no h1 checksum:\n{lock}");

    let apply = ws
        .run_env(&["apply", "-auto-approve", "-no-color"], &env)
        .assert_ok();
    assert!(
        apply.stdout.contains(
            "arn = \"arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/app_service\""
        ),
        "{apply}"
    );
}

fn platform() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "linux_arm64",
        _ => "linux_amd64",
    }
}

/// Default destination under `$HOME`, found by Terraform with an empty CLI configuration.
#[test]
fn default_mirror_under_home() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = install_ok(home.path(), &["--binary", PROVIDER_BIN]);
    let dest = home
        .path()
        .join(".terraform.d/plugins/registry.terraform.io/rdsiam/rdsiam")
        .join(VERSION)
        .join(platform())
        .join(format!("terraform-provider-rdsiam_v{VERSION}"));
    assert!(
        out.contains(&dest.to_string_lossy().into_owned()),
        "destination not reported:\n{out}"
    );
    let installed = std::fs::read(&dest).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
    let built = std::fs::read(PROVIDER_BIN).unwrap_or_else(|e| panic!("{e}"));
    assert!(installed == built, "installed file differs from the binary");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        assert_eq!(mode & 0o111, 0o111, "not executable: {mode:o}");
    }
    let block = snippet(&out, "terraform {");
    assert!(block.contains("source  = \"rdsiam/rdsiam\""), "{block}");
    assert!(
        block.contains(&format!("version = \"{VERSION}\"")),
        "{block}"
    );
    assert!(out.contains("searches"), "{out}");

    for version in TF_VERSIONS {
        // An empty CLI configuration: Terraform's implied local mirrors apply.
        init_and_apply(
            version,
            home.path(),
            "",
            &block,
            "registry.terraform.io/rdsiam/rdsiam",
        );
    }

    // Idempotent: a second install replaces the file in place.
    install_ok(home.path(), &["--binary", PROVIDER_BIN]);
    assert!(dest.is_file());
}

/// An explicit mirror directory with another host and namespace, used through the CLI
/// configuration and `required_providers` snippets the script prints.
#[test]
fn explicit_mirror_dir_host_and_namespace() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mirror = home.path().join("srv mirror");
    let mirror_s = mirror.to_string_lossy().into_owned();
    let out = install_ok(
        home.path(),
        &[
            "--binary",
            PROVIDER_BIN,
            "--dir",
            &mirror_s,
            "--host",
            "mirror.example.com",
            "--namespace",
            "acme",
        ],
    );
    let dest = mirror
        .join("mirror.example.com/acme/rdsiam")
        .join(VERSION)
        .join(platform())
        .join(format!("terraform-provider-rdsiam_v{VERSION}"));
    assert!(dest.is_file(), "{} missing\n{out}", dest.display());
    assert!(
        !home.path().join(".terraform.d").exists(),
        "wrote to the default mirror too"
    );
    let cli = snippet(&out, "provider_installation {");
    assert!(cli.contains(&mirror_s), "{cli}");
    let block = snippet(&out, "terraform {");
    assert!(
        block.contains("source  = \"mirror.example.com/acme/rdsiam\""),
        "{block}"
    );
    for version in TF_VERSIONS {
        init_and_apply(
            version,
            home.path(),
            &cli,
            &block,
            "mirror.example.com/acme/rdsiam",
        );
    }
}

#[test]
fn refuses_bad_input() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // A binary of another version would be locked under the wrong number.
    let fake = home.path().join("terraform-provider-rdsiam");
    std::fs::write(&fake, "#!/bin/sh\necho terraform-provider-rdsiam 9.9.9\n")
        .unwrap_or_else(|e| panic!("{e}"));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let fake_s = fake.to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--binary", &fake_s],
            "reports 'terraform-provider-rdsiam 9.9.9'",
        ),
        (&["--binary", "/nonexistent/bin"], "no executable"),
        (
            &["--binary", PROVIDER_BIN, "--namespace", "Acme Corp"],
            "invalid namespace",
        ),
        (&["--frobnicate"], "unknown argument"),
    ];
    for (args, needle) in cases {
        let r = install(home.path(), args);
        assert_ne!(r.code, 0, "{args:?} succeeded:\n{}", r.stdout);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    assert!(!home.path().join(".terraform.d").exists());
}
