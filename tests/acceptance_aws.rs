//! Real Terraform against moto (an AWS API emulator): the `aws` provider settings and the RDS
//! lookup data sources, chained into `rdsiam_policy_document`.
//!
//! Every Terraform run here has a scrubbed environment (no inherited `AWS_*`, `HOME` an empty
//! directory, IMDS disabled) plus, where AWS is meant to be reachable, moto's fake credentials.

use crate::support;

use serde_json::Value as Json;
use support::moto::{self, ACCOUNT_ID, FAKE_CREDS, Moto, REGION};
use support::{Output, REQUIRED_PROVIDERS, TF_VERSIONS, Workspace, provider_bin};

/// A workspace plus the empty directory used as `HOME` for its runs.
struct Ws {
    ws: Workspace,
    home: tempfile::TempDir,
}

impl Ws {
    fn new(version: &str, main_tf: &str) -> Ws {
        let ws = Workspace::new(version, provider_bin());
        ws.write("main.tf", &format!("{REQUIRED_PROVIDERS}{main_tf}"));
        let home = tempfile::tempdir().expect("temp HOME");
        Ws { ws, home }
    }

    /// Terraform with moto's fake credentials.
    fn tf(&self, args: &[&str]) -> Output {
        moto::tf_without_aws(&self.ws, self.home.path(), args, FAKE_CREDS)
    }

    /// Terraform with no AWS configuration whatsoever.
    fn tf_bare(&self, args: &[&str]) -> Output {
        moto::tf_without_aws(&self.ws, self.home.path(), args, &[])
    }

    fn outputs(&self) -> Json {
        let out = self.tf(&["output", "-json"]).assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("output -json is not JSON: {e}\n{out}"))
    }
}

fn value<'a>(outputs: &'a Json, name: &str) -> &'a Json {
    &outputs[name]["value"]
}

#[test]
fn cluster_and_proxy_lookups_feed_the_policy_document() {
    let moto = Moto::start();
    let cluster = moto.create_aurora_cluster("app-aurora", true);
    let proxy = moto.create_proxy("app-proxy", "REQUIRED");
    let cluster_rid = cluster["DbClusterResourceId"].as_str().unwrap_or_default();
    assert!(cluster_rid.starts_with("cluster-"), "{cluster}");
    let proxy_arn = proxy["DBProxyArn"].as_str().unwrap_or_default();
    let proxy_rid = proxy_arn.rsplit(':').next().unwrap_or_default();
    assert!(proxy_rid.starts_with("prx-"), "{proxy}");

    let config = format!(
        r#"{provider}
data "rdsiam_cluster" "main" {{
  cluster_identifier = "app-aurora"
}}

data "rdsiam_policy_document" "app" {{
  region      = data.rdsiam_cluster.main.region
  account_id  = data.rdsiam_cluster.main.account_id
  resource_id = data.rdsiam_cluster.main.resource_id
  db_users    = ["app_service"]
}}

data "rdsiam_proxy" "p" {{
  db_proxy_name = "app-proxy"
  region        = "{REGION}"
}}

output "cluster" {{ value = data.rdsiam_cluster.main }}
output "policy_arns" {{ value = data.rdsiam_policy_document.app.arns }}
output "proxy" {{ value = data.rdsiam_proxy.p }}
"#,
        provider = moto.provider_block("")
    );
    for &version in TF_VERSIONS {
        let ws = Ws::new(version, &config);
        ws.tf(&["apply"]).assert_ok();
        let out = ws.outputs();

        let c = value(&out, "cluster");
        assert_eq!(c["resource_id"], cluster_rid, "terraform {version}");
        assert_eq!(c["arn"], cluster["DBClusterArn"]);
        assert_eq!(c["account_id"], ACCOUNT_ID);
        assert_eq!(c["partition"], "aws");
        assert_eq!(c["region"], REGION);
        assert_eq!(c["endpoint"], cluster["Endpoint"]);
        assert_eq!(c["reader_endpoint"], cluster["ReaderEndpoint"]);
        assert_eq!(c["port"], 5432);
        assert_eq!(c["engine"], "aurora-postgresql");
        assert_eq!(c["engine_version"], cluster["EngineVersion"]);
        assert_eq!(c["iam_database_authentication_enabled"], true);
        assert_eq!(c["master_username"], "postgres");
        assert_eq!(
            c["master_user_secret_arn"], cluster["MasterUserSecret"]["SecretArn"],
            "the managed master password's secret"
        );
        assert!(
            c["master_user_secret_arn"]
                .as_str()
                .is_some_and(|a| a.starts_with("arn:aws:secretsmanager:"))
        );

        assert_eq!(
            value(&out, "policy_arns")[0],
            format!("arn:aws:rds-db:{REGION}:{ACCOUNT_ID}:dbuser:{cluster_rid}/app_service"),
            "the policy must use the looked-up resource id (terraform {version})"
        );

        let p = value(&out, "proxy");
        assert_eq!(p["resource_id"], proxy_rid);
        assert_eq!(p["arn"], proxy_arn);
        assert_eq!(p["endpoint"], proxy["Endpoint"]);
        assert_eq!(p["port"], 5432);
        assert_eq!(p["engine"], "POSTGRESQL");
        assert!(p["engine_version"].is_null());
        assert_eq!(p["iam_database_authentication_enabled"], true);
    }
}

#[test]
fn instance_without_iam_auth_warns_but_succeeds() {
    let moto = Moto::start();
    let inst = moto.create_postgres_instance("plain-pg", false);
    moto.create_proxy("no-iam-proxy", "DISABLED");
    let config = format!(
        r#"{provider}
data "rdsiam_instance" "plain" {{
  db_instance_identifier = "plain-pg"
}}
data "rdsiam_proxy" "no_iam" {{
  db_proxy_name = "no-iam-proxy"
}}
output "instance" {{ value = data.rdsiam_instance.plain }}
output "proxy_iam" {{ value = data.rdsiam_proxy.no_iam.iam_database_authentication_enabled }}
"#,
        provider = moto.provider_block("")
    );
    let ws = Ws::new("1.15.5", &config);
    let applied = ws.tf(&["apply"]).assert_ok();
    applied.assert_contains("IAM database authentication is disabled on DB instance \"plain-pg\"");
    applied.assert_contains("tokens will be rejected until you enable IAM database");
    applied
        .assert_contains("IAM database authentication is disabled on RDS Proxy \"no-iam-proxy\"");
    let out = ws.outputs();
    let i = value(&out, "instance");
    assert_eq!(i["iam_database_authentication_enabled"], false);
    assert_eq!(i["resource_id"], inst["DbiResourceId"]);
    assert_eq!(i["endpoint"], inst["Endpoint"]["Address"]);
    assert_eq!(i["port"], inst["Endpoint"]["Port"]);
    assert_eq!(i["engine"], "postgres");
    assert_eq!(i["master_username"], "postgres");
    assert!(
        i["master_user_secret_arn"].is_null(),
        "no managed master password"
    );
    assert_eq!(value(&out, "proxy_iam"), false);
}

#[test]
fn missing_cluster_is_a_clear_error() {
    let moto = Moto::start();
    let config = format!(
        r#"{provider}
data "rdsiam_cluster" "gone" {{
  cluster_identifier = "does-not-exist"
}}
"#,
        provider = moto.provider_block("")
    );
    for &version in TF_VERSIONS {
        let ws = Ws::new(version, &config);
        let out = ws.tf(&["plan"]).assert_fails();
        out.assert_contains("DB cluster not found");
        out.assert_contains("No DB cluster \"does-not-exist\" exists in region");
        // Terraform quotes the offending line.
        out.assert_contains("cluster_identifier = \"does-not-exist\"");
    }
}

const POLICY_ONLY: &str = concat!(
    crate::app_policy_document!(),
    "output \"arns\" { value = data.rdsiam_policy_document.app.arns }\n"
);

/// Settings that would fail at once if anything resolved them: a missing profile and file, an
/// unreachable endpoint, a role to assume, no region, no credentials.
const ARMED_PROVIDER: &str = r#"
provider "rdsiam" {
  aws {
    profile             = "nowhere"
    shared_config_files = ["/nonexistent/rdsiam/config"]
    assume_role {
      role_arn = "arn:aws:iam::123456789012:role/never-assumed"
      duration = "15m"
    }
    endpoints {
      rds = "http://127.0.0.1:9"
      sts = "http://127.0.0.1:9"
    }
  }
}
"#;

#[test]
fn policy_documents_need_no_aws_at_all() {
    for &version in TF_VERSIONS {
        // No provider block, nothing in the environment.
        let ws = Ws::new(version, POLICY_ONLY);
        ws.tf_bare(&["plan"]).assert_ok();
        ws.tf_bare(&["apply"]).assert_ok();

        // Provider settings that cannot work are stored, not used.
        let ws = Ws::new(version, &format!("{ARMED_PROVIDER}{POLICY_ONLY}"));
        ws.tf_bare(&["plan"]).assert_ok();

        // ...until a data source needs AWS: then the bad setting is named.
        ws.ws.write(
            "lookup.tf",
            "data \"rdsiam_cluster\" \"x\" {\n  cluster_identifier = \"app\"\n  region = \"eu-west-1\"\n}\n",
        );
        let out = ws.tf_bare(&["plan"]).assert_fails();
        out.assert_contains("Shared AWS file not found");
        out.assert_contains("/nonexistent/rdsiam/config");
    }
}

#[test]
fn missing_region_and_credentials_are_explained() {
    let config = r#"
data "rdsiam_cluster" "x" {
  cluster_identifier = "app"
}
"#;
    let ws = Ws::new("1.15.5", config);
    let out = ws.tf_bare(&["plan"]).assert_fails();
    out.assert_contains("No AWS region");
    out.assert_contains("export AWS_REGION");

    let out = moto::tf_without_aws(&ws.ws, ws.home.path(), &["plan"], &[("AWS_REGION", REGION)])
        .assert_fails();
    out.assert_contains("No AWS credentials found");
    out.assert_contains("AWS_WEB_IDENTITY_TOKEN_FILE");
    out.assert_contains("export AWS_PROFILE");
}

#[test]
fn assume_role_through_moto_sts() {
    let moto = Moto::start();
    // moto keeps one backend per account: the cluster exists only in the role's account, so
    // finding it proves the lookup used the assumed role's credentials.
    let role = "arn:aws:iam::111111111111:role/terraform";
    let cluster = moto.create_aurora_cluster_as(role, "other-account-db");
    let lookup = r#"
data "rdsiam_cluster" "x" {
  cluster_identifier = "other-account-db"
}
output "cluster" { value = data.rdsiam_cluster.x }
"#;
    let assume = format!(
        "    assume_role {{\n      role_arn = \"{role}\"\n      session_name = \"rdsiam-acc\"\n      \
         duration = \"1h\"\n    }}"
    );
    let ws = Ws::new(
        "1.15.5",
        &format!("{}{lookup}", moto.provider_block(&assume)),
    );
    ws.tf(&["apply"]).assert_ok();
    let out = ws.outputs();
    let c = value(&out, "cluster");
    assert_eq!(c["account_id"], "111111111111");
    assert_eq!(c["resource_id"], cluster["DbClusterResourceId"]);

    // Without the role, the default account has no such cluster.
    let ws = Ws::new("1.15.5", &format!("{}{lookup}", moto.provider_block("")));
    ws.tf(&["plan"])
        .assert_fails()
        .assert_contains("DB cluster not found");
}

#[test]
fn bad_provider_settings_name_the_attribute() {
    let config = r#"
provider "rdsiam" {
  aws {
    region = "eu-west1"
    assume_role {
      role_arn = "arn:aws:iam::123456789012:user/not-a-role"
      duration = "2d"
    }
  }
}
"#;
    for &version in TF_VERSIONS {
        let ws = Ws::new(version, &format!("{config}{POLICY_ONLY}"));
        let out = ws.tf_bare(&["plan"]).assert_fails();
        out.assert_contains("Invalid region");
        out.assert_contains("region = \"eu-west1\"");
        out.assert_contains("Invalid role_arn");
        out.assert_contains("Invalid duration");
        out.assert_contains("duration = \"2d\"");
    }
}
