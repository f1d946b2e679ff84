//! IAM auth tokens through real Terraform: the ephemeral resource feeds a local-exec
//! environment and never reaches state, saved plans, `show -json` or TF_LOG=trace output; the
//! data source's token verifies against the credentials.

use crate::support;

use aws_credential_types::Credentials;
use support::{Workspace, plan_file_text, provider_bin};
use terraform_provider_rdsiam::aws::token;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SESSION: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with+plus=";

fn creds() -> Credentials {
    Credentials::new(KEY_ID, SECRET, Some(SESSION.to_string()), None, "test")
}

fn workspace(version: &str) -> Workspace {
    let mut ws = Workspace::new(version, provider_bin());
    ws.set_aws_credentials(KEY_ID, SECRET, SESSION);
    ws
}

const PROVIDER: &str = concat!(
    crate::required_providers!(),
    r#"provider "rdsiam" {
  aws {
    region = "eu-west-1"
  }
}
"#
);

fn assert_no_secrets(what: &str, text: &str, token: &str) {
    assert!(!text.contains(token), "{what} contains the token");
    // The signature alone identifies a token, even if the rest were reformatted.
    if let Some((_, sig)) = token.rsplit_once("X-Amz-Signature=") {
        assert!(!text.contains(sig), "{what} contains the token's signature");
    }
    assert!(
        !text.contains(SECRET),
        "{what} contains the secret access key"
    );
    assert!(!text.contains(SESSION), "{what} contains the session token");
}

#[test]
fn ephemeral_token_is_used_but_never_stored() {
    let ws = workspace("1.15.5");
    ws.write(
        "main.tf",
        &format!(
            r#"{PROVIDER}
ephemeral "rdsiam_auth_token" "db" {{
  hostname = "mydb.cluster-abc123.eu-west-1.rds.amazonaws.com"
  username = "mario.rossi@example.com"
}}

resource "terraform_data" "migrate" {{
  input = "run once"
  provisioner "local-exec" {{
    command     = "printf '%s' \"$PGPASSWORD\" > token.out"
    environment = {{
      PGPASSWORD = ephemeral.rdsiam_auth_token.db.token
    }}
  }}
}}
"#
        ),
    );
    ws.ok(&["plan", "-out=saved.tfplan"]);
    let apply = ws.run_env(
        &["apply", "-no-color", "saved.tfplan"],
        &[("TF_LOG", "trace")],
    );
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);

    // The local-exec got a real token for this user and endpoint, signed with our credentials.
    let tok = ws.read("token.out");
    assert!(
        tok.starts_with(
            "mydb.cluster-abc123.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=mario.rossi%40example.com&"
        ),
        "{tok}"
    );
    token::verify(&tok, &creds(), "eu-west-1").unwrap_or_else(|e| panic!("{e}"));

    let state = ws.read("terraform.tfstate");
    assert_no_secrets("terraform.tfstate", &state, &tok);
    assert_no_secrets(
        "saved plan",
        &plan_file_text(&ws.path().join("saved.tfplan")),
        &tok,
    );
    assert_no_secrets(
        "TF_LOG=trace apply output",
        &format!("{}{}", apply.stdout, apply.stderr),
        &tok,
    );
    let show = ws.tf(&["show", "-json"]);
    assert_no_secrets("show -json", &show.stdout, &tok);
    assert_eq!(ws.plan_exit_code(), 0);
    ws.ok(&["destroy"]);
}

#[test]
fn data_source_token_verifies_and_says_when_it_expires() {
    for version in ["1.15.5", "1.0.3"] {
        let ws = workspace(version);
        ws.write(
            "main.tf",
            &format!(
                r#"{PROVIDER}
data "rdsiam_auth_token" "db" {{
  hostname   = "mydb.cluster-abc123.eu-west-1.rds.amazonaws.com"
  port       = 5432
  username   = "app_service"
  expires_in = 300
}}
output "token" {{
  value     = data.rdsiam_auth_token.db.token
  sensitive = true
}}
output "expires_at" {{ value = data.rdsiam_auth_token.db.expires_at }}
output "region" {{ value = data.rdsiam_auth_token.db.region }}
"#
            ),
        );
        let apply = ws.ok(&["apply"]);
        assert!(
            apply.stdout.contains("token = <sensitive>"),
            "{version}: {}",
            apply.stdout
        );
        let out = ws.output_json();
        let tok = out["token"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(tok.contains("X-Amz-Expires=300&"), "{version}: {tok}");
        token::verify(&tok, &creds(), "eu-west-1").unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(out["region"]["value"], "eu-west-1");
        let expires = out["expires_at"]["value"].as_str().unwrap_or_default();
        assert!(
            expires.len() == 20 && expires.ends_with('Z') && expires.contains('T'),
            "{version}: {expires}"
        );
        ws.ok(&["destroy"]);
    }
}

#[test]
fn bad_token_input_fails_at_plan() {
    let ws = workspace("1.15.5");
    ws.write(
        "main.tf",
        &format!(
            r#"{PROVIDER}
ephemeral "rdsiam_auth_token" "db" {{
  hostname   = "https://mydb.example.com/"
  port       = 70000
  username   = ""
  expires_in = 3600
}}
resource "terraform_data" "x" {{
  input = "x"
  provisioner "local-exec" {{
    command     = "true"
    environment = {{ T = ephemeral.rdsiam_auth_token.db.token }}
  }}
}}
"#
        ),
    );
    let out = ws.fails(&["plan"]);
    out.assert_mentions(&[
        "Invalid hostname",
        "Invalid port",
        "Invalid username",
        "Invalid expires_in",
    ]);
}
