//! `schedule_post`: give a post (or every post of a group) its time.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::accounts::{AccountHealth, connect_advice, connect_command, health};
use super::super::ctx::Ctx;
use super::super::error::{AppError, AppResult};
use super::super::text::check_text;
use super::{PostRef, write_post};
use crate::domain::schedule::{self, ResolvedTime};
use crate::domain::{Platform, Post, PostEvent, PostId, PostStatus, now};

/// Statuses a post can be scheduled (or rescheduled) from.
pub const SCHEDULABLE: &[PostStatus] = &[
    PostStatus::Draft,
    PostStatus::Scheduled,
    PostStatus::PendingApproval,
];

/// What `schedule_post` needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePostInput {
    /// A post id (`post_…`), or a group id (`grp_…`) to schedule every post created together.
    pub id: String,
    /// When to publish: `now`; an RFC 3339 time with an offset (`2026-03-01T09:00:00+01:00`);
    /// or a local date and time (`2026-03-01 09:00`, `2026-03-01T09:00`) read in `zone`.
    pub at: String,
    /// The IANA time zone for a local time, e.g. `Europe/Berlin`. Defaults to psn's
    /// configured zone. Ignored when `at` carries an offset.
    #[serde(default)]
    pub zone: Option<String>,
}

/// One scheduled post.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScheduledPost {
    pub post_id: PostId,
    pub platform: Platform,
    /// `scheduled`, or `pending_approval` on a company hub.
    pub status: PostStatus,
}

/// The answer of `schedule_post`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScheduledPosts {
    pub posts: Vec<ScheduledPost>,
    /// The publish time in UTC.
    pub utc: DateTime<Utc>,
    /// The publish time in the zone it was read in, RFC 3339 with that zone's offset.
    pub local: String,
    /// The IANA zone kept with the schedule.
    pub zone: String,
    /// Whether the posts wait for an approver (company hubs).
    pub needs_approval: bool,
    /// Posts of the group left alone because they are already published or cancelled.
    pub skipped: Vec<String>,
    /// Things that may stop the post at publish time (no connected account…).
    pub warnings: Vec<String>,
}

impl ScheduledPosts {
    pub fn summary(&self) -> String {
        let ids: Vec<String> = self
            .posts
            .iter()
            .map(|p| format!("{} ({})", p.post_id, p.platform))
            .collect();
        let mut s = format!(
            "{} {} for {} ({} UTC): {}",
            if self.needs_approval {
                "Sent for approval, to publish"
            } else {
                "Scheduled"
            },
            if self.posts.len() == 1 {
                "1 post".to_owned()
            } else {
                format!("{} posts", self.posts.len())
            },
            self.local,
            self.utc.format("%Y-%m-%d %H:%M"),
            ids.join(", ")
        );
        if self.needs_approval {
            s.push_str("\nAn approver must approve them before they publish.");
        }
        for k in &self.skipped {
            s.push_str(&format!("\nskipped: {k}"));
        }
        for w in &self.warnings {
            s.push_str(&format!("\nwarning: {w}"));
        }
        s
    }
}

/// Resolves the time and schedules the post or group. Every post is checked before
/// any is written, so a group is not left half scheduled by a status problem.
pub async fn schedule_post(cx: Ctx<'_>, input: SchedulePostInput) -> AppResult<ScheduledPosts> {
    check_text("at", &input.at, 100, false)?;
    if let Some(zone) = &input.zone {
        check_text("zone", zone, 100, false)?;
    }
    let target = PostRef::parse(&input.id)?;
    let time = schedule::resolve(
        input.at.trim(),
        input.zone.as_deref().map(str::trim),
        cx.settings.timezone,
        now(),
    )
    .map_err(|e| AppError::invalid(e.to_string()))?;

    let posts = target.load(cx).await?;
    let (todo, skipped): (Vec<Post>, Vec<Post>) = posts
        .into_iter()
        .partition(|p| !(matches!(target, PostRef::Group(_)) && p.status.is_final()));
    if let Some(bad) = todo.iter().find(|p| !SCHEDULABLE.contains(&p.status)) {
        return Err(AppError::WrongStatus {
            id: bad.id.to_string(),
            status: bad.status,
            action: "be scheduled",
            allowed: SCHEDULABLE,
        });
    }
    if todo.is_empty() {
        return Err(AppError::invalid(format!(
            "every post in group {} is already published or cancelled: create a new post",
            input.id.trim()
        )));
    }

    let needs_approval = cx.needs_approval();
    let mut warnings = Vec::new();
    let mut done = Vec::with_capacity(todo.len());
    for post in &todo {
        warnings.extend(account_warning(cx, post).await?);
        let saved = write_post(cx, &post.id, |current| {
            let event = PostEvent::Schedule { needs_approval };
            let mut next = current.apply(event).map_err(|e| {
                AppError::wrong_status(current.id.as_str(), e, "be scheduled", SCHEDULABLE)
            })?;
            set_time(&mut next, &time);
            Ok((event, next))
        })
        .await?;
        done.push(ScheduledPost {
            post_id: saved.id,
            platform: saved.platform,
            status: saved.status,
        });
    }
    tracing::info!(posts = done.len(), at = %time.utc, "scheduled posts");
    Ok(ScheduledPosts {
        posts: done,
        utc: time.utc,
        local: time.local.clone(),
        zone: time.zone_name.clone(),
        needs_approval,
        skipped: skipped
            .iter()
            .map(|p| format!("{} ({}) is {}", p.id, p.platform, p.status))
            .collect(),
        warnings,
    })
}

fn set_time(post: &mut Post, time: &ResolvedTime) {
    post.scheduled_at = Some(time.utc);
    post.schedule_tz = Some(time.zone_name.clone());
    post.run_at = Some(time.utc);
}

/// Scheduling without a usable account is allowed (accounts may be connected before the
/// post is due), with a warning that names the fix.
async fn account_warning(cx: Ctx<'_>, post: &Post) -> AppResult<Option<String>> {
    let platform = post.platform;
    let Some(id) = &post.account_id else {
        return Ok(Some(match connect_command(platform, None) {
            Some(command) => format!(
                "no {platform} account connected yet: the scheduler will fail post {} unless you run `{command}` before it is due",
                post.id
            ),
            None => format!(
                "no {platform} account connected yet: the scheduler will fail post {} when it is due ({})",
                post.id,
                connect_advice(platform, None)
            ),
        }));
    };
    let account = match cx.store.get_account(id).await {
        Ok(a) => a,
        Err(crate::store::StoreError::NotFound { .. }) => {
            return Ok(Some(format!(
                "the {platform} account of post {} was removed: connect one ({}) and create the post again",
                post.id,
                connect_advice(platform, None)
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(match health(&account, now()) {
        AccountHealth::Ok | AccountHealth::Expiring => None,
        other => Some(format!(
            "{platform} account {} is {}: the scheduler will fail post {} unless it is fixed before it is due ({})",
            account.handle,
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            post.id,
            connect_advice(platform, Some(&account.handle))
        )),
    })
}
