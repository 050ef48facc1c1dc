//! `psn scheduler`: publish due posts without the MCP server.

use std::process::ExitCode;

use super::SchedulerArgs;
use crate::config::Settings;
use crate::scheduler::runtime;

pub async fn run(settings: &Settings, args: &SchedulerArgs) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(settings).await?;
    let summary = runtime::run_headless(settings, store, args.once).await?;
    if args.once {
        println!(
            "claimed {} due, reconciled {}, took back {} expired leases, ran {} periodic jobs",
            summary.claimed, summary.reconciled, summary.swept, summary.jobs_run
        );
    }
    Ok(ExitCode::SUCCESS)
}
