//! X (API v2). Posts and threads (reply chains), image and chunked video upload, delete,
//! metrics, recent search, reconciliation by the account's recent posts, and OAuth 2
//! token refresh with rotating refresh tokens. See PLATFORMS.md for the facts used here.
//!
//! X has no idempotency key. A create whose answer was lost is reconciled by reading the
//! account's recent posts and matching the first part's text (normalized: X rewrites links
//! to t.co and escapes `&<>`) created at or after the claim, less two minutes for clock
//! skew. Two posts with the same text cannot both exist there: X refuses duplicate content.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::http::{self, CallKind, LastRateLimit, RefreshCache, Reply};
use super::{
    Credentials, Found, MetricsBatch, MetricsFailure, PlatformClient, PlatformError, PostMetrics,
    PublishRequest, Published, RateLimit, SearchHit, SearchPage, SearchQuery, Witness,
};
use crate::config::{PlatformSettings, Secret};
use crate::domain::{Media, MediaKind, Platform};

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

/// Tokens from X's token endpoint.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The user a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XUser {
    pub id: String,
    pub username: String,
    pub name: Option<String>,
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

    /// Uploads one media item and returns its media id.
    async fn upload(&self, creds: &Credentials, media: &Media) -> Result<String, PlatformError> {
        let bytes = http::load_media(&self.http, &media.source).await?;
        let id = match media.kind {
            MediaKind::Image => self.upload_simple(creds, media, bytes).await?,
            MediaKind::Gif | MediaKind::Video => self.upload_chunked(creds, media, bytes).await?,
        };
        if let Some(alt) = media.alt.as_deref().filter(|a| !a.trim().is_empty()) {
            let body = json!({ "id": id, "metadata": { "alt_text": { "text": alt } } });
            self.call(
                self.http
                    .post(self.url("/2/media/metadata"))
                    .bearer_auth(creds.access_token.expose())
                    .json(&body),
                CallKind::Read,
                "setting alt text on X media",
            )
            .await?;
        }
        Ok(id)
    }

    async fn upload_simple(
        &self,
        creds: &Credentials,
        media: &Media,
        bytes: Vec<u8>,
    ) -> Result<String, PlatformError> {
        let form = Form::new()
            .part("media", media_part(media, bytes)?)
            .text("media_category", "tweet_image");
        let reply = self
            .call(
                self.http
                    .post(self.url("/2/media/upload"))
                    .bearer_auth(creds.access_token.expose())
                    .multipart(form),
                CallKind::Read,
                "uploading an image to X",
            )
            .await?;
        let up: MediaEnvelope = reply.json("uploading an image to X", CallKind::Read)?;
        let id = up.id().ok_or_else(|| PlatformError::Permanent {
            message: "uploading an image to X: the answer held no media id".into(),
        })?;
        if let Some(info) = up.data.and_then(|d| d.processing_info) {
            self.wait_processed(creds, &id, info).await?;
        }
        Ok(id)
    }

    async fn upload_chunked(
        &self,
        creds: &Credentials,
        media: &Media,
        bytes: Vec<u8>,
    ) -> Result<String, PlatformError> {
        let category = match media.kind {
            MediaKind::Gif => "tweet_gif",
            _ => "tweet_video",
        };
        let init = json!({
            "media_type": media.mime,
            "total_bytes": bytes.len(),
            "media_category": category,
        });
        let what = "starting a chunked upload to X";
        let reply = self
            .call(
                self.http
                    .post(self.url("/2/media/upload/initialize"))
                    .bearer_auth(creds.access_token.expose())
                    .json(&init),
                CallKind::Read,
                what,
            )
            .await?;
        let id = reply
            .json::<MediaEnvelope>(what, CallKind::Read)?
            .id()
            .ok_or_else(|| PlatformError::Permanent {
                message: format!("{what}: the answer held no media id"),
            })?;
        for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
            let form = Form::new()
                .part("media", media_part(media, chunk.to_vec())?)
                .text("segment_index", index.to_string());
            self.call(
                self.http
                    .post(self.url(&format!("/2/media/upload/{id}/append")))
                    .bearer_auth(creds.access_token.expose())
                    .multipart(form),
                CallKind::Read,
                "uploading a chunk to X",
            )
            .await?;
        }
        let what = "finishing a chunked upload to X";
        let reply = self
            .call(
                self.http
                    .post(self.url(&format!("/2/media/upload/{id}/finalize")))
                    .bearer_auth(creds.access_token.expose()),
                CallKind::Read,
                what,
            )
            .await?;
        let fin: MediaEnvelope = reply.json(what, CallKind::Read)?;
        if let Some(info) = fin.data.and_then(|d| d.processing_info) {
            self.wait_processed(creds, &id, info).await?;
        }
        Ok(id)
    }

    /// Polls `STATUS` until X has processed the media, honouring `check_after_secs`.
    async fn wait_processed(
        &self,
        creds: &Credentials,
        id: &str,
        mut info: ProcessingInfo,
    ) -> Result<(), PlatformError> {
        for _ in 0..MAX_STATUS_POLLS {
            match info.state.as_str() {
                "succeeded" => return Ok(()),
                "failed" => {
                    let why = info
                        .error
                        .and_then(|e| e.message.or(e.name))
                        .unwrap_or_else(|| "no reason given".into());
                    return Err(PlatformError::Permanent {
                        message: format!("X could not process media {id}: {why}"),
                    });
                }
                _ => {}
            }
            let wait =
                Duration::from_secs(info.check_after_secs.unwrap_or(1)).min(self.max_poll_wait);
            tokio::time::sleep(wait).await;
            let what = "checking X media processing";
            let reply = self
                .call(
                    self.http
                        .get(self.url("/2/media/upload"))
                        .bearer_auth(creds.access_token.expose())
                        .query(&[("command", "STATUS"), ("media_id", id)]),
                    CallKind::Read,
                    what,
                )
                .await?;
            let status: MediaEnvelope = reply.json(what, CallKind::Read)?;
            match status.data.and_then(|d| d.processing_info) {
                Some(next) => info = next,
                None => return Ok(()),
            }
        }
        Err(PlatformError::Retryable {
            message: format!("X is still processing media {id}; try again later"),
            retry_after: None,
        })
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

    /// The authorize URL for the PKCE flow.
    pub fn authorize_url(
        authorize_base: &str,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
    ) -> String {
        let mut url = match reqwest::Url::parse(authorize_base) {
            Ok(u) => u,
            Err(_) => return authorize_base.to_owned(),
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Exchanges an authorization code (PKCE) for tokens.
    #[tracing::instrument(name = "x.exchange_code", skip_all)]
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, PlatformError> {
        let client_id = self.require_client_id()?;
        let form = [
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
            ("client_id", client_id),
        ];
        self.token_request(&form, "exchanging the X authorization code")
            .await
    }

    /// The user the token belongs to (`GET /2/users/me`).
    #[tracing::instrument(name = "x.me", skip_all)]
    pub async fn me(&self, access_token: &Secret) -> Result<XUser, PlatformError> {
        let what = "reading the X user";
        let reply = self
            .call(
                self.http
                    .get(self.url("/2/users/me"))
                    .bearer_auth(access_token.expose()),
                CallKind::Read,
                what,
            )
            .await?;
        let me: DataEnvelope<WireUser> = reply.json(what, CallKind::Read)?;
        Ok(XUser {
            id: me.data.id,
            username: me.data.username,
            name: me.data.name,
        })
    }

    fn require_client_id(&self) -> Result<&str, PlatformError> {
        self.client_id.as_deref().ok_or_else(|| PlatformError::Permanent {
            message: "no X client id: set PSN_X_CLIENT_ID (platforms.x.client_id) to your X app's OAuth 2 client id".into(),
        })
    }

    async fn token_request(
        &self,
        form: &[(&str, &str)],
        what: &str,
    ) -> Result<TokenSet, PlatformError> {
        let mut req = self.http.post(self.url("/2/oauth2/token")).form(form);
        if let (Some(id), Some(secret)) = (&self.client_id, &self.client_secret) {
            req = req.basic_auth(id, Some(secret.expose()));
        }
        let reply = http::send(req, CallKind::Read, what).await?;
        self.last.record(http::x_rate_limit(&reply.headers));
        if !reply.is_success() {
            let err: OAuthError = serde_json::from_slice(&reply.body).unwrap_or_default();
            let said = err
                .error_description
                .or(err.error)
                .unwrap_or_else(|| format!("HTTP {}", reply.status.as_u16()));
            let message = format!("{what}: X answered {}: {said}", reply.status.as_u16());
            return Err(match reply.status.as_u16() {
                400 | 401 => PlatformError::AuthExpired {
                    message: format!("{message}; run `psn connect x` again"),
                },
                _ => {
                    http::status_error(reply.status, &reply.headers, None, message, CallKind::Read)
                }
            });
        }
        let t: WireToken = reply.json(what, CallKind::Read)?;
        Ok(TokenSet {
            access_token: Secret::new(t.access_token),
            refresh_token: t.refresh_token.map(Secret::new),
            expires_at: t
                .expires_in
                .map(|s| crate::domain::now() + chrono::Duration::seconds(s)),
            scope: t.scope,
        })
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

fn media_part(media: &Media, bytes: Vec<u8>) -> Result<Part, PlatformError> {
    let name = media
        .source
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("media")
        .to_owned();
    Part::bytes(bytes)
        .file_name(name)
        .mime_str(&media.mime)
        .map_err(|_| PlatformError::Permanent {
            message: format!("`{}` is not a valid MIME type", http::shorten(&media.mime)),
        })
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

// ---- wire types (private) ----

#[derive(Deserialize, Default)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    errors: Option<Vec<ProblemItem>>,
}

#[derive(Deserialize)]
struct ProblemItem {
    message: Option<String>,
    detail: Option<String>,
}

impl Problem {
    /// The problem's detail (or title), followed by the specific errors when X lists them.
    fn message(&self) -> Option<String> {
        let specifics: Vec<String> = self
            .errors
            .iter()
            .flatten()
            .filter_map(|e| e.message.clone().or_else(|| e.detail.clone()))
            .collect();
        let head = self.detail.clone().or_else(|| self.title.clone());
        match (head, specifics.is_empty()) {
            (Some(h), true) => Some(h),
            (Some(h), false) => Some(format!("{h} ({})", specifics.join("; "))),
            (None, false) => Some(specifics.join("; ")),
            (None, true) => None,
        }
    }
}

#[derive(Deserialize, Default)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct WireToken {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct DataEnvelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Tweet {
    id: String,
}

#[derive(Deserialize)]
struct WireUser {
    id: String,
    username: String,
    name: Option<String>,
    public_metrics: Option<UserMetrics>,
}

#[derive(Deserialize)]
struct UserMetrics {
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct MediaEnvelope {
    data: Option<MediaData>,
    /// v1.1-style answers some deployments still give.
    media_id_string: Option<String>,
}

impl MediaEnvelope {
    fn id(&self) -> Option<String> {
        self.data
            .as_ref()
            .and_then(|d| d.id.clone())
            .or_else(|| self.media_id_string.clone())
    }
}

#[derive(Deserialize)]
struct MediaData {
    id: Option<String>,
    processing_info: Option<ProcessingInfo>,
}

#[derive(Deserialize)]
struct ProcessingInfo {
    state: String,
    check_after_secs: Option<u64>,
    error: Option<ProcessingError>,
}

#[derive(Deserialize)]
struct ProcessingError {
    name: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Timeline {
    data: Option<Vec<WireTimelineTweet>>,
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct WireTimelineTweet {
    id: String,
    text: String,
    created_at: Option<DateTime<Utc>>,
    referenced_tweets: Option<Vec<Reference>>,
}

impl WireTimelineTweet {
    fn replied_to(&self) -> Option<&str> {
        self.referenced_tweets
            .as_ref()?
            .iter()
            .find(|r| r.kind == "replied_to")
            .map(|r| r.id.as_str())
    }
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize)]
struct Meta {
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct MetricsPage {
    data: Option<Vec<MetricsTweet>>,
    errors: Option<Vec<PartialError>>,
}

#[derive(Deserialize)]
struct PartialError {
    value: Option<String>,
    resource_id: Option<String>,
    title: Option<String>,
    detail: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl PartialError {
    fn id(&self) -> Option<String> {
        self.resource_id.clone().or_else(|| self.value.clone())
    }

    fn is_field_authorization(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.contains("not-authorized-for-field"))
    }
}

#[derive(Deserialize)]
struct MetricsTweet {
    id: String,
    public_metrics: Option<PublicMetrics>,
    non_public_metrics: Option<NonPublicMetrics>,
}

impl MetricsTweet {
    fn into_metrics(self) -> PostMetrics {
        let p = self.public_metrics.unwrap_or_default();
        let n = self.non_public_metrics.unwrap_or_default();
        PostMetrics {
            platform_post_id: self.id,
            impressions: n.impression_count.or(p.impression_count),
            likes: p.like_count,
            reposts: p.retweet_count,
            replies: p.reply_count,
            quotes: p.quote_count,
            bookmarks: p.bookmark_count,
            link_clicks: n.url_link_clicks,
            profile_clicks: n.user_profile_clicks,
            engagements: n.engagements,
        }
    }
}

#[derive(Deserialize, Default)]
struct PublicMetrics {
    retweet_count: Option<u64>,
    reply_count: Option<u64>,
    like_count: Option<u64>,
    quote_count: Option<u64>,
    bookmark_count: Option<u64>,
    impression_count: Option<u64>,
}

#[derive(Deserialize, Default)]
struct NonPublicMetrics {
    impression_count: Option<u64>,
    url_link_clicks: Option<u64>,
    user_profile_clicks: Option<u64>,
    engagements: Option<u64>,
}

#[derive(Deserialize)]
struct SearchWire {
    data: Option<Vec<SearchTweet>>,
    includes: Option<Includes>,
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Includes {
    users: Option<Vec<WireUser>>,
}

#[derive(Deserialize)]
struct SearchTweet {
    id: String,
    text: String,
    author_id: Option<String>,
    created_at: Option<DateTime<Utc>>,
    public_metrics: Option<PublicMetrics>,
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
    fn authorize_url_has_pkce_parameters() {
        let url = XClient::authorize_url(
            DEFAULT_AUTHORIZE_URL,
            "cid",
            "http://127.0.0.1:5000/callback",
            "st",
            "chal",
        );
        assert!(url.starts_with("https://x.com/i/oauth2/authorize?response_type=code"));
        for p in [
            "client_id=cid",
            "state=st",
            "code_challenge=chal",
            "code_challenge_method=S256",
            "offline.access",
        ] {
            assert!(url.contains(p), "{url} lacks {p}");
        }
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
