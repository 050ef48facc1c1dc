//! `psn ideas add|list`: the idea bank.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::post::{actor, open, show};
use crate::app::ideas::{self, CaptureIdeaInput, ListIdeasInput};
use crate::app::{AppError, Ctx};
use crate::config::Settings;
use crate::domain::IdeaStatus;

#[derive(Debug, Subcommand)]
pub enum IdeasCommand {
    /// Save an idea.
    Add(AddArgs),
    /// List ideas, newest first.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The idea.
    pub text: String,
    /// A tag (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// The content pillar it serves.
    #[arg(long)]
    pub pillar: Option<String>,
    /// Where it came from (URL or note).
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this status: new, used or archived.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long)]
    pub pillar: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(settings: &Settings, command: IdeasCommand) -> anyhow::Result<ExitCode> {
    let actor = actor();
    let store = open(settings).await?;
    let cx = Ctx::new(store.as_ref(), settings, &actor);
    match command {
        IdeasCommand::Add(a) => {
            let input = CaptureIdeaInput {
                text: a.text,
                tags: a.tag,
                pillar: a.pillar,
                source: a.source,
            };
            let out = ideas::capture_idea(cx, input).await?;
            show(&out, a.json, |o| o.summary());
        }
        IdeasCommand::List(a) => {
            let status = a
                .status
                .as_deref()
                .map(|s| {
                    IdeaStatus::parse(s.trim()).ok_or_else(|| {
                        AppError::invalid(format!(
                            "unknown status `{s}`: use new, used or archived"
                        ))
                    })
                })
                .transpose()?;
            let input = ListIdeasInput {
                status,
                tag: a.tag,
                pillar: a.pillar,
                limit: Some(a.limit),
                cursor: a.cursor,
            };
            let out = ideas::list_ideas(cx, input).await?;
            show(&out, a.json, |o| {
                o.summary()
                    .replace("call again with cursor", "psn ideas list --cursor")
                    .replace(
                        "Capture one with capture_idea.",
                        "Add one with `psn ideas add`.",
                    )
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
