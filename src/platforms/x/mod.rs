//! X (API v2). Posts and threads (reply chains), image and chunked video upload, delete,
//! metrics, recent search, reconciliation by the account's recent posts, and OAuth 2
//! token refresh with rotating refresh tokens. See PLATFORMS.md for the facts used here.
//!
//! X has no idempotency key. A create whose answer was lost is reconciled by reading the
//! account's recent posts and matching the first part's text (normalized: X rewrites links
//! to t.co and escapes `&<>`) created at or after the claim, less two minutes for clock
//! skew. Two posts with the same text cannot both exist there: X refuses duplicate content.

mod media;
mod oauth;
mod wire;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::http::{self, CallKind, LastRateLimit, RefreshCache, Reply};
use super::{
    Credentials, Found, MetricsBatch, MetricsFailure, PlatformClient, PlatformError,
    PublishRequest, Published, RateLimit, SearchHit, SearchPage, SearchQuery, Witness,
};
use crate::config::{PlatformSettings, Secret};
use crate::domain::Platform;

pub use oauth::{TokenSet, XUser};
use wire::{
    DataEnvelope, MetricsPage, MetricsTweet, PartialError, Problem, SearchWire, Timeline, Tweet,
    WireTimelineTweet, WireUser,
};

pub const DEFAULT_BASE_URL: &str = "https://api.x.com";
pub const DEFAULT_AUTHORIZE_URL: &str = "https://x.com/i/oauth2/authorize";
/// The scopes psn asks for: read and write posts, read the user, upload media, and a
/// refresh token.
pub const SCOPES: &str = "tweet.read tweet.write users.read media.write offline.access";
/// Ids per metrics request.
const METRICS_BATCH: usize = 100;
/// Bytes per chunk of a chunked upload.
const CHUNK: usize = 4 * 1024 * 1024;
/// How long reconciliation looks before the claim time, for clock skew.
const FIND_SKEW: chrono::Duration = chrono::Duration::minutes(2);
/// Pages of the timeline reconciliation reads at most.
const FIND_PAGES: usize = 5;
/// Media processing polls at most.
const MAX_STATUS_POLLS: u32 = 120;

/// The X adapter.
pub struct XClient {
    base_url: String,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    http: reqwest::Client,
    last: LastRateLimit,
    refreshed: RefreshCache,
    /// The longest wait between media status polls (X's `check_after_secs` is honoured up to this).
    max_poll_wait: Duration,
}

impl std::fmt::Debug for XClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XClient")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl XClient {
    pub fn new(
        base_url: impl Into<String>,
        client_id: Option<String>,
        client_secret: Option<Secret>,
        http: reqwest::Client,
    ) -> Self {
        XClient {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            http,
            last: LastRateLimit::default(),
            refreshed: RefreshCache::default(),
            max_poll_wait: Duration::from_secs(30),
        }
    }

    pub fn from_settings(settings: &PlatformSettings) -> Self {
        Self::new(
            settings
                .x_base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            settings.x_client_id.clone(),
            settings.x_client_secret.clone(),
            http::client(),
        )
    }

    /// Caps the wait between media processing polls (tests use a short one).
    pub fn with_max_poll_wait(mut self, wait: Duration) -> Self {
        self.max_poll_wait = wait;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends, records the rate-limit headers, and turns a failure status into an error.
    async fn call(
        &self,
        req: reqwest::RequestBuilder,
        kind: CallKind,
        what: &str,
    ) -> Result<Reply, PlatformError> {
        let reply = http::send(req, kind, what).await?;
        let rl = http::x_rate_limit(&reply.headers);
        self.last.record(rl.clone());
        if reply.is_success() {
            return Ok(reply);
        }
        Err(self.failure(&reply, rl.as_ref(), kind, what))
    }

    fn failure(
        &self,
        reply: &Reply,
        rl: Option<&RateLimit>,
        kind: CallKind,
        what: &str,
    ) -> PlatformError {
        let problem: Problem = serde_json::from_slice(&reply.body).unwrap_or_default();
        let said = problem.message().unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&reply.body);
            http::shorten(text.trim())
        });
        let message = format!("{what}: X answered {}: {said}", reply.status.as_u16());
        let code = reply.status.as_u16();
        if code == 429
            && problem
                .kind
                .as_deref()
                .is_some_and(|t| t.contains("usage-capped"))
        {
            return PlatformError::Permanent {
                message: format!(
                    "{message} (the app's monthly X usage cap is reached: wait for the next month or upgrade the plan)"
                ),
            };
        }
        if code == 402 {
            return PlatformError::Permanent {
                message: format!("{message} (the X API plan does not include this)"),
            };
        }
        if code == 429 {
            // A create can be refused by the 24-hour user or app limit while the
            // 15-minute window still has room: wait for the limit that ran out.
            let daily = ["x-user-limit-24hour", "x-app-limit-24hour"]
                .into_iter()
                .filter_map(|prefix| {
                    http::rate_limit_from(
                        &reply.headers,
                        &format!("{prefix}-limit"),
                        &format!("{prefix}-remaining"),
                        &format!("{prefix}-reset"),
                    )
                })
                .filter(|r| r.remaining == Some(0))
                .max_by_key(|r| r.reset_at);
            if let Some(daily) = daily {
                return http::status_error(
                    reply.status,
                    &reply.headers,
                    Some(&daily),
                    format!("{message} (the 24-hour posting limit is used up)"),
                    kind,
                );
            }
        }
        http::status_error(reply.status, &reply.headers, rl, message, kind)
    }

    /// Creates one post.
    async fn create(
        &self,
        creds: &Credentials,
        text: &str,
        media_ids: &[String],
        reply_to: Option<&str>,
    ) -> Result<String, PlatformError> {
        let mut body = json!({ "text": text });
        if !media_ids.is_empty() {
            body["media"] = json!({ "media_ids": media_ids });
        }
        if let Some(parent) = reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": parent });
        }
        let what = "creating a post on X";
        let reply = self
            .call(
                self.http
                    .post(self.url("/2/tweets"))
                    .bearer_auth(creds.access_token.expose())
                    .json(&body),
                CallKind::Create,
                what,
            )
            .await?;
        let created: DataEnvelope<Tweet> = reply.json(what, CallKind::Create)?;
        Ok(created.data.id)
    }

    fn post_url(creds: &Credentials, id: &str) -> String {
        let handle = creds.handle.trim_start_matches('@');
        if handle.is_empty() {
            format!("https://x.com/i/web/status/{id}")
        } else {
            format!("https://x.com/{handle}/status/{id}")
        }
    }

    async fn timeline_page(
        &self,
        creds: &Credentials,
        user_id: &str,
        start: DateTime<Utc>,
        token: Option<&str>,
    ) -> Result<Timeline, PlatformError> {
        let mut query: Vec<(&str, String)> = vec![
            ("max_results", "100".into()),
            ("start_time", start.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            (
                "tweet.fields",
                "created_at,referenced_tweets,conversation_id".into(),
            ),
        ];
        if let Some(t) = token {
            query.push(("pagination_token", t.to_owned()));
        }
        let what = "reading the X account's recent posts";
        let reply = self
            .call(
                self.http
                    .get(self.url(&format!("/2/users/{user_id}/tweets")))
                    .bearer_auth(creds.access_token.expose())
                    .query(&query),
                CallKind::Read,
                what,
            )
            .await?;
        reply.json(what, CallKind::Read)
    }

    async fn metrics_batch(
        &self,
        creds: &Credentials,
        ids: &[String],
        fields: &str,
    ) -> Result<Reply, PlatformError> {
        let joined = ids.join(",");
        self.call(
            self.http
                .get(self.url("/2/tweets"))
                .bearer_auth(creds.access_token.expose())
                .query(&[("ids", joined.as_str()), ("tweet.fields", fields)]),
            CallKind::Read,
            "reading X metrics",
        )
        .await
    }
}

#[async_trait]
impl PlatformClient for XClient {
    fn platform(&self) -> Platform {
        Platform::X
    }

    async fn publish(
        &self,
        creds: &Credentials,
        request: &PublishRequest,
        witness: &dyn Witness,
    ) -> Result<Published, PlatformError> {
        let span = tracing::info_span!("x.publish", post_id = %request.post_id, parts = request.content.parts.len());
        async move {
            let parts = &request.content.parts;
            if parts.is_empty() {
                return Err(PlatformError::Permanent {
                    message: "the post has no text".into(),
                });
            }
            // Uploads create nothing visible, so they come before the witness.
            let mut media_ids = Vec::with_capacity(parts.len());
            for part in parts {
                let mut ids = Vec::with_capacity(part.media.len());
                for m in &part.media {
                    ids.push(self.upload(creds, m).await?);
                }
                media_ids.push(ids);
            }
            witness.request_sent().await?;
            let mut part_ids: Vec<String> = Vec::with_capacity(parts.len());
            for (k, (part, ids)) in parts.iter().zip(&media_ids).enumerate() {
                match self
                    .create(creds, &part.text, ids, part_ids.last().map(String::as_str))
                    .await
                {
                    Ok(id) => part_ids.push(id),
                    Err(e) if k == 0 => return Err(e),
                    Err(e) => return Err(partial_thread(&part_ids, k, parts.len(), &e)),
                }
            }
            let first = part_ids[0].clone();
            tracing::info!(platform_post_id = %first, "published on X");
            Ok(Published {
                url: Some(Self::post_url(creds, &first)),
                platform_post_id: first,
                part_ids,
            })
        }
        .instrument(span)
        .await
    }

    async fn find(
        &self,
        creds: &Credentials,
        request: &PublishRequest,
    ) -> Result<Found, PlatformError> {
        let span = tracing::info_span!("x.find", post_id = %request.post_id);
        async move {
            let user_id = creds.user_id.as_deref().ok_or_else(|| PlatformError::Permanent {
                message: "cannot look for the post on X: the account has no X user id; run `psn connect x` again".into(),
            })?;
            let parts = &request.content.parts;
            let Some(first) = parts.first() else {
                return Ok(Found::No);
            };
            let start = request.not_before - FIND_SKEW;
            let mut tweets: Vec<WireTimelineTweet> = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..FIND_PAGES {
                let page = self.timeline_page(creds, user_id, start, token.as_deref()).await?;
                tweets.extend(page.data.unwrap_or_default());
                token = page.meta.and_then(|m| m.next_token);
                if token.is_none() {
                    break;
                }
            }
            let in_window = |t: &&WireTimelineTweet| t.created_at.is_none_or(|c| c >= start);
            let want = text_hash(&first.text);
            let Some(head) = tweets
                .iter()
                .filter(in_window)
                .filter(|t| t.replied_to().is_none() || parts.len() == 1)
                .find(|t| text_hash(&t.text) == want)
            else {
                return Ok(Found::No);
            };
            // Follow the reply chain for the other parts of a thread.
            let mut part_ids = vec![head.id.clone()];
            for part in &parts[1..] {
                let parent = part_ids.last().cloned().unwrap_or_default();
                let want = text_hash(&part.text);
                match tweets
                    .iter()
                    .find(|t| t.replied_to() == Some(parent.as_str()) && text_hash(&t.text) == want)
                {
                    Some(t) => part_ids.push(t.id.clone()),
                    None => break,
                }
            }
            tracing::info!(platform_post_id = %head.id, parts_found = part_ids.len(), "found on X");
            if part_ids.len() < parts.len() {
                // Part 1 is live but the rest is not: saying "found" would leave the thread
                // cut short, saying "not found" would post part 1 again. Neither: the user
                // finishes it.
                return Err(PlatformError::Permanent {
                    message: format!(
                        "thread partly published on X: parts 1-{} of {} are live as {}; the rest was not sent. psn will not post part 1 again: publish the rest by hand as replies to {}, or delete the live parts",
                        part_ids.len(),
                        parts.len(),
                        part_ids.join(", "),
                        part_ids.last().map(String::as_str).unwrap_or(""),
                    ),
                });
            }
            Ok(Found::Yes(Published {
                platform_post_id: head.id.clone(),
                url: Some(Self::post_url(creds, &head.id)),
                part_ids,
            }))
        }
        .instrument(span)
        .await
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, PlatformError> {
        let span = tracing::info_span!("x.refresh", handle = %creds.handle);
        async move {
            let refresh =
                creds
                    .refresh_token
                    .as_ref()
                    .ok_or_else(|| PlatformError::AuthExpired {
                        message: "the X account has no refresh token: run `psn connect x` again"
                            .into(),
                    })?;
            let client_id = self.require_client_id()?;
            self.refreshed
                .refresh(refresh, || async {
                    let form = [
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.expose()),
                        ("client_id", client_id),
                    ];
                    let t = self.token_request(&form, "refreshing the X token").await?;
                    Ok(Credentials {
                        access_token: t.access_token,
                        // X rotates refresh tokens; keep the old one only if none came back.
                        refresh_token: t.refresh_token.or_else(|| creds.refresh_token.clone()),
                        expires_at: t.expires_at,
                        user_id: creds.user_id.clone(),
                        handle: creds.handle.clone(),
                        server_url: creds.server_url.clone(),
                    })
                })
                .await
        }
        .instrument(span)
        .await
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.last.get()
    }

    async fn delete(
        &self,
        creds: &Credentials,
        platform_post_id: &str,
    ) -> Result<(), PlatformError> {
        let span = tracing::info_span!("x.delete", platform_post_id);
        async move {
            let what = "deleting a post on X";
            let req = self
                .http
                .delete(self.url(&format!("/2/tweets/{}", path_segment(platform_post_id))))
                .bearer_auth(creds.access_token.expose());
            match self.call(req, CallKind::Read, what).await {
                Ok(_) => Ok(()),
                // Already gone is what the caller wanted.
                Err(PlatformError::Permanent { message }) if message.contains("answered 404") => {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        .instrument(span)
        .await
    }

    async fn metrics(
        &self,
        creds: &Credentials,
        platform_post_ids: &[String],
    ) -> Result<MetricsBatch, PlatformError> {
        let span = tracing::info_span!("x.metrics", posts = platform_post_ids.len());
        async move {
            let mut out = MetricsBatch::default();
            for batch in platform_post_ids.chunks(METRICS_BATCH) {
                let reply = match self
                    .metrics_batch(
                        creds,
                        batch,
                        "public_metrics,non_public_metrics,organic_metrics",
                    )
                    .await
                {
                    Ok(r) => r,
                    // Non-public metrics exist only for the user's own posts under 30 days
                    // old; when X refuses the whole request for it, ask for the public ones.
                    Err(PlatformError::Permanent { .. }) => {
                        self.metrics_batch(creds, batch, "public_metrics").await?
                    }
                    Err(e) => return Err(e),
                };
                let page: MetricsPage = reply.json("reading X metrics", CallKind::Read)?;
                let mut failures = page.errors.unwrap_or_default();
                out.metrics.extend(
                    page.data
                        .unwrap_or_default()
                        .into_iter()
                        .map(MetricsTweet::into_metrics),
                );
                // Posts refused only the private fields (not the user's, or too old): ask
                // again for their public metrics.
                let public_only: Vec<String> = failures
                    .iter()
                    .filter(|e| e.is_field_authorization())
                    .filter_map(PartialError::id)
                    .collect();
                if !public_only.is_empty() {
                    failures.retain(|e| !e.is_field_authorization());
                    let reply = self
                        .metrics_batch(creds, &public_only, "public_metrics")
                        .await?;
                    let page: MetricsPage = reply.json("reading X metrics", CallKind::Read)?;
                    out.metrics.extend(
                        page.data
                            .unwrap_or_default()
                            .into_iter()
                            .map(MetricsTweet::into_metrics),
                    );
                    failures.extend(page.errors.unwrap_or_default());
                }
                for e in failures {
                    let id = e.id().unwrap_or_default();
                    if out.metrics.iter().any(|m| m.platform_post_id == id)
                        || out.errors.iter().any(|f| f.platform_post_id == id)
                    {
                        continue;
                    }
                    out.errors.push(MetricsFailure {
                        platform_post_id: id,
                        message: e
                            .detail
                            .or(e.title)
                            .unwrap_or_else(|| "not available".into()),
                    });
                }
            }
            Ok(out)
        }
        .instrument(span)
        .await
    }

    async fn search(
        &self,
        creds: &Credentials,
        query: &SearchQuery,
    ) -> Result<SearchPage, PlatformError> {
        let span = tracing::info_span!("x.search", limit = query.limit);
        async move {
            let mut params: Vec<(&str, String)> = vec![
                ("query", query.query.clone()),
                ("max_results", query.limit.clamp(10, 100).to_string()),
                (
                    "sort_order",
                    if query.latest { "recency" } else { "relevancy" }.into(),
                ),
                ("tweet.fields", "created_at,public_metrics,author_id".into()),
                ("expansions", "author_id".into()),
                ("user.fields", "username,public_metrics".into()),
            ];
            if let Some(since) = query.since {
                params.push(("start_time", since.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
            }
            if let Some(c) = &query.cursor {
                params.push(("next_token", c.clone()));
            }
            let what = "searching X";
            let reply = self
                .call(
                    self.http
                        .get(self.url("/2/tweets/search/recent"))
                        .bearer_auth(creds.access_token.expose())
                        .query(&params),
                    CallKind::Read,
                    what,
                )
                .await?;
            let page: SearchWire = reply.json(what, CallKind::Read)?;
            let users: HashMap<String, WireUser> = page
                .includes
                .and_then(|i| i.users)
                .unwrap_or_default()
                .into_iter()
                .map(|u| (u.id.clone(), u))
                .collect();
            let hits = page
                .data
                .unwrap_or_default()
                .into_iter()
                .take(query.limit as usize)
                .map(|t| {
                    let author = t.author_id.as_ref().and_then(|a| users.get(a));
                    let pm = t.public_metrics.unwrap_or_default();
                    let handle = author.map(|u| u.username.clone());
                    SearchHit {
                        url: Some(match &handle {
                            Some(h) => format!("https://x.com/{h}/status/{}", t.id),
                            None => format!("https://x.com/i/web/status/{}", t.id),
                        }),
                        platform_post_id: t.id,
                        text: t.text,
                        author_id: t.author_id.clone(),
                        author_handle: handle,
                        author_followers: author
                            .and_then(|u| u.public_metrics.as_ref())
                            .and_then(|m| m.followers_count),
                        created_at: t.created_at,
                        likes: pm.like_count,
                        reposts: pm.retweet_count,
                        replies: pm.reply_count,
                        quotes: pm.quote_count,
                    }
                })
                .collect();
            Ok(SearchPage {
                hits,
                next_cursor: page.meta.and_then(|m| m.next_token),
            })
        }
        .instrument(span)
        .await
    }
}

/// The error for a thread whose part `k` (0-based) failed after earlier parts went live.
/// It is permanent whatever the cause: retrying would post part 1 again.
fn partial_thread(
    published: &[String],
    k: usize,
    total: usize,
    cause: &PlatformError,
) -> PlatformError {
    let state = if matches!(cause, PlatformError::OutcomeUnknown { .. }) {
        "may or may not have been published"
    } else {
        "was not published"
    };
    PlatformError::Permanent {
        message: format!(
            "thread partly published on X: parts 1-{k} of {total} are live as {}; part {} {state} ({cause}). psn will not post part 1 again: publish the rest by hand as replies to {}, or delete the live parts",
            published.join(", "),
            k + 1,
            published.last().map(String::as_str).unwrap_or(""),
        ),
    }
}

/// Keeps an id usable as one path segment.
fn path_segment(id: &str) -> String {
    id.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The hash reconciliation matches on: text with links removed (X rewrites them to t.co
/// and appends one for media), `&amp;`-style escapes undone, and whitespace collapsed.
pub fn text_hash(text: &str) -> String {
    let unescaped = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let normalized: Vec<&str> = unescaped
        .split_whitespace()
        .filter(|w| !(w.starts_with("http://") || w.starts_with("https://")))
        .collect();
    let digest = Sha256::digest(normalized.join(" ").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_hash_ignores_links_and_escapes() {
        assert_eq!(
            text_hash("Tom & Jerry <3 https://example.com/a  end"),
            text_hash("Tom &amp; Jerry &lt;3 https://t.co/abc end https://t.co/media")
        );
        assert_ne!(text_hash("hello"), text_hash("hello!"));
    }

    #[test]
    fn partial_thread_names_live_parts() {
        let e = partial_thread(
            &["1".into(), "2".into()],
            2,
            3,
            &PlatformError::Retryable {
                message: "boom".into(),
                retry_after: None,
            },
        );
        let msg = e.to_string();
        assert!(matches!(e, PlatformError::Permanent { .. }));
        assert!(msg.contains("parts 1-2 of 3 are live as 1, 2"), "{msg}");
        assert!(msg.contains("part 3 was not published"), "{msg}");
    }
}
