//! RDS IAM auth token generation time: this provider vs botocore in-process vs `aws rds
//! generate-db-auth-token`. Target: <= 1 ms per token for ours.
//!
//! Needs `[[bench]] name = "token" harness = false` in Cargo.toml.
//!
//! * `cargo bench --bench token`: the full run (many iterations, the aws CLI a few times).
//! * without `--bench` (as `cargo test --all-targets` runs it): a quick smoke run of a few
//!   iterations, no aws CLI, always exit 0.
//!
//! botocore and the aws CLI come from `.tools/venv` (`scripts/install-tools.sh`); if it is
//! missing they are skipped with a note.

// Compiled as a test (harness = true, i.e. without the Cargo.toml entry) `main` is unused.
#![cfg_attr(test, allow(dead_code))]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use terraform_provider_rdsiam::aws::token::{self, MAX_EXPIRES_IN, TokenRequest};

const HOST: &str = "mydb.cluster-c9akciq32.eu-west-1.rds.amazonaws.com";
const PORT: u16 = 5432;
const USER: &str = "mario.rossi@example.com";
const REGION: &str = "eu-west-1";
const ACCESS_KEY: &str = "ASIAEXAMPLE123456789";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEBYaDH+abc/def==";

struct Stats {
    label: String,
    iterations: usize,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
}

fn stats(label: &str, mut samples_ns: Vec<u128>) -> Stats {
    samples_ns.sort_unstable();
    let n = samples_ns.len().max(1);
    let us = |ns: u128| ns as f64 / 1000.0;
    Stats {
        label: label.to_string(),
        iterations: samples_ns.len(),
        mean_us: us(samples_ns.iter().sum::<u128>()) / n as f64,
        p50_us: samples_ns.get(n / 2).copied().map_or(0.0, us),
        p99_us: samples_ns.get((n * 99) / 100).copied().map_or(0.0, us),
    }
}

fn ours(iterations: usize) -> Stats {
    let creds = Credentials::new(
        ACCESS_KEY,
        SECRET,
        Some(SESSION_TOKEN.to_string()),
        None,
        "bench",
    );
    let req = TokenRequest {
        hostname: HOST,
        port: PORT,
        username: USER,
        region: REGION,
        expires_in: MAX_EXPIRES_IN,
    };
    // Warm up (allocator, caches).
    for _ in 0..iterations.min(100) {
        std::hint::black_box(token::generate(&creds, &req, SystemTime::now()).expect("token"));
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t0 = Instant::now();
        let t = token::generate(&creds, std::hint::black_box(&req), SystemTime::now());
        samples.push(t0.elapsed().as_nanos());
        std::hint::black_box(t.expect("token"));
    }
    stats("rdsiam (Rust, aws-sigv4)", samples)
}

/// `name` from the tools venv, if installed.
fn venv_bin(name: &str) -> Option<PathBuf> {
    Some(support::venv_bin(name)).filter(|p| p.is_file())
}

/// botocore's `generate_db_auth_token` timed per call inside one Python process.
fn botocore(python: &Path, iterations: usize) -> Result<Stats, String> {
    let input = serde_json::json!({
        "mode": "bench",
        "iterations": iterations,
        "case": {
            "hostname": HOST, "port": PORT, "username": USER, "region": REGION,
            "access_key": ACCESS_KEY, "secret_key": SECRET, "session_token": SESSION_TOKEN,
        },
    });
    let mut child = Command::new(python)
        .arg(support::repo_root().join("tests/py/botocore_token.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(input.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bad JSON from python: {e}"))?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Stats {
        label: "botocore in-process (Python)".into(),
        iterations: v["iterations"].as_u64().unwrap_or(0) as usize,
        mean_us: f("mean_us"),
        p50_us: f("p50_us"),
        p99_us: f("p99_us"),
    })
}

/// `aws rds generate-db-auth-token`, a whole process per token, wall time per call.
fn aws_cli(aws: &Path, runs: usize) -> Result<Stats, String> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let out = Command::new(aws)
            .args([
                "rds",
                "generate-db-auth-token",
                "--hostname",
                HOST,
                "--port",
                &PORT.to_string(),
                "--username",
                USER,
                "--region",
                REGION,
            ])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", aws.display()))?;
        samples.push(t0.elapsed().as_nanos());
        if !out.status.success() || !out.stdout.starts_with(HOST.as_bytes()) {
            return Err(format!(
                "aws rds generate-db-auth-token failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(stats("aws rds generate-db-auth-token (CLI)", samples))
}

fn main() {
    let full = support::full_bench();
    let (n_ours, n_boto, n_cli) = if full { (50_000, 3_000, 5) } else { (20, 5, 0) };
    if !full {
        println!(
            "token bench: quick run (pass --bench, e.g. `cargo bench --bench token`, for the full one)"
        );
    }

    let mut rows = vec![ours(n_ours)];
    match venv_bin("python") {
        Some(py) => match botocore(&py, n_boto) {
            Ok(s) => rows.push(s),
            Err(e) => println!("botocore: skipped, {e}"),
        },
        None => println!("botocore: skipped, no .tools/venv (run scripts/install-tools.sh)"),
    }
    if n_cli > 0 {
        match venv_bin("aws") {
            Some(aws) => match aws_cli(&aws, n_cli) {
                Ok(s) => rows.push(s),
                Err(e) => println!("aws CLI: skipped, {e}"),
            },
            None => println!("aws CLI: skipped, no .tools/venv/bin/aws"),
        }
    }

    println!();
    println!(
        "{:<38} {:>8} {:>12} {:>12} {:>12} {:>10}",
        "per token", "n", "mean µs", "p50 µs", "p99 µs", "x ours"
    );
    let base = rows[0].mean_us;
    for r in &rows {
        println!(
            "{:<38} {:>8} {:>12.1} {:>12.1} {:>12.1} {:>10.1}",
            r.label,
            r.iterations,
            r.mean_us,
            r.p50_us,
            r.p99_us,
            r.mean_us / base
        );
    }
    if !full {
        return;
    }
    let target = Duration::from_millis(1).as_secs_f64() * 1e6;
    println!(
        "\nrdsiam mean {:.1} µs per token: {} the <= {target:.0} µs target",
        base,
        if base <= target { "meets" } else { "MISSES" }
    );
}
