//! Collecting snapshots from the platforms: posts grouped by account, sent in the batch
//! sizes each API allows, one request per batch so what came back before a failure is
//! stored. A rate limit stops that account's collection and names the reset time; a
//! partial answer stores what came back and names what did not.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Duration;

use super::{NotCollected, OnProgress, Progress, TRAILING_DAYS};
use crate::app::access::{Access, describe};
use crate::app::{AppResult, Ctx};
use crate::domain::score::{Counts, engagement_score, is_outlier};
use crate::domain::{Account, AccountStatus, Platform, Post, PostId, now};
use crate::platforms::{Credentials, PlatformError, PostMetrics};
use crate::store::Snapshot;

/// What one collection did.
#[derive(Debug, Default)]
pub struct Collected {
    pub collected: HashSet<PostId>,
    pub not_collected: Vec<NotCollected>,
}

/// How many ids one metrics request may carry on each platform.
pub fn batch_size(platform: Platform) -> usize {
    match platform {
        Platform::X => 100,
        Platform::Bluesky => 25,
        Platform::Tiktok => 20,
        _ => 25,
    }
}

/// Collects fresh snapshots for `posts`, storing each and updating the posts' scores.
pub async fn collect(
    cx: Ctx<'_>,
    access: &Access,
    posts: &[Post],
    progress: OnProgress<'_>,
) -> AppResult<Collected> {
    let mut out = Collected::default();
    let total = u32::try_from(posts.len()).unwrap_or(u32::MAX);
    let mut done = 0u32;
    let mut scored: Vec<(&Post, f64)> = Vec::new();
    // Group by (platform, account) so each group uses one set of credentials.
    let mut groups: BTreeMap<(Platform, Option<String>), Vec<&Post>> = BTreeMap::new();
    for p in posts {
        groups
            .entry((p.platform, p.account_id.as_ref().map(ToString::to_string)))
            .or_default()
            .push(p);
    }
    if total > 0 {
        progress(Progress {
            done,
            total,
            message: format!("collecting metrics for {total} post(s)"),
        });
    }
    for ((platform, _), group) in groups {
        let mut opened = match open(cx, access, platform, group[0]).await {
            Ok(o) => o,
            Err(reason) => {
                for p in &group {
                    out.not_collected.push(missed(p, &reason, None));
                }
                done = done.saturating_add(group.len() as u32);
                continue;
            }
        };
        let chunks: Vec<&[&Post]> = group.chunks(batch_size(platform)).collect();
        let mut stopped: Option<(String, Option<chrono::DateTime<chrono::Utc>>)> = None;
        for chunk in chunks {
            if let Some((reason, retry_at)) = &stopped {
                for p in chunk {
                    out.not_collected.push(missed(p, reason, *retry_at));
                }
                done = done.saturating_add(chunk.len() as u32);
                continue;
            }
            let ids: Vec<String> = chunk
                .iter()
                .filter_map(|p| p.platform_post_id.clone())
                .collect();
            let mut answer = opened.client.metrics(&opened.creds, &ids).await;
            if matches!(answer, Err(PlatformError::AuthExpired { .. })) {
                answer = match access.refresh(cx, &opened.account, &opened.creds).await {
                    Ok(fresh) => {
                        opened.creds = fresh;
                        opened.client.metrics(&opened.creds, &ids).await
                    }
                    Err(reason) => Err(PlatformError::AuthExpired { message: reason }),
                };
            }
            match answer {
                Ok(batch) => {
                    let by_id: HashMap<&str, &PostMetrics> = batch
                        .metrics
                        .iter()
                        .map(|m| (m.platform_post_id.as_str(), m))
                        .collect();
                    for p in chunk {
                        let pid = p.platform_post_id.as_deref().unwrap_or_default();
                        if let Some(m) = by_id.get(pid) {
                            let score = store_snapshot(cx, p, m).await?;
                            out.collected.insert(p.id.clone());
                            scored.push((*p, score));
                        } else {
                            let reason = batch
                                .errors
                                .iter()
                                .find(|e| e.platform_post_id == pid)
                                .map_or_else(
                                    || format!("{platform} returned no metrics for this post"),
                                    |e| format!("{platform}: {}", e.message),
                                );
                            out.not_collected.push(missed(p, &reason, None));
                        }
                    }
                }
                Err(PlatformError::RateLimited { until, .. }) => {
                    let reason = format!(
                        "{platform} rate limit reached: not collected; try again after {}",
                        until.to_rfc3339()
                    );
                    for p in chunk {
                        out.not_collected.push(missed(p, &reason, Some(until)));
                    }
                    stopped = Some((reason, Some(until)));
                }
                Err(e) => {
                    let reason = format!("{platform}: {}", describe(&e));
                    for p in chunk {
                        out.not_collected.push(missed(p, &reason, None));
                    }
                    // Tokens refused even after a refresh are refused for every batch; other
                    // failures (a 5xx, one bad batch) leave the next batches worth trying.
                    if matches!(e, PlatformError::AuthExpired { .. }) {
                        stopped = Some((reason, None));
                    }
                }
            }
            done = done.saturating_add(chunk.len() as u32);
            progress(Progress {
                done,
                total,
                message: format!("{platform}: {done} of {total} post(s) handled"),
            });
        }
    }
    // Outliers are judged once every new score is stored, so a post's trailing average
    // includes the posts collected with it.
    for (post, score) in scored {
        let (avg, n) = cx
            .store
            .trailing_average(
                post.platform,
                post.account_id.as_ref(),
                now() - Duration::days(TRAILING_DAYS),
                &post.id,
            )
            .await?;
        cx.store
            .set_post_score(&post.id, score, is_outlier(score, avg, n))
            .await?;
    }
    Ok(out)
}

struct Opened {
    account: Account,
    creds: Credentials,
    client: std::sync::Arc<dyn crate::platforms::PlatformClient>,
}

/// The account a post was published from, opened; `Err` says why not.
async fn open(
    cx: Ctx<'_>,
    access: &Access,
    platform: Platform,
    post: &Post,
) -> Result<Opened, String> {
    let client = access
        .client(platform)
        .ok_or_else(|| format!("psn cannot read metrics on {platform} yet"))?;
    let account = match &post.account_id {
        Some(id) => cx
            .store
            .get_account(id)
            .await
            .map_err(|e| format!("cannot read account {id}: {e}"))?,
        None => {
            let mut active: Vec<Account> = cx
                .store
                .list_accounts()
                .await
                .map_err(|e| format!("cannot read accounts: {e}"))?
                .into_iter()
                .filter(|a| a.platform == platform && a.status == AccountStatus::Active)
                .collect();
            if active.len() != 1 {
                return Err(format!(
                    "the post names no account and {} {platform} accounts are connected: run `psn connect {platform}`",
                    active.len()
                ));
            }
            active.remove(0)
        }
    };
    let creds = access.open(&account)?;
    Ok(Opened {
        account,
        creds,
        client,
    })
}

fn missed(
    post: &Post,
    reason: &str,
    retry_at: Option<chrono::DateTime<chrono::Utc>>,
) -> NotCollected {
    NotCollected {
        post_id: post.id.to_string(),
        platform: post.platform,
        reason: reason.to_owned(),
        retry_at,
    }
}

fn signed(v: Option<u64>) -> Option<i64> {
    v.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Stores one snapshot and the post's new score (the outlier flag comes after).
async fn store_snapshot(cx: Ctx<'_>, post: &Post, m: &PostMetrics) -> AppResult<f64> {
    let counts = Counts {
        impressions: m.impressions,
        likes: m.likes,
        replies: m.replies,
        reposts: m.reposts,
        quotes: m.quotes,
        bookmarks: m.bookmarks,
        link_clicks: m.link_clicks,
    };
    let score = engagement_score(&counts);
    let mut raw = serde_json::to_value(m).unwrap_or_default();
    if let Some(obj) = raw.as_object_mut() {
        obj.insert("platform".into(), post.platform.as_str().into());
    }
    cx.store
        .insert_snapshot(&Snapshot {
            post_id: post.id.clone(),
            collected_at: now(),
            impressions: signed(m.impressions),
            likes: signed(m.likes),
            replies: signed(m.replies),
            reposts: signed(m.reposts),
            quotes: signed(m.quotes),
            bookmarks: signed(m.bookmarks),
            link_clicks: signed(m.link_clicks),
            score,
            raw,
        })
        .await?;
    cx.store
        .set_post_score(&post.id, score, post.is_outlier)
        .await?;
    Ok(score)
}
