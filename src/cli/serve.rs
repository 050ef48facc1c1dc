//! `psn serve`: the MCP server on stdin/stdout. Nothing but MCP may reach stdout here.

use std::process::ExitCode;

use super::ServeArgs;
use crate::config::Settings;

pub async fn run(settings: Settings, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    if args.no_scheduler {
        tracing::debug!("--no-scheduler: this process only answers MCP");
    }
    crate::mcp::serve(settings).await?;
    Ok(ExitCode::SUCCESS)
}
