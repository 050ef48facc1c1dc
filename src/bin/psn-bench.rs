//! `psn-bench`: the benchmark harness (BENCHMARKS.md) as its own binary, so the shipped
//! `psn` carries neither the harness nor the fake platform servers it publishes to.
//! Run it as `cargo run --release --bin psn-bench -- all`; it measures the `psn` beside it
//! (`--psn FILE` names another).

use std::process::ExitCode;

use clap::Parser;
use psn::cli::{self, bench::BenchArgs};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    // The in-process schedulers and fakes log to stderr; the table goes to stdout.
    let filter = std::env::var("PSN_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("psn-bench: cannot start the async runtime: {e}");
            return ExitCode::from(cli::exit::FAILED);
        }
    };
    match runtime.block_on(cli::bench::run(&args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("psn-bench: {e:#}");
            ExitCode::from(cli::exit::FAILED)
        }
    }
}
