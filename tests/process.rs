//! The binary as a process: run by hand, --debug with TF_REATTACH_PROVIDERS, SIGINT.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Reap, Workspace, provider_bin};

const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

fn first_lines(child: &mut Child, until: &str) -> Vec<String> {
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap_or_default();
        let done = line.contains(until);
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}

#[test]
fn run_by_hand_prints_a_friendly_message() {
    let out = Command::new(provider_bin())
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("This is a Terraform provider plugin"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn wrong_protocol_version_is_refused() {
    let out = Command::new(provider_bin())
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("protocol 6"));
}

#[test]
fn handshake_line_and_sigint_ignored() {
    let child = Command::new(provider_bin())
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut child = Reap(child);
    let lines = first_lines(&mut child.0, "|grpc|");
    let line = lines.last().cloned().unwrap_or_default();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6, "{line}");
    assert_eq!(&fields[..3], &["1", "6", "unix"]);
    assert!(
        Path::new(fields[3]).exists(),
        "socket {} missing",
        fields[3]
    );
    assert_eq!(fields[4], "grpc");

    let pid = child.0.id().to_string();
    let st = Command::new("kill").args(["-INT", &pid]).status();
    assert!(st.is_ok_and(|s| s.success()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.0.try_wait().ok().flatten().is_none(),
        "SIGINT killed the provider; Terraform expects StopProvider instead"
    );
}

#[test]
fn debug_mode_serves_terraform_via_reattach() {
    let child = Command::new(provider_bin())
        .arg("--debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut child = Reap(child);
    let lines = first_lines(&mut child.0, "TF_REATTACH_PROVIDERS=");
    let line = lines.last().cloned().unwrap_or_default();
    let value = line
        .split_once("TF_REATTACH_PROVIDERS='")
        .and_then(|(_, v)| v.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no reattach value in {lines:?}"))
        .to_string();
    let parsed: serde_json::Value =
        serde_json::from_str(&value).unwrap_or_else(|e| panic!("{e}: {value}"));
    assert_eq!(
        parsed["registry.terraform.io/rdsiam/rdsiam"]["ProtocolVersion"],
        6
    );

    // Two Terraform runs against the one debug process: it outlives each of them.
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write(
        "main.tf",
        concat!(
            crate::required_providers!(),
            r#"data "rdsiam_policy_document" "x" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = "cluster-ABC123"
  db_users    = ["mario.rossi@example.com"]
}
output "arn" { value = data.rdsiam_policy_document.x.arns[0] }
"#
        ),
    );
    let env = [("TF_REATTACH_PROVIDERS", value.as_str())];
    for _ in 0..2 {
        let out = ws.run_env(&["apply", "-auto-approve", "-no-color"], &env);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stdout
                .contains("arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/mario.rossi@example.com"),
            "{}",
            out.stdout
        );
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        assert!(
            child.0.try_wait().ok().flatten().is_none(),
            "debug server exited"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
