//! `psn serve`: the MCP server on stdin/stdout. Nothing but MCP may reach stdout here.

use std::process::ExitCode;

use super::ServeArgs;
use crate::config::Settings;

pub async fn run(settings: Settings, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let run_scheduler = settings.scheduler.enabled && !args.no_scheduler;
    if !run_scheduler {
        tracing::info!(
            "the scheduler is off in this process: run `psn scheduler` elsewhere to publish"
        );
    }
    crate::mcp::serve(settings, run_scheduler).await?;
    Ok(ExitCode::SUCCESS)
}
