//! Self-test of the acceptance-test harness (`tests/support`), using no provider at all:
//! only Terraform built-ins (locals, outputs, and `terraform_data` where available).
//! Needs the Terraform CLIs from `scripts/install-tools.sh`.

use crate::support;

use std::path::PathBuf;
use support::{TF_VERSIONS, Workspace};

/// Any existing path will do: no rdsiam provider is used here, dev_overrides only needs a dir.
fn dummy_provider() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("harness_selftest.rs")
}

/// `terraform_data` exists since Terraform 1.4.
fn has_terraform_data(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 4)
}

fn config(version: &str, greeting: &str) -> String {
    let mut cfg = format!(
        r#"
locals {{
  greeting = "{greeting}"
}}

output "greeting" {{
  value = local.greeting
}}

output "numbers" {{
  value = [for i in range(3) : i * 2]
}}
"#
    );
    if has_terraform_data(version) {
        cfg.push_str(
            r#"
resource "terraform_data" "thing" {
  input = local.greeting
}

output "thing_output" {
  value = terraform_data.thing.output
}
"#,
        );
    }
    cfg
}

fn lifecycle(version: &str) {
    let ws = Workspace::new(version, &dummy_provider());
    ws.write("main.tf", &config(version, "hello"));

    // Built-ins only: no `terraform init` needed.
    let v = ws.ok(&["version"]);
    assert!(
        v.stdout.starts_with(&format!("Terraform v{version}")),
        "{v}"
    );

    ws.ok(&["validate"]);
    // A fresh config has changes (outputs; plus a resource on >= 1.4).
    assert_eq!(ws.plan_exit_code(), 2);
    let applied = ws.ok(&["apply"]);
    applied.assert_contains("Apply complete!");
    assert_eq!(ws.plan_exit_code(), 0, "re-plan after apply must be empty");
    ws.assert_no_changes();

    let out = ws.output_json();
    assert_eq!(out["greeting"]["value"], "hello", "{out}");
    assert_eq!(
        out["numbers"]["value"],
        serde_json::json!([0, 2, 4]),
        "{out}"
    );
    if has_terraform_data(version) {
        assert_eq!(out["thing_output"]["value"], "hello", "{out}");
        let state = ws.show_json();
        let resources = &state["values"]["root_module"]["resources"];
        assert_eq!(resources[0]["address"], "terraform_data.thing", "{state}");
    }

    // Change the config: plan shows changes again, apply converges.
    ws.write("main.tf", &config(version, "bye"));
    assert_eq!(ws.plan_exit_code(), 2);
    ws.ok(&["apply"]);
    assert_eq!(ws.output_json()["greeting"]["value"], "bye");
    assert_eq!(ws.plan_exit_code(), 0);

    // Errors are reported as non-zero exit codes with the diagnostics on stderr.
    ws.write(
        "broken.tf",
        "output \"bad\" { value = local.does_not_exist }\n",
    );
    let failed = ws.fails(&["plan"]);
    failed.assert_contains("does_not_exist");
    assert_eq!(ws.plan_exit_code(), 1);
    ws.remove("broken.tf");
    ws.fails(&["no-such-subcommand"]);

    ws.ok(&["destroy"]);
    let out = ws.output_json();
    assert!(
        out.as_object().is_some_and(|o| o.is_empty()),
        "outputs after destroy: {out}"
    );
}

#[test]
fn harness_lifecycle_all_versions() {
    for version in TF_VERSIONS {
        lifecycle(version);
    }
}

#[test]
fn harness_env_is_scrubbed_and_overridable() {
    let ws = Workspace::new(TF_VERSIONS[0], &dummy_provider());
    ws.write("main.tf", "output \"x\" { value = 1 }\n");
    // TF_LOG from the caller reaches Terraform (logs on stderr).
    let out = ws.run_env(&["validate", "-no-color"], &[("TF_LOG", "TRACE")]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("[TRACE]") || out.stderr.contains("[DEBUG]"),
        "{out}"
    );
    // Without it, nothing is logged even if the test process has TF_LOG set.
    let out = ws.run(&["validate", "-no-color"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stderr.contains("[TRACE]"), "{out}");
    // TF_DATA_DIR is honoured when the caller sets it.
    let data = ws.path().join("custom-data-dir");
    let out = ws.run_env(
        &["init", "-no-color"],
        &[("TF_DATA_DIR", data.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn tf_args_adds_flags() {
    assert_eq!(
        Workspace::tf_args(&["apply"]),
        ["apply", "-no-color", "-auto-approve"]
    );
    assert_eq!(
        Workspace::tf_args(&["-chdir=x", "destroy", "-auto-approve", "-target=a"]),
        [
            "-chdir=x",
            "destroy",
            "-no-color",
            "-auto-approve",
            "-target=a"
        ]
    );
    assert_eq!(
        Workspace::tf_args(&["plan", "-no-color"]),
        ["plan", "-no-color"]
    );
    assert_eq!(
        Workspace::tf_args(&["output", "-json"]),
        ["output", "-no-color", "-json"]
    );
    assert_eq!(Workspace::tf_args(&["version"]), ["version"]);
    assert_eq!(Workspace::tf_args(&["state", "list"]), ["state", "list"]);
}
