//! `psn pending` (the queue) and `psn accounts` (where it publishes to).

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;

use super::post::{actor, open, show};
use crate::app::posts::{self, ListPendingInput};
use crate::app::{AppError, Ctx, accounts};
use crate::config::Settings;
use crate::domain::{Platform, PostStatus};

#[derive(Debug, Args)]
pub struct PendingArgs {
    /// Only this status (repeatable; default: scheduled, pending_approval, publishing, failed, needs_reconcile).
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    /// Only this platform.
    #[arg(long)]
    pub platform: Option<String>,
    /// Only this account: id or handle.
    #[arg(long)]
    pub account: Option<String>,
    /// Only posts due at or after this RFC 3339 time.
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// Only posts due before this RFC 3339 time.
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// Page size (1 to 200).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// The cursor printed at the end of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[arg(long)]
    pub json: bool,
}

pub async fn run(settings: &Settings, args: PendingArgs) -> anyhow::Result<ExitCode> {
    let statuses = args
        .status
        .iter()
        .map(|s| {
            PostStatus::parse(s.trim()).ok_or_else(|| {
                let names: Vec<&str> = PostStatus::ALL.iter().map(|s| s.as_str()).collect();
                AppError::invalid(format!(
                    "unknown status `{s}`: use one of {}",
                    names.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let platform = args
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let actor = actor();
    let store = open(settings).await?;
    let cx = Ctx::new(store.as_ref(), settings, &actor);
    let input = ListPendingInput {
        statuses,
        platform,
        account: args.account,
        from: args.from,
        to: args.to,
        limit: Some(args.limit),
        cursor: args.cursor,
    };
    let page = posts::list_pending(cx, input).await?;
    show(&page, args.json, |p| {
        p.summary()
            .replace("call again with cursor", "psn pending --cursor")
    });
    Ok(ExitCode::SUCCESS)
}

pub async fn run_accounts(settings: &Settings, args: AccountsArgs) -> anyhow::Result<ExitCode> {
    let actor = actor();
    let store = open(settings).await?;
    let cx = Ctx::new(store.as_ref(), settings, &actor);
    let list = accounts::list_accounts(cx).await?;
    show(&list, args.json, |l| l.summary());
    Ok(ExitCode::SUCCESS)
}
