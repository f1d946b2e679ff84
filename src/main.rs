use std::process::ExitCode;
use std::sync::Arc;

use terraform_provider_rdsiam::provider::{PROVIDER_ADDRESS, RdsIam};
use terraform_provider_rdsiam::tfplugin::{ServeOptions, serve};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(("docs", rest)) = args.split_first().map(|(a, r)| (a.as_str(), r)) {
        return terraform_provider_rdsiam::docs::main(&RdsIam::new(), rest);
    }
    if args.iter().any(|a| a == "--version" || a == "-version") {
        println!("terraform-provider-rdsiam {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let debug = args.iter().any(|a| a == "--debug" || a == "-debug");
    if let Some(other) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--debug" | "-debug"))
    {
        eprintln!(
            "terraform-provider-rdsiam: unknown argument {other:?} (accepted: --debug, --version, docs [--check] [DIR])"
        );
        return ExitCode::from(2);
    }
    // Levels from TF_LOG / TF_LOG_PROVIDER…; silent unless Terraform was asked for logs.
    terraform_provider_rdsiam::tfplugin::log::init(PROVIDER_ADDRESS);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terraform-provider-rdsiam: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(
        Arc::new(RdsIam::new()),
        ServeOptions {
            debug,
            provider_address: PROVIDER_ADDRESS.to_string(),
            on_shutdown: std::env::var_os("RDSIAM_RSS_FILE").map(|path| {
                let path = std::path::PathBuf::from(path);
                Box::new(move || record_peak_rss(&path)) as Box<dyn Fn() + Send + Sync>
            }),
        },
    ));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Benchmark hook (`RDSIAM_RSS_FILE`): the process's peak resident set (`VmHWM`) and CPU time,
/// appended as one line `{"pid":…,"peak_rss_kb":…,"cpu_ms":…}` (benches/scale.rs reads it).
/// Shutdown is the only moment the whole run's figures are known.
fn record_peak_rss(path: &std::path::Path) {
    use std::io::Write;
    let kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    // utime + stime (fields 14 and 15, after the parenthesised command name), in clock ticks
    // (USER_HZ, 100 on Linux).
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    let line = format!(
        "{{\"pid\":{},\"peak_rss_kb\":{kb},\"cpu_ms\":{}}}\n",
        std::process::id(),
        ticks * 10
    );
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
