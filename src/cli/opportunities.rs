//! `psn opportunities`: conversations worth joining, scored against the strategy's pillars.

use std::process::ExitCode;

use clap::Args;

use super::metrics::access;
use super::post::{actor, open, show};
use crate::app::metrics::Progress;
use crate::app::opportunities::{self, ScoreOpportunitiesInput};
use crate::app::{AppError, Ctx};
use crate::config::Settings;
use crate::domain::Platform;

#[derive(Debug, Args)]
pub struct OpportunitiesArgs {
    /// Only this pillar of the strategy.
    #[arg(long)]
    pub pillar: Option<String>,
    /// Only these platforms (repeatable): x, bluesky.
    #[arg(long)]
    pub platform: Vec<String>,
    /// Show at most this many.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Also show opportunities shown before.
    #[arg(long)]
    pub include_seen: bool,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(settings: &Settings, a: OpportunitiesArgs) -> anyhow::Result<ExitCode> {
    let actor = actor();
    let store = open(settings).await?;
    let cx = Ctx::new(store.as_ref(), settings, &actor);
    let platforms = a
        .platform
        .iter()
        .map(|p| Platform::parse(p).map_err(|e| AppError::invalid(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let input = ScoreOpportunitiesInput {
        pillar: a.pillar,
        platforms: (!platforms.is_empty()).then_some(platforms),
        limit: Some(a.limit),
        include_seen: a.include_seen,
    };
    let quiet = a.json;
    let progress = move |p: Progress| {
        if !quiet {
            eprintln!("[{}/{}] {}", p.done, p.total, p.message);
        }
    };
    let out = opportunities::score_opportunities(cx, &access(settings), &input, &progress).await?;
    show(&out, a.json, |o| o.summary());
    Ok(ExitCode::SUCCESS)
}
