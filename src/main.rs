use std::process::ExitCode;
use std::sync::Arc;

use terraform_provider_rdsiam::provider::{PROVIDER_ADDRESS, RdsIam};
use terraform_provider_rdsiam::tfplugin::{ServeOptions, serve};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
            "terraform-provider-rdsiam: unknown argument {other:?} (accepted: --debug, --version)"
        );
        return ExitCode::from(2);
    }
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
        },
    ));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
