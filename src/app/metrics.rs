//! `fetch_metrics`: what published posts earned. Reads the stored snapshots, collects
//! fresh ones from the platforms where the newest is older than `max_age_secs`, and
//! returns per post the common counters, the composite engagement score
//! ([`crate::domain::score`]), the change since the previous snapshot and the outlier flag.

mod collect;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::access::Access;
use super::accounts;
use super::text::{check_text, preview};
use super::{AppError, AppResult, Ctx};
use crate::domain::{GroupId, Platform, Post, PostId, PostStatus, now};
use crate::store::{PublishedFilter, Snapshot};

pub use collect::collect;

/// Posts at most this many per call.
pub const MAX_POSTS: u32 = 1000;
/// Default freshness: a snapshot younger than this is not collected again.
pub const DEFAULT_MAX_AGE_SECS: u64 = 3600;
/// The trailing window the outlier average is taken over.
pub const TRAILING_DAYS: i64 = 30;

/// Which posts to report on. With nothing set: posts published in the last 30 days.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchMetricsInput {
    /// A post id (`post_…`) or a group id (`grp_…`, every platform the post went to).
    #[serde(default)]
    pub post: Option<String>,
    /// An account id (`acct_…`) or handle: its published posts.
    #[serde(default)]
    pub account: Option<String>,
    /// Only posts on this platform.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Only posts published at or after this time (RFC 3339). Default: 30 days ago, unless
    /// a post or group is named.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Only posts published before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Collect fresh numbers from the platform when the stored snapshot is older than this
    /// many seconds (default 3600; 0 always collects).
    #[serde(default)]
    pub max_age_secs: Option<u64>,
    /// At most this many posts (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Also return a chart of engagement over time as an image.
    #[serde(default)]
    pub chart: bool,
}

/// The common counters of one snapshot. `null` = the platform does not report it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Counters {
    pub collected_at: DateTime<Utc>,
    /// Impressions / views.
    pub impressions: Option<i64>,
    pub likes: Option<i64>,
    /// Replies / comments.
    pub replies: Option<i64>,
    /// Reposts / shares.
    pub reposts: Option<i64>,
    pub quotes: Option<i64>,
    /// Bookmarks / saves.
    pub bookmarks: Option<i64>,
    pub link_clicks: Option<i64>,
    /// Composite engagement score 0–100 at this snapshot.
    pub score: f64,
    /// Every field the adapter reported, including ones outside the common set.
    pub raw: serde_json::Value,
}

/// Change from the previous snapshot to the latest (`null` where either lacks the counter).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Change {
    /// When the previous snapshot was collected.
    pub since: DateTime<Utc>,
    pub impressions: Option<i64>,
    pub likes: Option<i64>,
    pub replies: Option<i64>,
    pub reposts: Option<i64>,
    pub quotes: Option<i64>,
    pub bookmarks: Option<i64>,
    pub link_clicks: Option<i64>,
    pub score: f64,
}

/// One post's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PostMetricsView {
    pub post_id: String,
    pub group_id: String,
    pub platform: Platform,
    pub account_id: Option<String>,
    pub platform_post_id: Option<String>,
    pub url: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    /// The first part's text, shortened.
    pub text: String,
    /// The newest snapshot; `null` when none was ever collected.
    pub latest: Option<Counters>,
    /// Change since the snapshot before the newest.
    pub change: Option<Change>,
    /// Composite engagement score 0–100 (the newest snapshot's).
    pub score: Option<f64>,
    /// At least 5× the account's trailing 30-day average.
    pub is_outlier: bool,
    /// Whether this call collected the numbers (false: the stored ones were fresh enough,
    /// or collection failed: see `not_collected`).
    pub collected_now: bool,
}

/// A post whose numbers could not be collected this time.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NotCollected {
    pub post_id: String,
    pub platform: Platform,
    pub reason: String,
    /// When to try again (the platform's rate-limit reset), if known.
    pub retry_at: Option<DateTime<Utc>>,
}

/// What `fetch_metrics` returns.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FetchMetricsOutput {
    pub posts: Vec<PostMetricsView>,
    /// Posts collected from the platforms in this call.
    pub collected: u32,
    /// Posts whose stored snapshot was fresh enough.
    pub fresh: u32,
    pub not_collected: Vec<NotCollected>,
    /// Ids of posts flagged as outliers.
    pub outliers: Vec<String>,
}

impl FetchMetricsOutput {
    /// A few lines for people and for the model.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} post(s): {} collected now, {} fresh enough, {} not collected",
            self.posts.len(),
            self.collected,
            self.fresh,
            self.not_collected.len()
        );
        for p in &self.posts {
            let score = p.score.map_or("no data".to_owned(), |s| format!("{s:.1}"));
            let outlier = if p.is_outlier { " OUTLIER" } else { "" };
            out.push_str(&format!(
                "\n{} {} score {score}{outlier} {}",
                p.post_id,
                p.platform,
                p.latest.as_ref().map(counters_line).unwrap_or_default()
            ));
        }
        for n in &self.not_collected {
            out.push_str(&format!("\nnot collected {}: {}", n.post_id, n.reason));
        }
        out
    }
}

fn counters_line(c: &Counters) -> String {
    let mut parts = Vec::new();
    for (name, v) in [
        ("views", c.impressions),
        ("likes", c.likes),
        ("replies", c.replies),
        ("reposts", c.reposts),
        ("quotes", c.quotes),
        ("saves", c.bookmarks),
        ("clicks", c.link_clicks),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name} {v}"));
        }
    }
    parts.join(", ")
}

/// Progress of a collection: `done` of `total` posts handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub done: u32,
    pub total: u32,
    pub message: String,
}

/// Told about progress while collecting (MCP turns it into progress notifications).
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// The use case. `progress` hears about each batch.
pub async fn fetch_metrics(
    cx: Ctx<'_>,
    access: &Access,
    input: &FetchMetricsInput,
    progress: OnProgress<'_>,
) -> AppResult<FetchMetricsOutput> {
    let posts = select_posts(cx, input).await?;
    let max_age = Duration::seconds(
        i64::try_from(input.max_age_secs.unwrap_or(DEFAULT_MAX_AGE_SECS)).unwrap_or(i64::MAX / 2),
    );
    let at = now();
    let mut stale = Vec::new();
    let mut fresh = 0;
    for post in &posts {
        let latest = cx.store.recent_snapshots(&post.id, 1).await?;
        match latest.first() {
            Some(s) if max_age > Duration::zero() && at - s.collected_at < max_age => fresh += 1,
            _ => stale.push(post.clone()),
        }
    }
    let report = collect(cx, access, &stale, progress).await?;
    let mut views = Vec::with_capacity(posts.len());
    let mut outliers = Vec::new();
    for post in &posts {
        // Re-read: collection may have changed the score and outlier flag.
        let post = cx.store.get_post(&post.id).await?;
        let snaps = cx.store.recent_snapshots(&post.id, 2).await?;
        if post.is_outlier {
            outliers.push(post.id.to_string());
        }
        views.push(view(&post, &snaps, report.collected.contains(&post.id)));
    }
    Ok(FetchMetricsOutput {
        posts: views,
        collected: u32::try_from(report.collected.len()).unwrap_or(u32::MAX),
        fresh,
        not_collected: report.not_collected,
        outliers,
    })
}

/// The published posts an input names.
pub async fn select_posts(cx: Ctx<'_>, input: &FetchMetricsInput) -> AppResult<Vec<Post>> {
    let limit = input.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_POSTS {
        return Err(AppError::invalid(format!(
            "limit must be from 1 to {MAX_POSTS}"
        )));
    }
    let mut filter = PublishedFilter {
        platform: input.platform,
        since: input.since,
        until: input.until,
        limit,
        ..PublishedFilter::default()
    };
    if let Some(reference) = input.post.as_deref().filter(|r| !r.trim().is_empty()) {
        check_text("post", reference, 100, false)?;
        let reference = reference.trim();
        if reference.starts_with("grp_") {
            filter.group =
                Some(GroupId::parse(reference).map_err(|e| AppError::invalid(e.to_string()))?);
        } else {
            let id = PostId::parse(reference).map_err(|e| AppError::invalid(e.to_string()))?;
            let post = cx
                .store
                .get_post(&id)
                .await
                .map_err(|e| AppError::from_post_store(id.as_str(), e))?;
            if post.status != PostStatus::Published || post.platform_post_id.is_none() {
                return Err(AppError::invalid(format!(
                    "post {id} is {}: metrics exist only for published posts",
                    post.status
                )));
            }
            filter.post = Some(id);
        }
    } else if input.since.is_none() {
        filter.since = Some(now() - Duration::days(TRAILING_DAYS));
    }
    if let Some(reference) = input.account.as_deref().filter(|r| !r.trim().is_empty()) {
        let account = accounts::find(cx, input.platform, reference)
            .await?
            .ok_or_else(|| AppError::NotFound {
                kind: "account",
                id: reference.to_owned(),
                hint: "list_accounts (or `psn accounts`) shows connected accounts",
            })?;
        filter.account = Some(account.id);
    }
    Ok(cx.store.published_posts(&filter).await?)
}

fn view(post: &Post, snaps: &[Snapshot], collected_now: bool) -> PostMetricsView {
    let latest = snaps.first().map(counters);
    let change = match (snaps.first(), snaps.get(1)) {
        (Some(new), Some(old)) => Some(change(new, old)),
        _ => None,
    };
    PostMetricsView {
        post_id: post.id.to_string(),
        group_id: post.group_id.to_string(),
        platform: post.platform,
        account_id: post.account_id.as_ref().map(ToString::to_string),
        platform_post_id: post.platform_post_id.clone(),
        url: post.platform_url.clone(),
        published_at: post.published_at,
        text: post
            .content
            .parts
            .first()
            .map(|p| preview(&p.text, 80))
            .unwrap_or_default(),
        score: latest.as_ref().map(|c| c.score),
        latest,
        change,
        is_outlier: post.is_outlier,
        collected_now,
    }
}

fn counters(s: &Snapshot) -> Counters {
    Counters {
        collected_at: s.collected_at,
        impressions: s.impressions,
        likes: s.likes,
        replies: s.replies,
        reposts: s.reposts,
        quotes: s.quotes,
        bookmarks: s.bookmarks,
        link_clicks: s.link_clicks,
        score: s.score,
        raw: s.raw.clone(),
    }
}

fn change(new: &Snapshot, old: &Snapshot) -> Change {
    let d = |a: Option<i64>, b: Option<i64>| Some(a?.saturating_sub(b?));
    Change {
        since: old.collected_at,
        impressions: d(new.impressions, old.impressions),
        likes: d(new.likes, old.likes),
        replies: d(new.replies, old.replies),
        reposts: d(new.reposts, old.reposts),
        quotes: d(new.quotes, old.quotes),
        bookmarks: d(new.bookmarks, old.bookmarks),
        link_clicks: d(new.link_clicks, old.link_clicks),
        score: ((new.score - old.score) * 100.0).round() / 100.0,
    }
}
