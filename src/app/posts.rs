//! Post use cases: create, edit, schedule, cancel, retry, read and list posts. The MCP
//! tools and the CLI call these; neither holds any rule of its own.
//!
//! Every change goes through `Post::apply` (the status machine) and `Store::update_post`
//! (optimistic concurrency + audit row). A write that loses a race with another writer
//! (usually the scheduler) is read again and retried a few times before it reports a
//! conflict.

mod change;
mod create;
mod query;
mod schedule;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::ctx::Ctx;
use super::error::{AppError, AppResult};
use super::text::preview;
use crate::domain::{AccountId, GroupId, Platform, Post, PostEvent, PostId, PostStatus};
use crate::store::{PageRequest, PostFilter, StoreError};

pub use change::{
    CancelPostInput, CancelledPosts, RetriedPost, RetryPostInput, UpdatePostInput, UpdatedPost,
    cancel_post, retry_post, update_post,
};
pub use create::{
    CreatePostInput, CreatedPost, CreatedPosts, MediaInput, PartInput, TargetInput, create_post,
};
pub use query::{
    AttemptView, AuditView, GetPostInput, ListPendingInput, PendingPage, PostDetail, TOTAL_CAP,
    get_post, list_pending,
};
pub use schedule::{SchedulePostInput, ScheduledPost, ScheduledPosts, schedule_post};

/// How many times a write that lost a race is retried from a fresh read.
const CONFLICT_RETRIES: usize = 3;

/// One post as lists and results show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PostSummary {
    pub id: PostId,
    pub group_id: GroupId,
    pub platform: Platform,
    /// The account it goes out from; `null` until one is connected.
    pub account_id: Option<AccountId>,
    pub status: PostStatus,
    /// When it is due (UTC): the asked time, or later after a retryable failure.
    pub run_at: Option<DateTime<Utc>>,
    /// The asked time in the zone it was scheduled in, e.g. `2026-03-01 09:00 CET (Europe/Berlin)`.
    pub scheduled_local: Option<String>,
    /// The first words of the first part.
    pub preview: String,
    /// How many parts (more than one is a thread).
    pub parts: u32,
    pub attempts: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// The post on the platform, once published.
    pub platform_url: Option<String>,
}

impl PostSummary {
    pub fn of(post: &Post) -> Self {
        PostSummary {
            id: post.id.clone(),
            group_id: post.group_id.clone(),
            platform: post.platform,
            account_id: post.account_id.clone(),
            status: post.status,
            run_at: post.run_at,
            scheduled_local: scheduled_local(post),
            preview: post
                .content
                .parts
                .first()
                .map_or_else(String::new, |p| preview(&p.text, 80)),
            parts: u32::try_from(post.content.parts.len()).unwrap_or(u32::MAX),
            attempts: post.attempts,
            last_error: post.last_error.clone(),
            platform_url: post.platform_url.clone(),
        }
    }

    /// One line for people: `post_… x scheduled 2026-03-01 09:00 CET "Hello…"`.
    pub fn line(&self) -> String {
        let when = self
            .scheduled_local
            .clone()
            .or_else(|| {
                self.run_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            })
            .unwrap_or_else(|| "unscheduled".into());
        let mut line = format!(
            "{} {} {} {} \"{}\"",
            self.id, self.platform, self.status, when, self.preview
        );
        if self.parts > 1 {
            line.push_str(&format!(" ({} parts)", self.parts));
        }
        if let Some(e) = &self.last_error {
            line.push_str(&format!(" — {}", preview(e, 120)));
        }
        line
    }
}

/// The asked time in the zone it was asked in.
pub fn scheduled_local(post: &Post) -> Option<String> {
    let at = post.scheduled_at?;
    let zone = post.schedule_tz.as_deref()?;
    Some(local_time(at, zone))
}

/// `2026-03-01 09:00 CET (Europe/Berlin)`; UTC when the zone is unknown.
pub fn local_time(at: DateTime<Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => format!(
            "{} ({zone})",
            at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
        ),
        Err(_) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// A post id or a group id, as a tool or the CLI received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostRef {
    Post(PostId),
    Group(GroupId),
}

impl PostRef {
    pub fn parse(input: &str) -> AppResult<Self> {
        let input = input.trim();
        if input.starts_with("grp_") {
            GroupId::parse(input)
                .map(PostRef::Group)
                .map_err(|e| AppError::invalid(e.to_string()))
        } else {
            PostId::parse(input).map(PostRef::Post).map_err(|e| {
                AppError::invalid(format!(
                    "{e} (or a group id, `grp_` and 12 letters or digits)"
                ))
            })
        }
    }

    /// The posts it names: one, or every post of the group in time order.
    async fn load(&self, cx: Ctx<'_>) -> AppResult<Vec<Post>> {
        match self {
            PostRef::Post(id) => cx
                .store
                .get_post(id)
                .await
                .map(|p| vec![p])
                .map_err(|e| AppError::from_post_store(id.as_str(), e)),
            PostRef::Group(id) => {
                let filter = PostFilter {
                    group: Some(id.clone()),
                    ..PostFilter::default()
                };
                let page = cx
                    .store
                    .list_posts(&filter, &PageRequest::first(PageRequest::MAX_LIMIT))
                    .await?;
                if page.items.is_empty() {
                    return Err(AppError::NotFound {
                        kind: "post group",
                        id: id.to_string(),
                        hint: "create_post returns the group id; list_pending shows each post's group",
                    });
                }
                Ok(page.items)
            }
        }
    }
}

/// Applies `change` to a fresh read of the post and writes it, retrying when another
/// writer got there first. `change` returns the event and the post as it should become,
/// or an error that stops the attempt.
async fn write_post<F>(cx: Ctx<'_>, id: &PostId, mut change: F) -> AppResult<Post>
where
    F: FnMut(&Post) -> AppResult<(PostEvent, Post)>,
{
    let mut current = load_post(cx, id).await?;
    for attempt in 0..=CONFLICT_RETRIES {
        let (event, next) = change(&current)?;
        match cx.store.update_post(&current, &next, event, cx.actor).await {
            Ok(saved) => return Ok(saved),
            Err(StoreError::Conflict { .. }) if attempt < CONFLICT_RETRIES => {
                current = load_post(cx, id).await?;
            }
            Err(e) => return Err(AppError::from_post_store(id.as_str(), e)),
        }
    }
    Err(AppError::Conflict { id: id.to_string() })
}

async fn load_post(cx: Ctx<'_>, id: &PostId) -> AppResult<Post> {
    cx.store
        .get_post(id)
        .await
        .map_err(|e| AppError::from_post_store(id.as_str(), e))
}
