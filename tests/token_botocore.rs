//! Our RDS IAM auth tokens against real botocore (`RDS.Client.generate_db_auth_token`), byte
//! for byte, with botocore's clock frozen at the instant we sign at.
//!
//! All cases run in one Python process (`tests/py/botocore_token.py`), which needs the venv
//! made by `scripts/install-tools.sh`.

use crate::support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use serde_json::{Value, json};
use terraform_provider_rdsiam::aws::token::{self, MAX_EXPIRES_IN, TokenRequest};

/// 2026-11-22T18:30:00Z
const EPOCH: u64 = 1_795_372_200;

#[derive(Debug, Clone)]
struct Case {
    hostname: String,
    port: u16,
    username: String,
    region: String,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
    expires_in: u64,
}

impl Case {
    fn creds(&self) -> Credentials {
        Credentials::new(
            self.access_key.clone(),
            self.secret_key.clone(),
            self.session_token.clone(),
            None,
            "test",
        )
    }

    fn request(&self) -> TokenRequest<'_> {
        TokenRequest {
            hostname: &self.hostname,
            port: self.port,
            username: &self.username,
            region: &self.region,
            expires_in: Duration::from_secs(self.expires_in),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "hostname": self.hostname,
            "port": self.port,
            "username": self.username,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "session_token": self.session_token,
            "expires_in": self.expires_in,
        })
    }
}

fn venv_python() -> PathBuf {
    let py = support::venv_bin("python");
    if !py.is_file() {
        panic!(
            "{} not found: the botocore comparison needs the test tools.\n\
             Install them by running, from the repository root:\n\n    scripts/install-tools.sh\n",
            py.display()
        );
    }
    py
}

/// botocore's token for every case (one Python process), in order.
fn botocore_tokens(cases: &[Case]) -> Vec<Result<String, String>> {
    let script = support::repo_root().join("tests/py/botocore_token.py");
    let input = json!({
        "mode": "tokens",
        "epoch": EPOCH,
        "cases": cases.iter().map(Case::to_json).collect::<Vec<_>>(),
    });
    let mut child = Command::new(venv_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .expect("write cases to python");
    let out = child.wait_with_output().expect("wait for python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "botocore_token.py failed ({}); if botocore is missing run scripts/install-tools.sh\n{stderr}",
        out.status
    );
    let results: Vec<Result<String, String>> = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad JSON line from python: {e}: {line}"));
            match (v["token"].as_str(), v["error"].as_str()) {
                (Some(t), _) => Ok(t.to_string()),
                (None, Some(e)) => Err(e.to_string()),
                _ => panic!("unexpected line from python: {line}"),
            }
        })
        .collect();
    assert_eq!(results.len(), cases.len(), "python stderr:\n{stderr}");
    results
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH)
}

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn table() -> Vec<Case> {
    let users = [
        "app",
        "UPPER",
        "mario.rossi@example.com",
        "a+b c~d*e/f",
        "üser",
        "用户",
        "a\"b",
        "x'y;--%00&=?#",
    ];
    let hosts = [
        "MyCluster.Cluster-ABC.eu-west-1.RDS.amazonaws.com",
        "mydb.cluster-c9akciq32.us-east-1.rds.amazonaws.com",
        "127.0.0.1",
        "[::1]",
    ];
    let regions = ["us-east-1", "cn-north-1", "us-gov-west-1"];
    let tokens = [
        None,
        Some("FwoGZXIvYXdzEBYaDH+abc/def==".to_string()),
        Some(String::new()),
    ];
    let mut cases = Vec::new();
    for (i, user) in users.iter().enumerate() {
        for (j, host) in hosts.iter().enumerate() {
            for port in [443u16, 5432] {
                for (k, region) in regions.iter().enumerate() {
                    // Every user with every host, port and region; session tokens rotate so
                    // each user also meets each token.
                    let session_token = tokens[(i + j + k + port as usize) % tokens.len()].clone();
                    cases.push(Case {
                        hostname: host.to_string(),
                        port,
                        username: user.to_string(),
                        region: region.to_string(),
                        access_key: "ASIAEXAMPLE123456789".to_string(),
                        secret_key: SECRET.to_string(),
                        session_token,
                        expires_in: 900,
                    });
                }
            }
        }
    }
    // Other lifetimes (botocore's method always signs 900 s: the helper uses its request signer).
    for expires_in in [1, 60, 899] {
        cases.push(Case {
            hostname: "db.example.com".into(),
            port: 5432,
            username: "app".into(),
            region: "eu-west-1".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: SECRET.into(),
            session_token: Some("tok+en/x==".into()),
            expires_in,
        });
    }
    cases
}

/// Deterministic "random" user names drawn from ASCII punctuation and multi-byte characters,
/// so the escaping is compared well beyond the fixed table.
fn generated_users(n: usize) -> Vec<String> {
    let pool: Vec<char> = (0x20u8..0x7f)
        .map(char::from)
        .chain("äöüßéñçøЖж中文字日本語한국🙂\u{7f}\u{1}\t".chars())
        .collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let len = 1 + (next() % 20) as usize;
            let mut s = String::new();
            while s.chars().count() < len {
                let c = pool[(next() % pool.len() as u64) as usize];
                if s.len() + c.len_utf8() > 63 {
                    break;
                }
                s.push(c);
            }
            if s.is_empty() {
                s.push('u');
            }
            s
        })
        .collect()
}

#[test]
fn tokens_match_botocore_byte_for_byte() {
    let mut cases = table();
    for (i, user) in generated_users(200).into_iter().enumerate() {
        cases.push(Case {
            hostname: "Gen.cluster-xyz.ap-southeast-2.rds.amazonaws.com".into(),
            port: if i % 2 == 0 { 5432 } else { 443 },
            username: user,
            region: "ap-southeast-2".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: SECRET.into(),
            session_token: (i % 3 == 0).then(|| "IQoJb3JpZ2luX2VjE+/=".to_string()),
            expires_in: 900,
        });
    }
    let expected = botocore_tokens(&cases);
    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let ours = token::generate(&case.creds(), &case.request(), now());
        match (want, &ours) {
            (Ok(w), Ok(o)) if w == o => {}
            _ => failures.push(format!(
                "{case:?}\n  botocore: {want:?}\n  ours:     {ours:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} tokens differ from botocore:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} tokens identical to botocore's", cases.len());
}

#[test]
fn botocore_token_order_and_shape() {
    // The exact layout botocore emits, checked on botocore's own output so a botocore upgrade
    // that changes it is noticed here and not only as a mismatch.
    let case = Case {
        hostname: "MyCluster.Cluster-ABC.eu-west-1.RDS.amazonaws.com".into(),
        port: 5432,
        username: "a+b c".into(),
        region: "eu-west-1".into(),
        access_key: "AKIDEXAMPLE".into(),
        secret_key: SECRET.into(),
        session_token: Some("a+b/c=".into()),
        expires_in: 900,
    };
    let t = botocore_tokens(std::slice::from_ref(&case))
        .remove(0)
        .expect("botocore token");
    let (authority, query) = t.split_once("/?").expect("HOST:PORT/?QUERY");
    assert_eq!(
        authority, "MyCluster.Cluster-ABC.eu-west-1.RDS.amazonaws.com:5432",
        "botocore keeps the host's case in the token"
    );
    let names: Vec<&str> = query
        .split('&')
        .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
        .collect();
    assert_eq!(
        names,
        [
            "Action",
            "DBUser",
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Security-Token",
            "X-Amz-Signature",
        ]
    );
    assert!(query.contains("DBUser=a%2Bb%20c&"), "{query}");
    assert!(
        query.contains("X-Amz-Security-Token=a%2Bb%2Fc%3D&"),
        "{query}"
    );
}

#[test]
fn verify_accepts_right_secret_rejects_wrong_secret_and_tampered_user() {
    let case = Case {
        hostname: "MyCluster.Cluster-ABC.eu-west-1.RDS.amazonaws.com".into(),
        port: 5432,
        username: "mario.rossi@example.com".into(),
        region: "eu-west-1".into(),
        access_key: "ASIAEXAMPLE123456789".into(),
        secret_key: SECRET.into(),
        session_token: Some("FwoGZXIvYXdzEBYaDH+abc/def==".into()),
        expires_in: MAX_EXPIRES_IN.as_secs(),
    };
    // botocore's token, so verify is checked against the reference and not only against us.
    let t = botocore_tokens(std::slice::from_ref(&case))
        .remove(0)
        .expect("botocore token");
    token::verify(&t, &case.creds(), "eu-west-1").expect("right secret verifies");

    let wrong = Case {
        secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ".into(),
        ..case.clone()
    };
    let e = token::verify(&t, &wrong.creds(), "eu-west-1").expect_err("wrong secret");
    assert!(e.to_string().contains("signature does not match"), "{e}");
    assert!(!e.to_string().contains("wJalr"), "no secret in {e}");

    let tampered = t.replace("DBUser=mario.rossi", "DBUser=admin.rossi");
    assert_ne!(tampered, t);
    token::verify(&tampered, &case.creds(), "eu-west-1").expect_err("tampered user");
}

#[test]
fn expires_at_matches_the_token() {
    let case = &table()[0];
    let t = token::generate(&case.creds(), &case.request(), now()).expect("token");
    assert!(t.contains("X-Amz-Date=20261122T183000Z&X-Amz-Expires=900&"));
    assert_eq!(
        token::expires_at(now(), MAX_EXPIRES_IN),
        "2026-11-22T18:45:00Z"
    );
}
