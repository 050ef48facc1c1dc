//! Changing a post after it was created: edit its content, cancel it, retry it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::ctx::Ctx;
use super::super::error::{AppError, AppResult};
use super::create::{PartInput, build_content, limits};
use super::{PostRef, PostSummary, write_post};
use crate::domain::validate::{self, PartMeasure};
use crate::domain::{Post, PostEvent, PostId, PostStatus, now};

/// Statuses whose content may be edited.
pub const EDITABLE: &[PostStatus] = &[
    PostStatus::Draft,
    PostStatus::Scheduled,
    PostStatus::PendingApproval,
    PostStatus::Failed,
];
/// Statuses a post can be cancelled from.
pub const CANCELLABLE: &[PostStatus] = &[
    PostStatus::Draft,
    PostStatus::Scheduled,
    PostStatus::PendingApproval,
    PostStatus::Failed,
];
/// Statuses a post can be taken back to draft from.
pub const UNSCHEDULABLE: &[PostStatus] = &[
    PostStatus::Scheduled,
    PostStatus::PendingApproval,
    PostStatus::Failed,
];
/// Statuses a post can be retried from.
pub const RETRYABLE: &[PostStatus] = &[PostStatus::Failed, PostStatus::NeedsReconcile];

/// What `update_post` needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePostInput {
    /// The post to edit (`post_…`).
    pub post_id: PostId,
    /// The new parts, replacing all the old ones (send every part, changed or not).
    pub parts: Vec<PartInput>,
}

/// The answer of `update_post`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UpdatedPost {
    pub post: PostSummary,
    /// Each part's measured length against the platform's limit.
    pub measures: Vec<PartMeasure>,
    /// Whether an approval was voided (the post now waits for an approver again).
    pub approval_voided: bool,
    pub warnings: Vec<String>,
}

impl UpdatedPost {
    pub fn summary(&self) -> String {
        let mut s = format!("Updated {}", self.post.line());
        if self.approval_voided {
            s.push_str("\nThe edit voided its approval: it waits for an approver again.");
        }
        for w in &self.warnings {
            s.push_str(&format!("\nwarning: {w}"));
        }
        s
    }
}

/// Replaces a post's content. The edited content is validated like a new post; an
/// approval no longer matching the content is dropped, and on a company hub a scheduled
/// post goes back to pending approval.
pub async fn update_post(cx: Ctx<'_>, input: UpdatePostInput) -> AppResult<UpdatedPost> {
    let content = build_content(&input.parts)?;
    let current = cx
        .store
        .get_post(&input.post_id)
        .await
        .map_err(|e| AppError::from_post_store(input.post_id.as_str(), e))?;
    if !EDITABLE.contains(&current.status) {
        return Err(AppError::WrongStatus {
            id: current.id.to_string(),
            status: current.status,
            action: "be edited",
            allowed: EDITABLE,
        });
    }
    let report = validate::validate(current.platform, &content, &limits(cx));
    if !report.errors.is_empty() {
        return Err(AppError::Invalid {
            message: format!("the edit does not fit {}", current.platform),
            errors: report.errors,
        });
    }
    let needs_approval = cx.needs_approval();
    let mut was_approved = false;
    let saved = write_post(cx, &input.post_id, |current| {
        // A pending post stays pending; only a company hub sends a scheduled one back.
        let needs = needs_approval || current.status == PostStatus::PendingApproval;
        let event = PostEvent::Edit {
            needs_approval: needs,
        };
        let mut next = current
            .apply(event)
            .map_err(|e| AppError::wrong_status(current.id.as_str(), e, "be edited", EDITABLE))?;
        was_approved = current.approval_hash.is_some();
        next.set_content(content.clone());
        Ok((event, next))
    })
    .await?;
    Ok(UpdatedPost {
        approval_voided: was_approved && saved.approval_hash.is_none(),
        post: PostSummary::of(&saved),
        measures: report.measures,
        warnings: report.warnings,
    })
}

/// What `cancel_post` needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPostInput {
    /// A post id (`post_…`), or a group id (`grp_…`) to cancel every post of the group.
    pub id: String,
    /// `true` takes the post back to draft (unschedule) instead of withdrawing it for good.
    #[serde(default)]
    pub keep_draft: bool,
}

/// The answer of `cancel_post`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CancelledPosts {
    /// The posts after the call: `cancelled`, or `draft` with `keep_draft`.
    pub posts: Vec<PostSummary>,
    /// Posts that were already cancelled (nothing changed for them).
    pub already_cancelled: Vec<PostId>,
}

impl CancelledPosts {
    pub fn summary(&self) -> String {
        let mut lines: Vec<String> = self
            .posts
            .iter()
            .map(|p| {
                let verb = if p.status == PostStatus::Draft {
                    "Unscheduled (back to draft)"
                } else {
                    "Cancelled"
                };
                format!("{verb} {} ({})", p.id, p.platform)
            })
            .collect();
        lines.extend(
            self.already_cancelled
                .iter()
                .map(|id| format!("{id} was already cancelled")),
        );
        lines.join("\n")
    }
}

/// Cancels (or unschedules) a post or every post of a group. Cancelling an already
/// cancelled post changes nothing and is not an error, so the call is idempotent.
/// A group's posts are all checked before any is changed.
pub async fn cancel_post(cx: Ctx<'_>, input: CancelPostInput) -> AppResult<CancelledPosts> {
    let target = PostRef::parse(&input.id)?;
    let posts = target.load(cx).await?;
    let (event, action, allowed) = if input.keep_draft {
        (PostEvent::Unschedule, "be unscheduled", UNSCHEDULABLE)
    } else {
        (PostEvent::Cancel, "be cancelled", CANCELLABLE)
    };
    let (already, todo): (Vec<Post>, Vec<Post>) = posts.into_iter().partition(|p| {
        p.status == PostStatus::Cancelled || (input.keep_draft && p.status == PostStatus::Draft)
    });
    if let Some(bad) = todo.iter().find(|p| !allowed.contains(&p.status)) {
        return Err(match bad.status {
            PostStatus::Publishing => AppError::invalid(format!(
                "post {} is being published right now and can no longer be cancelled: check it with get_post in a minute",
                bad.id
            )),
            PostStatus::NeedsReconcile => AppError::Reconciling {
                id: bad.id.to_string(),
            },
            status => AppError::WrongStatus {
                id: bad.id.to_string(),
                status,
                action,
                allowed,
            },
        });
    }
    let mut done = Vec::with_capacity(todo.len());
    for post in &todo {
        let saved = write_post(cx, &post.id, |current| {
            let mut next = current
                .apply(event)
                .map_err(|e| AppError::wrong_status(current.id.as_str(), e, action, allowed))?;
            next.run_at = None;
            if event == PostEvent::Unschedule {
                next.scheduled_at = None;
                next.schedule_tz = None;
            }
            Ok((event, next))
        })
        .await?;
        done.push(PostSummary::of(&saved));
    }
    let (already_cancelled, mut drafts): (Vec<Post>, Vec<Post>) = already
        .into_iter()
        .partition(|p| p.status == PostStatus::Cancelled);
    done.extend(drafts.drain(..).map(|p| PostSummary::of(&p)));
    Ok(CancelledPosts {
        posts: done,
        already_cancelled: already_cancelled.into_iter().map(|p| p.id).collect(),
    })
}

/// What `retry_post` needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPostInput {
    /// The failed (or needs-reconcile) post to try again (`post_…`).
    pub post_id: PostId,
    /// Publish again without first asking the platform whether the earlier attempt went
    /// out. Only after the person looked at the account and the post is not there:
    /// otherwise it may appear twice. Default false.
    #[serde(default)]
    pub force: bool,
}

/// The answer of `retry_post`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RetriedPost {
    pub post: PostSummary,
    /// The error the post failed with before this retry.
    pub previous_error: Option<String>,
}

impl RetriedPost {
    pub fn summary(&self) -> String {
        format!(
            "Queued {} ({}) to publish again now with a fresh set of attempts{}",
            self.post.id,
            self.post.platform,
            self.previous_error
                .as_ref()
                .map_or_else(String::new, |e| format!("; it had failed with: {e}"))
        )
    }
}

/// Puts a failed post back in the queue, due now, with its attempt count reset (a
/// person's retry is a new try, so it gets the full `max_attempts` again) and its last
/// error cleared. Its publish key is kept, so the platform can still recognise a
/// repeated request. A post whose outcome is unknown is refused: the scheduler must
/// ask the platform first, or the post could appear twice.
pub async fn retry_post(cx: Ctx<'_>, input: RetryPostInput) -> AppResult<RetriedPost> {
    let mut previous_error = None;
    // Whether the last attempt may have reached the platform: then psn asks before sending.
    let attempts = cx
        .store
        .list_attempts(&input.post_id)
        .await
        .map_err(|e| AppError::from_post_store(input.post_id.as_str(), e))?;
    let may_have_gone_out = attempts.last().is_some_and(|a| {
        a.request_sent_at.is_some()
            && matches!(
                a.status.as_str(),
                "unknown" | "lease_expired" | "lease_lost" | "in_flight"
            )
    });
    let saved = write_post(cx, &input.post_id, |current| {
        if !RETRYABLE.contains(&current.status) {
            return Err(AppError::WrongStatus {
                id: current.id.to_string(),
                status: current.status,
                action: "be retried",
                allowed: RETRYABLE,
            });
        }
        let reconcile_first = !input.force && (may_have_gone_out || current.status == PostStatus::NeedsReconcile);
        let event = PostEvent::Retry { reconcile_first };
        let mut next = current
            .apply(event)
            .map_err(|e| AppError::wrong_status(current.id.as_str(), e, "be retried", RETRYABLE))?;
        let at = now();
        previous_error.clone_from(&current.last_error);
        next.locked_by = None;
        next.lease_until = None;
        // Attempts are never reset (each has its own row and fences its lease); the post
        // gets a fresh allowance on top of what it used.
        next.max_attempts = current.attempts + i64::from(cx.settings.scheduler.max_attempts);
        if reconcile_first {
            next.last_error = Some(format!(
                "retry requested: psn first asks {} whether the earlier attempt went out, and publishes only if it did not",
                current.platform
            ));
        } else {
            next.scheduled_at = Some(at);
            next.run_at = Some(at);
            if next.schedule_tz.is_none() {
                next.schedule_tz = Some(cx.settings.timezone.name().to_owned());
            }
            next.last_error = None;
        }
        Ok((event, next))
    })
    .await?;
    Ok(RetriedPost {
        post: PostSummary::of(&saved),
        previous_error,
    })
}
