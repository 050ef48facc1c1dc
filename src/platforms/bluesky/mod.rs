//! Bluesky (AT Protocol, through the account's PDS). Sessions from app passwords,
//! refreshed with rotating refresh JWTs; posts and threads with client-chosen record keys;
//! rich-text facets; images; delete; metrics; search.
//!
//! Exactly-once: the scheduler stores a TID ([`new_tid`]) as the post's `publish_key`
//! before the first attempt. Part `k` (0-based) of a thread is written at record key
//! `part_rkey(publish_key, k)`: TIDs are 64-bit numbers, and psn's TIDs leave the low five
//! bits free, so up to 32 parts stay inside one timestamp (more carry into the next
//! microsecond, still valid and still in order). Every part's key is known before anything
//! is sent, so `find` asks `getRecord` for each, and a retry that meets a part already
//! written adopts it instead of writing it twice. A thread cut short is therefore resumed,
//! not duplicated, which is why failures after the first part keep their own kind here.

mod facets;
mod tid;
mod wire;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

use super::http::{self, CallKind, LastRateLimit, RefreshCache, Reply};
use super::{
    Credentials, Found, MetricsBatch, MetricsFailure, PlatformClient, PlatformError, PostMetrics,
    PublishRequest, Published, RateLimit, SearchHit, SearchPage, SearchQuery, Witness,
};
use crate::config::{PlatformSettings, Secret};
use crate::domain::{Media, MediaKind, Platform, PostPart};

use facets::{FacetKind, detect_facets};
pub use tid::{is_tid, new_tid, part_rkey};
use wire::{StrongRef, WirePosts, WireRecord, WireSearch, WireSession, XrpcError};

pub const DEFAULT_PDS_URL: &str = "https://bsky.social";
pub const POST_COLLECTION: &str = "app.bsky.feed.post";
/// The largest image Bluesky accepts.
pub const MAX_IMAGE_BYTES: u64 = 2_000_000;
const METRICS_BATCH: usize = 25;
const NO_REFRESH_TOKEN: &str =
    "the Bluesky session has no refresh token: run `psn connect bluesky` again";

/// The Bluesky adapter.
pub struct BlueskyClient {
    default_pds: String,
    http: reqwest::Client,
    last: LastRateLimit,
    refreshed: RefreshCache,
}

impl std::fmt::Debug for BlueskyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlueskyClient")
            .field("default_pds", &self.default_pds)
            .finish_non_exhaustive()
    }
}

/// A Bluesky post URL from its at-uri and the author's handle.
pub fn post_url(handle_or_did: &str, at_uri: &str) -> Option<String> {
    let rkey = at_uri.rsplit('/').next().filter(|r| !r.is_empty())?;
    let who = handle_or_did.trim_start_matches('@');
    Some(format!("https://bsky.app/profile/{who}/post/{rkey}"))
}

impl BlueskyClient {
    pub fn new(default_pds: impl Into<String>, http: reqwest::Client) -> Self {
        BlueskyClient {
            default_pds: default_pds.into().trim_end_matches('/').to_owned(),
            http,
            last: LastRateLimit::default(),
            refreshed: RefreshCache::default(),
        }
    }

    pub fn from_settings(settings: &PlatformSettings) -> Self {
        Self::new(
            settings
                .bluesky_pds_url
                .clone()
                .unwrap_or_else(|| DEFAULT_PDS_URL.to_owned()),
            http::client(),
        )
    }

    pub fn default_pds(&self) -> &str {
        &self.default_pds
    }

    fn xrpc(&self, creds: Option<&Credentials>, method: &str) -> String {
        let base = creds
            .and_then(|c| c.server_url.as_deref())
            .map(|s| s.trim_end_matches('/'))
            .unwrap_or(&self.default_pds);
        format!("{base}/xrpc/{method}")
    }

    async fn call(
        &self,
        req: reqwest::RequestBuilder,
        kind: CallKind,
        what: &str,
    ) -> Result<Reply, PlatformError> {
        let reply = http::send(req, kind, what).await?;
        let rl = http::bluesky_rate_limit(&reply.headers);
        self.last.record(rl.clone());
        if reply.is_success() {
            return Ok(reply);
        }
        Err(failure(&reply, rl.as_ref(), kind, what))
    }

    /// Logs in with an app password (`createSession`). `identifier` is a handle or DID.
    #[tracing::instrument(name = "bluesky.create_session", skip(self, password), fields(pds))]
    pub async fn create_session(
        &self,
        pds: Option<&str>,
        identifier: &str,
        password: &Secret,
    ) -> Result<Credentials, PlatformError> {
        let base = pds
            .map(|p| p.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| self.default_pds.clone());
        tracing::Span::current().record("pds", base.as_str());
        let what = "logging in to Bluesky";
        let reply = self
            .call(
                self.http
                    .post(format!("{base}/xrpc/com.atproto.server.createSession"))
                    .json(&json!({ "identifier": identifier, "password": password.expose() })),
                CallKind::Read,
                what,
            )
            .await?;
        let s: WireSession = reply.json(what, CallKind::Read)?;
        Ok(s.into_credentials(Some(base)))
    }

    /// Resolves a handle to its DID.
    async fn resolve_handle(&self, creds: &Credentials, handle: &str) -> Option<String> {
        let reply = self
            .call(
                self.http
                    .get(self.xrpc(Some(creds), "com.atproto.identity.resolveHandle"))
                    .bearer_auth(creds.access_token.expose())
                    .query(&[("handle", handle)]),
                CallKind::Read,
                "resolving a Bluesky handle",
            )
            .await
            .ok()?;
        #[derive(Deserialize)]
        struct Resolved {
            did: String,
        }
        reply
            .json::<Resolved>("resolving a Bluesky handle", CallKind::Read)
            .ok()
            .map(|r| r.did)
    }

    /// Facets with DIDs resolved; unresolvable mentions are left as plain text.
    async fn facets(&self, creds: &Credentials, text: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for f in detect_facets(text) {
            let feature = match &f.kind {
                FacetKind::Link(uri) => {
                    json!({ "$type": "app.bsky.richtext.facet#link", "uri": uri })
                }
                FacetKind::Tag(tag) => {
                    json!({ "$type": "app.bsky.richtext.facet#tag", "tag": tag })
                }
                FacetKind::Mention(handle) => match self.resolve_handle(creds, handle).await {
                    Some(did) => json!({ "$type": "app.bsky.richtext.facet#mention", "did": did }),
                    None => continue,
                },
            };
            out.push(json!({
                "index": { "byteStart": f.start, "byteEnd": f.end },
                "features": [feature],
            }));
        }
        out
    }

    async fn upload_blob(
        &self,
        creds: &Credentials,
        media: &Media,
    ) -> Result<Value, PlatformError> {
        if media.kind != MediaKind::Image {
            return Err(PlatformError::Permanent {
                message:
                    "psn posts only images to Bluesky; videos and GIFs are not supported there yet"
                        .into(),
            });
        }
        let bytes = http::load_media(&self.http, &media.source, MAX_IMAGE_BYTES).await?;
        let what = "uploading an image to Bluesky";
        let reply = self
            .call(
                self.http
                    .post(self.xrpc(Some(creds), "com.atproto.repo.uploadBlob"))
                    .bearer_auth(creds.access_token.expose())
                    .header(reqwest::header::CONTENT_TYPE, media.mime.as_str())
                    .body(bytes),
                CallKind::Read,
                what,
            )
            .await?;
        #[derive(Deserialize)]
        struct Uploaded {
            blob: Value,
        }
        Ok(reply.json::<Uploaded>(what, CallKind::Read)?.blob)
    }

    async fn get_record(
        &self,
        creds: &Credentials,
        did: &str,
        rkey: &str,
    ) -> Result<Option<StrongRef>, PlatformError> {
        let what = "reading a Bluesky record";
        let req = self
            .http
            .get(self.xrpc(Some(creds), "com.atproto.repo.getRecord"))
            .bearer_auth(creds.access_token.expose())
            .query(&[
                ("repo", did),
                ("collection", POST_COLLECTION),
                ("rkey", rkey),
            ]);
        let reply = http::send(req, CallKind::Read, what).await?;
        let rl = http::bluesky_rate_limit(&reply.headers);
        self.last.record(rl.clone());
        if reply.is_success() {
            let r: WireRecord = reply.json(what, CallKind::Read)?;
            return Ok(Some(StrongRef {
                uri: r.uri,
                cid: r.cid.unwrap_or_default(),
                text: r
                    .value
                    .and_then(|v| v.get("text").and_then(Value::as_str).map(str::to_owned)),
            }));
        }
        let err: XrpcError = serde_json::from_slice(&reply.body).unwrap_or_default();
        if reply.status.as_u16() == 400 && err.error.as_deref() == Some("RecordNotFound") {
            return Ok(None);
        }
        Err(failure(&reply, rl.as_ref(), CallKind::Read, what))
    }

    async fn create_part(
        &self,
        creds: &Credentials,
        did: &str,
        rkey: &str,
        record: &Value,
    ) -> Result<StrongRef, PlatformError> {
        let body = json!({
            "repo": did,
            "collection": POST_COLLECTION,
            "rkey": rkey,
            "record": record,
        });
        let what = "creating a post on Bluesky";
        let reply = self
            .call(
                self.http
                    .post(self.xrpc(Some(creds), "com.atproto.repo.createRecord"))
                    .bearer_auth(creds.access_token.expose())
                    .json(&body),
                CallKind::Create,
                what,
            )
            .await?;
        let r: WireRecord = reply.json(what, CallKind::Create)?;
        Ok(StrongRef {
            uri: r.uri,
            cid: r.cid.unwrap_or_default(),
            text: None,
        })
    }

    async fn record_for(
        &self,
        creds: &Credentials,
        part: &PostPart,
        blobs: &[Value],
        thread: Option<(&StrongRef, &StrongRef)>,
    ) -> Value {
        let mut record = json!({
            "$type": POST_COLLECTION,
            "text": part.text,
            "createdAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        });
        let facets = self.facets(creds, &part.text).await;
        if !facets.is_empty() {
            record["facets"] = Value::Array(facets);
        }
        if !blobs.is_empty() {
            let images: Vec<Value> = part
                .media
                .iter()
                .zip(blobs)
                .map(|(m, blob)| json!({ "image": blob, "alt": m.alt.clone().unwrap_or_default() }))
                .collect();
            record["embed"] = json!({ "$type": "app.bsky.embed.images", "images": images });
        }
        if let Some((root, parent)) = thread {
            record["reply"] = json!({
                "root": { "uri": root.uri, "cid": root.cid },
                "parent": { "uri": parent.uri, "cid": parent.cid },
            });
        }
        record
    }
}

/// Logs a thread cut short and passes the error on: a retry resumes at the same keys.
fn interrupted(k: usize, e: PlatformError) -> PlatformError {
    if k > 0 {
        tracing::warn!(
            part = k + 1,
            "thread interrupted; a retry resumes it at the same record keys"
        );
    }
    e
}

fn require_did(creds: &Credentials) -> Result<&str, PlatformError> {
    creds
        .user_id
        .as_deref()
        .filter(|d| d.starts_with("did:"))
        .ok_or_else(|| PlatformError::AuthExpired {
            message: "the Bluesky account has no DID: run `psn connect bluesky` again".into(),
        })
}

/// Turns a Bluesky error answer into a [`PlatformError`].
fn failure(reply: &Reply, rl: Option<&RateLimit>, kind: CallKind, what: &str) -> PlatformError {
    let err: XrpcError = serde_json::from_slice(&reply.body).unwrap_or_default();
    let said = match (&err.error, &err.message) {
        (Some(e), Some(m)) => format!("{e}: {m}"),
        (Some(e), None) => e.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => http::shorten(String::from_utf8_lossy(&reply.body).trim()),
    };
    let message = format!("{what}: Bluesky answered {}: {said}", reply.status.as_u16());
    if matches!(err.error.as_deref(), Some("ExpiredToken" | "InvalidToken")) {
        return PlatformError::AuthExpired { message };
    }
    http::status_error(reply.status, &reply.headers, rl, message, kind)
}

#[async_trait]
impl PlatformClient for BlueskyClient {
    fn platform(&self) -> Platform {
        Platform::Bluesky
    }

    async fn publish(
        &self,
        creds: &Credentials,
        request: &PublishRequest,
        witness: &dyn Witness,
    ) -> Result<Published, PlatformError> {
        let span = tracing::info_span!("bluesky.publish", post_id = %request.post_id, parts = request.content.parts.len());
        async move {
            let did = require_did(creds)?;
            let parts = &request.content.parts;
            if parts.is_empty() {
                return Err(PlatformError::Permanent {
                    message: "the post has no text".into(),
                });
            }
            // Blobs create nothing visible, so they come before the witness.
            let mut blobs = Vec::with_capacity(parts.len());
            for part in parts {
                if part.media.len() > 4 {
                    return Err(PlatformError::Permanent {
                        message: "Bluesky allows at most 4 images per post".into(),
                    });
                }
                let mut b = Vec::with_capacity(part.media.len());
                for m in &part.media {
                    b.push(self.upload_blob(creds, m).await?);
                }
                blobs.push(b);
            }
            witness.request_sent().await?;
            let mut refs: Vec<StrongRef> = Vec::with_capacity(parts.len());
            for (k, (part, b)) in parts.iter().zip(&blobs).enumerate() {
                let rkey = part_rkey(&request.publish_key, k);
                let thread = refs.first().zip(refs.last());
                let record = self.record_for(creds, part, b, thread).await;
                let created = match self.create_part(creds, did, &rkey, &record).await {
                    Ok(r) => r,
                    // Either a retry meets a part an earlier attempt wrote (refused as a
                    // duplicate key, or a 5xx on some PDSes), or this attempt's answer was
                    // lost. The key is this part's own: if the record is there with this
                    // text, it is this part, so adopt it. Otherwise keep the error: a lost
                    // create may still land, so it stays `OutcomeUnknown`.
                    Err(
                        e
                        @ (PlatformError::Permanent { .. } | PlatformError::OutcomeUnknown { .. }),
                    ) => match self.get_record(creds, did, &rkey).await {
                        Ok(Some(existing))
                            if existing.text.as_deref() == Some(part.text.as_str()) =>
                        {
                            tracing::info!(rkey, "part already on the PDS; adopting it");
                            existing
                        }
                        _ => return Err(interrupted(k, e)),
                    },
                    Err(e) => return Err(interrupted(k, e)),
                };
                refs.push(created);
            }
            let first = refs[0].uri.clone();
            tracing::info!(platform_post_id = %first, "published on Bluesky");
            Ok(Published {
                url: post_url(&creds.handle, &first),
                platform_post_id: first,
                part_ids: refs.into_iter().map(|r| r.uri).collect(),
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
        let span = tracing::info_span!("bluesky.find", post_id = %request.post_id);
        async move {
            let did = require_did(creds)?;
            let mut part_ids = Vec::new();
            for k in 0..request.content.parts.len() {
                match self
                    .get_record(creds, did, &part_rkey(&request.publish_key, k))
                    .await?
                {
                    Some(r) => part_ids.push(r.uri),
                    // A thread cut short is reported as not (fully) there: a retry writes
                    // the missing parts at their keys and adopts the ones that exist.
                    None => return Ok(Found::No),
                }
            }
            let Some(first) = part_ids.first().cloned() else {
                return Ok(Found::No);
            };
            Ok(Found::Yes(Published {
                url: post_url(&creds.handle, &first),
                platform_post_id: first,
                part_ids,
            }))
        }
        .instrument(span)
        .await
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, PlatformError> {
        let span = tracing::info_span!("bluesky.refresh", handle = %creds.handle);
        async move {
            let refresh =
                creds
                    .refresh_token
                    .as_ref()
                    .ok_or_else(|| PlatformError::AuthExpired {
                        message: NO_REFRESH_TOKEN.into(),
                    })?;
            self.refreshed
                .refresh(refresh, || async {
                    let what = "refreshing the Bluesky session";
                    let reply = self
                        .call(
                            self.http
                                .post(self.xrpc(Some(creds), "com.atproto.server.refreshSession"))
                                .bearer_auth(refresh.expose()),
                            CallKind::Read,
                            what,
                        )
                        .await
                        .map_err(|e| match e {
                            PlatformError::AuthExpired { message }
                            | PlatformError::Permanent { message } => PlatformError::AuthExpired {
                                message: format!(
                                    "{message}; run `psn connect bluesky --handle {}` again",
                                    creds.handle
                                ),
                            },
                            other => other,
                        })?;
                    let s: WireSession = reply.json(what, CallKind::Read)?;
                    let mut next = s.into_credentials(creds.server_url.clone());
                    if next.handle.is_empty() {
                        next.handle = creds.handle.clone();
                    }
                    Ok(next)
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
        let span = tracing::info_span!("bluesky.delete", platform_post_id);
        async move {
            let did = require_did(creds)?;
            let (repo, rkey) = match parse_at_uri(platform_post_id) {
                Some((repo, collection, rkey)) if collection == POST_COLLECTION => (repo, rkey),
                _ if is_tid(platform_post_id) => (did.to_owned(), platform_post_id.to_owned()),
                _ => {
                    return Err(PlatformError::Permanent {
                        message: format!(
                            "`{}` is not a Bluesky post uri",
                            http::shorten(platform_post_id)
                        ),
                    });
                }
            };
            self.call(
                self.http
                    .post(self.xrpc(Some(creds), "com.atproto.repo.deleteRecord"))
                    .bearer_auth(creds.access_token.expose())
                    .json(&json!({ "repo": repo, "collection": POST_COLLECTION, "rkey": rkey })),
                CallKind::Read,
                "deleting a post on Bluesky",
            )
            .await?;
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn metrics(
        &self,
        creds: &Credentials,
        platform_post_ids: &[String],
    ) -> Result<MetricsBatch, PlatformError> {
        let span = tracing::info_span!("bluesky.metrics", posts = platform_post_ids.len());
        async move {
            let mut out = MetricsBatch::default();
            for batch in platform_post_ids.chunks(METRICS_BATCH) {
                let query: Vec<(&str, &str)> = batch.iter().map(|u| ("uris", u.as_str())).collect();
                let what = "reading Bluesky metrics";
                let reply = self
                    .call(
                        self.http
                            .get(self.xrpc(Some(creds), "app.bsky.feed.getPosts"))
                            .bearer_auth(creds.access_token.expose())
                            .query(&query),
                        CallKind::Read,
                        what,
                    )
                    .await?;
                let page: WirePosts = reply.json(what, CallKind::Read)?;
                for p in page.posts {
                    out.metrics.push(PostMetrics {
                        platform_post_id: p.uri,
                        likes: p.like_count,
                        reposts: p.repost_count,
                        replies: p.reply_count,
                        quotes: p.quote_count,
                        ..PostMetrics::default()
                    });
                }
                for id in batch {
                    if !out.metrics.iter().any(|m| &m.platform_post_id == id) {
                        out.errors.push(MetricsFailure {
                            platform_post_id: id.clone(),
                            message:
                                "Bluesky returned no post for this uri (deleted or not visible)"
                                    .into(),
                        });
                    }
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
        let span = tracing::info_span!("bluesky.search", limit = query.limit);
        async move {
            let mut params: Vec<(&str, String)> = vec![
                ("q", query.query.clone()),
                ("sort", if query.latest { "latest" } else { "top" }.into()),
                ("limit", query.limit.clamp(1, 100).to_string()),
            ];
            if let Some(since) = query.since {
                params.push(("since", since.to_rfc3339_opts(SecondsFormat::Secs, true)));
            }
            if let Some(c) = &query.cursor {
                params.push(("cursor", c.clone()));
            }
            let what = "searching Bluesky";
            let reply = self
                .call(
                    self.http
                        .get(self.xrpc(Some(creds), "app.bsky.feed.searchPosts"))
                        .bearer_auth(creds.access_token.expose())
                        .query(&params),
                    CallKind::Read,
                    what,
                )
                .await?;
            let page: WireSearch = reply.json(what, CallKind::Read)?;
            let hits = page
                .posts
                .into_iter()
                .map(|p| {
                    let text = p
                        .record
                        .as_ref()
                        .and_then(|r| r.get("text"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    let created_at = p
                        .record
                        .as_ref()
                        .and_then(|r| r.get("createdAt"))
                        .and_then(Value::as_str)
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.with_timezone(&Utc));
                    let handle = p.author.as_ref().map(|a| a.handle.clone());
                    SearchHit {
                        url: post_url(handle.as_deref().unwrap_or_default(), &p.uri),
                        platform_post_id: p.uri,
                        text,
                        author_id: p.author.as_ref().map(|a| a.did.clone()),
                        author_handle: handle,
                        author_followers: p.author.as_ref().and_then(|a| a.followers_count),
                        created_at,
                        likes: p.like_count,
                        reposts: p.repost_count,
                        replies: p.reply_count,
                        quotes: p.quote_count,
                    }
                })
                .collect();
            Ok(SearchPage {
                hits,
                next_cursor: page.cursor,
            })
        }
        .instrument(span)
        .await
    }
}

/// `at://did/collection/rkey` → its parts.
fn parse_at_uri(uri: &str) -> Option<(String, String, String)> {
    let rest = uri.strip_prefix("at://")?;
    let mut it = rest.splitn(3, '/');
    let repo = it.next()?.to_owned();
    let collection = it.next()?.to_owned();
    let rkey = it.next()?.to_owned();
    (!repo.is_empty() && !rkey.is_empty()).then_some((repo, collection, rkey))
}

/// When a JWT expires, read from its (unverified) payload; the server checks it, psn
/// only uses it to refresh ahead of time.
fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(v.get("exp")?.as_i64()?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_uris_and_urls() {
        let uri = "at://did:plc:abc/app.bsky.feed.post/3kabc";
        assert_eq!(
            parse_at_uri(uri),
            Some(("did:plc:abc".into(), POST_COLLECTION.into(), "3kabc".into()))
        );
        assert_eq!(
            post_url("@me.bsky.social", uri).unwrap(),
            "https://bsky.app/profile/me.bsky.social/post/3kabc"
        );
        assert_eq!(parse_at_uri("https://x"), None);
    }

    #[test]
    fn jwt_expiry_reads_exp() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1900000000}"#);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig");
        assert_eq!(jwt_expiry(&token).unwrap().timestamp(), 1_900_000_000);
        assert_eq!(jwt_expiry("garbage"), None);
    }
}
