//! Real Terraform (1.15.5 and 1.0.3) driving the freshly built provider: policy documents,
//! the dbuser_arn function, plan-time validation, init from a filesystem mirror.

use crate::support;

use serde_json::Value as Json;
use support::{TF_VERSIONS, Workspace, provider_bin};

const PROVIDER: &str = concat!(
    crate::required_providers!(),
    r#"provider "rdsiam" {}
"#
);

const POLICIES: &str = r#"
data "rdsiam_policy_document" "eu" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = "cluster-ABC123"
  db_users    = ["mario.rossi@example.com", "app_service", "a*b"]
  sid         = "AppConnect"
}

data "rdsiam_policy_document" "cn" {
  region      = "cn-north-1"
  account_id  = "123456789012"
  resource_id = "db-XYZ789"
  db_users    = ["*"]
  effect      = "Deny"
}

# A resource that consumes the policy, so apply / re-plan / destroy have state to manage.
resource "terraform_data" "policy" {
  input = data.rdsiam_policy_document.eu.json
}

output "eu_arns" { value = data.rdsiam_policy_document.eu.arns }
output "eu_json" { value = data.rdsiam_policy_document.eu.json }
output "eu_effect" { value = data.rdsiam_policy_document.eu.effect }
output "cn_arns" { value = data.rdsiam_policy_document.cn.arns }
output "cn_json" { value = data.rdsiam_policy_document.cn.json }
"#;

const FUNCTIONS: &str = r#"
output "fn_arn" {
  value = provider::rdsiam::dbuser_arn("us-gov-west-1", "123456789012", "prx-0123ABC", "Mixed.Case")
}
"#;

/// Terraform 1.0 has no terraform_data; null_resource would need a download, so it gets the
/// data sources and outputs only.
fn policies_for(version: &str) -> String {
    if version == "1.0.3" {
        POLICIES.replace(
            "resource \"terraform_data\" \"policy\" {\n  input = data.rdsiam_policy_document.eu.json\n}\n",
            "",
        )
    } else {
        format!("{POLICIES}{FUNCTIONS}")
    }
}

fn output<'a>(outputs: &'a Json, name: &str) -> &'a Json {
    &outputs[name]["value"]
}

#[test]
fn policy_document_lifecycle_on_every_terraform() {
    for &version in TF_VERSIONS {
        let ws = Workspace::new(version, provider_bin());
        ws.write("main.tf", &format!("{PROVIDER}{}", policies_for(version)));
        ws.ok(&["validate"]);
        ws.ok(&["plan"]);
        ws.ok(&["apply"]);

        let out = ws.output_json();
        let eu = output(&out, "eu_arns");
        assert_eq!(
            eu[0],
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/mario.rossi@example.com",
            "terraform {version}"
        );
        assert_eq!(
            eu[2],
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/a${*}b"
        );
        assert_eq!(output(&out, "eu_effect"), "Allow");
        let cn = output(&out, "cn_arns");
        assert_eq!(
            cn[0],
            "arn:aws-cn:rds-db:cn-north-1:123456789012:dbuser:db-XYZ789/*"
        );

        let doc: Json = serde_json::from_str(output(&out, "eu_json").as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("policy json on {version}: {e}"));
        assert_eq!(doc["Version"], "2012-10-17");
        assert_eq!(doc["Statement"][0]["Sid"], "AppConnect");
        assert_eq!(doc["Statement"][0]["Effect"], "Allow");
        assert_eq!(doc["Statement"][0]["Action"], "rds-db:connect");
        assert_eq!(doc["Statement"][0]["Resource"], *eu);
        let cn_doc: Json = serde_json::from_str(output(&out, "cn_json").as_str().unwrap_or(""))
            .unwrap_or_default();
        assert_eq!(cn_doc["Statement"][0]["Effect"], "Deny");
        assert!(cn_doc["Statement"][0].get("Sid").is_none());

        if version != "1.0.3" {
            assert_eq!(
                output(&out, "fn_arn"),
                "arn:aws-us-gov:rds-db:us-gov-west-1:123456789012:dbuser:prx-0123ABC/Mixed.Case"
            );
        }

        // The state as Terraform shows it carries the data source's computed values.
        let show = ws.show_json();
        let resources = show["values"]["root_module"]["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let eu_ds = resources
            .iter()
            .find(|r| r["address"] == "data.rdsiam_policy_document.eu")
            .unwrap_or_else(|| panic!("data source missing from show -json on {version}: {show}"));
        assert_eq!(eu_ds["values"]["arns"], *eu);
        assert_eq!(eu_ds["values"]["db_users"][0], "mario.rossi@example.com");

        assert_eq!(ws.plan_exit_code(), 0, "re-plan must be empty on {version}");
        ws.ok(&["destroy"]);
        let show = ws.show_json();
        assert!(
            show["values"]["root_module"]["resources"].is_null()
                || show["values"].is_null()
                || show["values"]["root_module"]["resources"]
                    .as_array()
                    .is_some_and(|r| r.iter().all(|r| r["mode"] == "data")),
            "destroy left managed resources on {version}: {show}"
        );
    }
}

#[test]
fn bad_input_fails_plan_naming_each_attribute() {
    let bad = r#"
data "rdsiam_policy_document" "bad" {
  region      = "moon-1"
  account_id  = "12345"
  resource_id = "foo"
  db_users    = []
}
"#;
    for &version in TF_VERSIONS {
        let ws = Workspace::new(version, provider_bin());
        ws.write("main.tf", &format!("{PROVIDER}{bad}"));
        let out = ws.fails(&["plan"]);
        let text = format!("{}{}", out.stdout, out.stderr);
        for needle in [
            "Invalid region",
            "moon-1",
            "Invalid account_id",
            "12 digits",
            "Invalid resource_id",
            "Invalid db_users",
            "at least one database user",
        ] {
            assert!(
                text.contains(needle),
                "{version}: {needle:?} missing from:\n{text}"
            );
        }
        // Terraform quotes the offending line when the diagnostic carries its path.
        for line in [
            "region      = \"moon-1\"",
            "account_id  = \"12345\"",
            "resource_id = \"foo\"",
        ] {
            assert!(
                text.contains(line),
                "{version}: source line {line:?} not quoted:\n{text}"
            );
        }
        assert!(
            !text.contains("panic"),
            "{version}: provider panicked:\n{text}"
        );
    }
}

#[test]
fn bad_user_and_sid_point_at_their_element() {
    let bad = r#"
data "rdsiam_policy_document" "bad" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = "my-cluster"
  db_users    = ["ok", "0123456789012345678901234567890123456789012345678901234567890123"]
  sid         = "not-allowed"
  effect      = "allow"
}
"#;
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write("main.tf", &format!("{PROVIDER}{bad}"));
    let out = ws.fails(&["validate"]);
    out.assert_mentions(&[
        "cluster_resource_id",
        "63 bytes",
        "Invalid sid",
        "Invalid effect",
    ]);
}

#[test]
fn function_errors_name_the_argument() {
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write(
        "main.tf",
        &format!(
            "{PROVIDER}\noutput \"x\" {{\n  value = provider::rdsiam::dbuser_arn(\"eu-west-1\", \"12345\", \"cluster-A\", \"app\")\n}}\n"
        ),
    );
    let out = ws.fails(&["plan"]);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("12 digits"), "{text}");
    assert!(
        text.contains("account_id"),
        "argument name missing:\n{text}"
    );
}

#[test]
fn unknown_inputs_plan_then_apply() {
    // resource_id is unknown until apply: validation waits, the data source reads at apply.
    let cfg = r#"
resource "terraform_data" "rid" {
  input = "cluster-LATE1"
}
data "rdsiam_policy_document" "late" {
  region      = "eu-west-1"
  account_id  = "123456789012"
  resource_id = terraform_data.rid.output
  db_users    = ["app"]
}
output "arn" { value = data.rdsiam_policy_document.late.arns[0] }
"#;
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write("main.tf", &format!("{PROVIDER}{cfg}"));
    ws.ok(&["apply"]);
    assert_eq!(
        output(&ws.output_json(), "arn"),
        "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-LATE1/app"
    );
    assert_eq!(ws.plan_exit_code(), 0);
    ws.ok(&["destroy"]);
}

#[test]
fn init_from_filesystem_mirror() {
    for &version in TF_VERSIONS {
        let ws = Workspace::with_mirror(version, provider_bin(), "0.1.0");
        let cfg = POLICIES
            .replace("resource \"terraform_data\" \"policy\" {\n  input = data.rdsiam_policy_document.eu.json\n}\n", "");
        ws.write(
            "main.tf",
            &format!(
                "terraform {{\n  required_providers {{\n    rdsiam = {{\n      source  = \"rdsiam/rdsiam\"\n      version = \"0.1.0\"\n    }}\n  }}\n}}\n{cfg}"
            ),
        );
        let init = ws.ok(&["init"]);
        assert!(
            init.stdout.contains("rdsiam/rdsiam") && init.stdout.contains("0.1.0"),
            "{version}: {}",
            init.stdout
        );
        ws.ok(&["apply"]);
        assert_eq!(
            output(&ws.output_json(), "cn_arns")[0],
            "arn:aws-cn:rds-db:cn-north-1:123456789012:dbuser:db-XYZ789/*"
        );
        assert_eq!(ws.plan_exit_code(), 0);
        ws.ok(&["destroy"]);
    }
}

#[test]
fn automtls_handshake_and_clean_shutdown() {
    // go-plugin logs its side of the story at debug level: AutoMTLS on, plugin exited by
    // itself after Shutdown (not killed after the 2 s grace period).
    let ws = Workspace::new("1.15.5", provider_bin());
    ws.write("main.tf", &format!("{PROVIDER}{}", policies_for("1.15.5")));
    let out = ws.run_env(&["plan", "-no-color"], &[("TF_LOG", "debug")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("configuring client automatic mTLS"),
        "AutoMTLS not used:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("plugin exited"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("plugin failed to exit gracefully"),
        "Shutdown did not make the provider exit"
    );
}
