//! The `psn` binary: parse the command line, set up logging to stderr, dispatch.

use std::process::ExitCode;

use clap::Parser;
use psn::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (settings, warnings) = match cli::load_settings(&cli) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("psn: {e}");
            return ExitCode::from(cli::exit::CONFIG);
        }
    };
    // stdout belongs to MCP in `psn serve`: logs always go to stderr.
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("psn: cannot start the async runtime: {e}");
            return ExitCode::from(cli::exit::FAILED);
        }
    };
    match runtime.block_on(cli::run(cli, settings, warnings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("psn: {e:#}");
            ExitCode::from(cli::exit_code_for(&e))
        }
    }
}
