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
            peak_rss_file: std::env::var_os("RDSIAM_RSS_FILE").map(Into::into),
        },
    ));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
