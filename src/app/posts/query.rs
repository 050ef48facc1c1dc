//! Reading posts: one with its history, and the queue.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::accounts;
use super::super::ctx::Ctx;
use super::super::error::{AppError, AppResult};
use super::super::text::{preview, thousands};
use super::{PostSummary, scheduled_local};
use crate::domain::{AccountId, GroupId, Platform, Post, PostContent, PostId, PostStatus};
use crate::store::{Counted, Cursor, PageRequest, PostFilter};

/// How many history entries `get_post` returns.
const HISTORY_LIMIT: u32 = 100;

/// The statuses `list_pending` shows unless told otherwise: everything queued or
/// needing a person.
pub const PENDING: &[PostStatus] = &[
    PostStatus::Scheduled,
    PostStatus::PendingApproval,
    PostStatus::Publishing,
    PostStatus::Failed,
    PostStatus::NeedsReconcile,
];

/// `list_pending` counts matching posts up to this many; beyond it the total is reported
/// as "more than" (`10,000+`), so a page costs the same however large the queue grows.
pub const TOTAL_CAP: u64 = 10_000;

/// What `get_post` needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPostInput {
    /// The post to read (`post_…`).
    pub post_id: PostId,
}

/// One entry of a post's history.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditView {
    pub at: DateTime<Utc>,
    /// Who did it: `mcp`, `cli:<user>`, or a scheduler instance.
    pub actor: String,
    /// What happened: `create`, `schedule`, `edit`, `claim`, `publish_succeeded`…
    pub action: String,
    /// The status change and, for failures, the error.
    pub detail: serde_json::Value,
}

/// One try at publishing the post, as the scheduler recorded it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AttemptView {
    /// 1 for the first try.
    pub attempt: i64,
    /// `in_flight`, `succeeded`, `retryable`, `failed`, `unknown`, `lease_lost` or `lease_expired`.
    pub status: String,
    /// The scheduler instance that made it.
    pub instance: String,
    pub claimed_at: DateTime<Utc>,
    /// When the create request was sent, if it was: after this the platform may have the post.
    pub request_sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What went wrong, in the platform's words when it said.
    pub error: Option<String>,
}

/// A post in full, with its history.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PostDetail {
    pub id: PostId,
    pub group_id: GroupId,
    pub platform: Platform,
    pub account_id: Option<AccountId>,
    /// The account's handle, if it has one.
    pub account_handle: Option<String>,
    pub status: PostStatus,
    pub content: PostContent,
    /// The time asked for (UTC).
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The IANA zone the time was asked in.
    pub schedule_tz: Option<String>,
    /// The asked time in that zone.
    pub scheduled_local: Option<String>,
    /// When the scheduler will next try (UTC).
    pub run_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub platform_post_id: Option<String>,
    pub platform_url: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change.
    pub version: i64,
    /// What can be done with the post now.
    pub next_step: String,
    /// Every publish attempt, oldest first.
    pub publish_attempts: Vec<AttemptView>,
    /// What happened to the post, oldest first.
    pub history: Vec<AuditView>,
}

impl PostDetail {
    pub fn summary(&self) -> String {
        let when = self
            .scheduled_local
            .clone()
            .or_else(|| {
                self.run_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            })
            .unwrap_or_else(|| "unscheduled".into());
        let mut s = format!("{} {} {} {when}", self.id, self.platform, self.status);
        s.push_str(&format!(
            "\ngroup {} · account {} · attempts {}/{}",
            self.group_id,
            self.account_handle.as_deref().unwrap_or("none"),
            self.attempts,
            self.max_attempts
        ));
        for (i, part) in self.content.parts.iter().enumerate() {
            s.push_str(&format!("\n[{}] {}", i + 1, part.text));
            for m in &part.media {
                s.push_str(&format!("\n    + {} {}", m.mime, m.source));
            }
        }
        if let Some(e) = &self.last_error {
            s.push_str(&format!("\nlast error: {e}"));
        }
        if let Some(url) = &self.platform_url {
            s.push_str(&format!("\nlive at {url}"));
        }
        s.push_str(&format!("\nnext: {}", self.next_step));
        for a in &self.publish_attempts {
            s.push_str(&format!(
                "\nattempt {} {} at {}{}",
                a.attempt,
                a.status,
                a.claimed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                a.error
                    .as_deref()
                    .map_or_else(String::new, |e| format!(": {}", preview(e, 200)))
            ));
        }
        if !self.history.is_empty() {
            s.push_str("\nhistory:");
            for h in &self.history {
                s.push_str(&format!(
                    "\n  {} {} by {}",
                    h.at.format("%Y-%m-%d %H:%M:%S UTC"),
                    h.action,
                    h.actor
                ));
            }
        }
        s
    }
}

/// What a person or the model can do next with a post in this status.
pub fn next_step(status: PostStatus) -> &'static str {
    match status {
        PostStatus::Draft => {
            "schedule it with schedule_post, edit it with update_post, or cancel it"
        }
        PostStatus::PendingApproval => {
            "an approver must approve it; update_post or cancel_post still work"
        }
        PostStatus::Scheduled => {
            "nothing: the scheduler publishes it at run_at; update_post, schedule_post (new time) or cancel_post still work"
        }
        PostStatus::Publishing => "wait: the scheduler is publishing it now",
        PostStatus::Published => "nothing: it is live",
        PostStatus::Failed => {
            "read last_error, fix the cause (content with update_post, account with `psn connect`), then retry_post"
        }
        PostStatus::NeedsReconcile => {
            "wait: psn is asking the platform whether the post went out before it tries again"
        }
        PostStatus::Cancelled => {
            "nothing: it was withdrawn; create a new post to use the text again"
        }
    }
}

/// One post with its history.
pub async fn get_post(cx: Ctx<'_>, input: GetPostInput) -> AppResult<PostDetail> {
    let post = cx
        .store
        .get_post(&input.post_id)
        .await
        .map_err(|e| AppError::from_post_store(input.post_id.as_str(), e))?;
    let history = cx
        .store
        .list_audit(post.id.as_str(), HISTORY_LIMIT)
        .await?
        .into_iter()
        .map(|e| AuditView {
            at: e.at,
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        })
        .collect();
    let publish_attempts = cx
        .store
        .list_attempts(&post.id)
        .await?
        .into_iter()
        .map(|a| AttemptView {
            attempt: a.attempt,
            status: a.status,
            instance: a.instance,
            claimed_at: a.claimed_at,
            request_sent_at: a.request_sent_at,
            finished_at: a.finished_at,
            error: a.error,
        })
        .collect();
    let account_handle = match &post.account_id {
        Some(id) => match cx.store.get_account(id).await {
            Ok(a) => Some(a.handle),
            Err(crate::store::StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(detail(post, account_handle, publish_attempts, history))
}

fn detail(
    post: Post,
    account_handle: Option<String>,
    publish_attempts: Vec<AttemptView>,
    history: Vec<AuditView>,
) -> PostDetail {
    PostDetail {
        scheduled_local: scheduled_local(&post),
        next_step: next_step(post.status).to_owned(),
        id: post.id,
        group_id: post.group_id,
        platform: post.platform,
        account_id: post.account_id,
        account_handle,
        status: post.status,
        content: post.content,
        scheduled_at: post.scheduled_at,
        schedule_tz: post.schedule_tz,
        run_at: post.run_at,
        attempts: post.attempts,
        max_attempts: post.max_attempts,
        last_error: post.last_error,
        platform_post_id: post.platform_post_id,
        platform_url: post.platform_url,
        published_at: post.published_at,
        approved_by: post.approved_by,
        approved_at: post.approved_at,
        created_by: post.created_by,
        created_at: post.created_at,
        updated_at: post.updated_at,
        version: post.version,
        publish_attempts,
        history,
    }
}

/// What `list_pending` needs; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPendingInput {
    /// Only these statuses. Default: scheduled, pending_approval, publishing, failed and
    /// needs_reconcile. Any status may be named (e.g. `draft` to see drafts).
    #[serde(default)]
    pub statuses: Vec<PostStatus>,
    /// Only posts for this platform.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Only posts from this account: its id (`acct_…`) or handle (`@name`).
    #[serde(default)]
    pub account: Option<String>,
    /// Only posts due at or after this time (RFC 3339, e.g. `2026-03-01T00:00:00Z`).
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Only posts due before this time (RFC 3339).
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// Page size: default 50, at most 200.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; leave out for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of the queue.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PendingPage {
    /// Posts in the order they run (drafts: the order they were made).
    pub posts: Vec<PostSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// How many posts match the filters, over all pages, counted up to 10,000. When
    /// `total_exact` is false the count stopped there: more than `total` posts match.
    pub total: u64,
    /// True when `total` is the exact count; false when more than `total` posts match.
    pub total_exact: bool,
    /// The statuses listed.
    pub statuses: Vec<PostStatus>,
}

impl PendingPage {
    /// The total as a person reads it: `1,234`, or `10,000+` when the count stopped at its cap.
    pub fn total_text(&self) -> String {
        let n = thousands(self.total);
        if self.total_exact { n } else { format!("{n}+") }
    }

    pub fn summary(&self) -> String {
        if self.posts.is_empty() {
            if self.total > 0 {
                return format!(
                    "No more posts: all {} were on earlier pages.",
                    self.total_text()
                );
            }
            if self.statuses == PENDING {
                return "Nothing is queued and nothing needs attention.".into();
            }
            let names: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
            return format!("No posts are {}.", names.join(" or "));
        }
        let mut s = format!(
            "{} of {} post{}:",
            self.posts.len(),
            self.total_text(),
            if self.total == 1 && self.total_exact {
                ""
            } else {
                "s"
            }
        );
        for p in &self.posts {
            s.push_str(&format!("\n- {}", p.line()));
        }
        if let Some(c) = &self.next_cursor {
            s.push_str(&format!("\nMore: call again with cursor {c}"));
        }
        s
    }
}

/// The queue: posts in the given (default: pending) statuses, in run order.
pub async fn list_pending(cx: Ctx<'_>, input: ListPendingInput) -> AppResult<PendingPage> {
    let mut statuses: Vec<PostStatus> = Vec::new();
    for s in input.statuses {
        if !statuses.contains(&s) {
            statuses.push(s);
        }
    }
    if statuses.is_empty() {
        statuses = PENDING.to_vec();
    }
    if let (Some(from), Some(to)) = (input.from, input.to)
        && from >= to
    {
        return Err(AppError::invalid(format!(
            "`from` ({from}) is not before `to` ({to}): swap them"
        )));
    }
    let limit = input.limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
    if limit == 0 || limit > PageRequest::MAX_LIMIT {
        return Err(AppError::invalid(format!(
            "limit {limit} is out of range: use 1 to {}",
            PageRequest::MAX_LIMIT
        )));
    }
    let after = match input.cursor.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(Cursor::decode(c).map_err(|e| AppError::invalid(e.to_string()))?),
    };
    let account = match input.account.as_deref().filter(|a| !a.trim().is_empty()) {
        None => None,
        Some(reference) => match accounts::find(cx, input.platform, reference).await? {
            Some(a) => Some(a.id),
            None => {
                return Err(AppError::NotFound {
                    kind: "account",
                    id: super::super::text::preview(reference, 64),
                    hint: "list_accounts shows connected accounts",
                });
            }
        },
    };
    let filter = PostFilter {
        statuses: statuses.clone(),
        platform: input.platform,
        account,
        group: None,
        from: input.from,
        to: input.to,
    };
    // Every page counts (the total may change between pages), but only up to the cap: an
    // exact count of a large queue would cost more than the page itself. The page and the
    // count are independent reads, so they run side by side on two connections.
    let request = PageRequest { limit, after };
    let (page, counted) = tokio::try_join!(
        cx.store.list_posts(&filter, &request),
        cx.store.count_posts_capped(&filter, TOTAL_CAP),
    )?;
    let (total, total_exact) = match counted {
        Counted::Exact(n) => (n, true),
        Counted::MoreThan(cap) => (cap, false),
    };
    Ok(PendingPage {
        posts: page.items.iter().map(PostSummary::of).collect(),
        next_cursor: page.next_cursor,
        total,
        total_exact,
        statuses,
    })
}
