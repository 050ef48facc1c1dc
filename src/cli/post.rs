//! `psn post …`: the post tools for people. Same use cases as the MCP tools.

use std::io::Read;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::app::posts::{
    self, CancelPostInput, CreatePostInput, GetPostInput, MediaInput, PartInput, RetryPostInput,
    SchedulePostInput, TargetInput, UpdatePostInput,
};
use crate::app::{AppError, Ctx};
use crate::config::Settings;
use crate::domain::{Platform, PostId};
use crate::store::DynStore;

#[derive(Debug, Subcommand)]
pub enum PostCommand {
    /// Create a draft for one or more platforms (and schedule it with --at).
    Create(CreateArgs),
    /// Schedule a post, or every post of a group, at a time.
    Schedule(ScheduleArgs),
    /// Cancel a post or group (or take it back to draft with --keep-draft).
    Cancel(CancelArgs),
    /// Show one post with its history.
    Show(ShowArgs),
    /// Replace a post's text.
    Update(UpdateArgs),
    /// Queue a failed post to publish again now.
    Retry(RetryArgs),
}

/// The text and media of a post.
#[derive(Debug, Args)]
pub struct ContentArgs {
    /// The text; several values make a thread, one part each. `-` reads a part from stdin.
    #[arg(required = true, value_name = "TEXT")]
    pub parts: Vec<String>,
    /// A picture or video for the first part: a file path or an https URL. Repeatable.
    #[arg(long, value_name = "PATH_OR_URL")]
    pub media: Vec<String>,
    /// Alt text for the media, in the same order as --media.
    #[arg(long, value_name = "TEXT")]
    pub alt: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Where to post: a platform or platform:account, e.g. `x` or `bluesky:@me.bsky.social`. Repeatable.
    #[arg(long = "to", required = true, value_name = "PLATFORM[:ACCOUNT]")]
    pub to: Vec<String>,
    #[command(flatten)]
    pub content: ContentArgs,
    /// Schedule right away: `now`, RFC 3339, or a local `YYYY-MM-DD HH:MM`.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The IANA zone for a local --at time (default: PSN_TIMEZONE).
    #[arg(long, value_name = "ZONE", requires = "at")]
    pub zone: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// A post id (`post_…`) or group id (`grp_…`).
    pub id: String,
    /// `now`, RFC 3339 with an offset, or a local `YYYY-MM-DD HH:MM`.
    pub at: String,
    /// The IANA zone for a local time (default: PSN_TIMEZONE).
    #[arg(long, value_name = "ZONE")]
    pub zone: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// A post id (`post_…`) or group id (`grp_…`).
    pub id: String,
    /// Take the post back to draft instead of cancelling it for good.
    #[arg(long)]
    pub keep_draft: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub post_id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub post_id: String,
    #[command(flatten)]
    pub content: ContentArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    pub post_id: String,
    /// Publish again without asking the platform first whether the earlier attempt went
    /// out (only after you checked the account and the post is not there).
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

/// Who the audit log says acted: `cli:<user>`.
pub(super) fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{}", user.chars().take(64).collect::<String>())
}

/// Prints `out` as pretty JSON or as its summary.
pub(super) fn show<T: Serialize>(out: &T, json: bool, summary: impl FnOnce(&T) -> String) {
    if json {
        match serde_json::to_string_pretty(out) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("psn: cannot encode the result: {e}"),
        }
    } else {
        println!("{}", summary(out));
    }
}

pub(super) async fn open(settings: &Settings) -> anyhow::Result<DynStore> {
    crate::store::open(settings).await
}

fn parse_id(input: &str) -> Result<PostId, AppError> {
    PostId::parse(input.trim()).map_err(|e| AppError::invalid(e.to_string()))
}

fn targets(to: &[String]) -> Result<Vec<TargetInput>, AppError> {
    to.iter()
        .map(|t| {
            let (platform, account) = match t.split_once(':') {
                Some((p, a)) => (p, Some(a.to_owned())),
                None => (t.as_str(), None),
            };
            let platform =
                Platform::parse(platform).map_err(|e| AppError::invalid(e.to_string()))?;
            Ok(TargetInput { platform, account })
        })
        .collect()
}

fn parts(content: &ContentArgs) -> anyhow::Result<Vec<PartInput>> {
    let mut stdin_used = false;
    let mut parts = Vec::with_capacity(content.parts.len());
    for text in &content.parts {
        let text = if text == "-" {
            anyhow::ensure!(!stdin_used, "only one part can be read from stdin (`-`)");
            stdin_used = true;
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches('\n').to_owned()
        } else {
            text.clone()
        };
        parts.push(PartInput {
            text,
            media: Vec::new(),
        });
    }
    if let Some(first) = parts.first_mut() {
        first.media = content
            .media
            .iter()
            .enumerate()
            .map(|(i, source)| MediaInput {
                source: source.clone(),
                alt: content.alt.get(i).cloned(),
            })
            .collect();
    }
    Ok(parts)
}

pub async fn run(settings: &Settings, command: PostCommand) -> anyhow::Result<ExitCode> {
    let actor = actor();
    let store = open(settings).await?;
    let cx = Ctx::new(store.as_ref(), settings, &actor);
    match command {
        PostCommand::Create(a) => {
            let input = CreatePostInput {
                targets: targets(&a.to)?,
                parts: parts(&a.content)?,
            };
            let created = posts::create_post(cx, input).await?;
            let scheduled = match &a.at {
                Some(at) => Some(
                    posts::schedule_post(
                        cx,
                        SchedulePostInput {
                            id: created.group_id.to_string(),
                            at: at.clone(),
                            zone: a.zone.clone(),
                        },
                    )
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "created group {} as drafts, but scheduling failed: {e}",
                            created.group_id
                        )
                    })?,
                ),
                None => None,
            };
            if a.json {
                show(
                    &serde_json::json!({ "created": created, "scheduled": scheduled }),
                    true,
                    |_| String::new(),
                );
            } else {
                println!("{}", created.summary());
                match scheduled {
                    Some(s) => println!("{}", s.summary()),
                    None => println!("Next: psn post schedule {} <time>", created.group_id),
                }
            }
        }
        PostCommand::Schedule(a) => {
            let out = posts::schedule_post(
                cx,
                SchedulePostInput {
                    id: a.id,
                    at: a.at,
                    zone: a.zone,
                },
            )
            .await?;
            show(&out, a.json, |o| o.summary());
        }
        PostCommand::Cancel(a) => {
            let out = posts::cancel_post(
                cx,
                CancelPostInput {
                    id: a.id,
                    keep_draft: a.keep_draft,
                },
            )
            .await?;
            show(&out, a.json, |o| o.summary());
        }
        PostCommand::Show(a) => {
            let post_id = parse_id(&a.post_id)?;
            let out = posts::get_post(cx, GetPostInput { post_id }).await?;
            show(&out, a.json, |o| o.summary());
        }
        PostCommand::Update(a) => {
            let post_id = parse_id(&a.post_id)?;
            let input = UpdatePostInput {
                post_id,
                parts: parts(&a.content)?,
            };
            let out = posts::update_post(cx, input).await?;
            show(&out, a.json, |o| o.summary());
        }
        PostCommand::Retry(a) => {
            let post_id = parse_id(&a.post_id)?;
            let out = posts::retry_post(
                cx,
                RetryPostInput {
                    post_id,
                    force: a.force,
                },
            )
            .await?;
            show(&out, a.json, |o| o.summary());
        }
    }
    Ok(ExitCode::SUCCESS)
}
