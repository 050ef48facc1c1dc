//! A fake Bluesky PDS: app-password sessions (rate-limited like the real one) with
//! rotating refresh JWTs, records with client-chosen TID keys, blobs, handle resolution,
//! getPosts and searchPosts, and `RateLimit-*` headers.

#![allow(
    clippy::result_large_err,
    reason = "request helpers fail with the finished error response; one per request, never stored"
)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use unicode_segmentation::UnicodeSegmentation;

use super::{
    After, Endpoint, FakeError, Fault, Faults, Injected, Running, bearer, header, json_response,
    lock, random_token,
};
use crate::config::Secret;
use crate::platforms::Credentials;
use crate::platforms::bluesky::{POST_COLLECTION, is_tid};

/// createSession calls allowed per five minutes, as on bsky.social.
pub const SESSIONS_PER_WINDOW: usize = 30;
const SESSION_WINDOW: chrono::Duration = chrono::Duration::minutes(5);
const ACCESS_TTL: chrono::Duration = chrono::Duration::hours(2);
const MAX_BLOB_BYTES: usize = 2_000_000;

/// An account on the fake PDS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FakeAccount {
    pub did: String,
    pub handle: String,
    /// The app password `createSession` accepts (test data, not a real secret).
    pub app_password: String,
    pub followers: u64,
}

/// A post record as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FakeRecord {
    pub uri: String,
    pub cid: String,
    pub did: String,
    pub rkey: String,
    pub text: String,
    /// The whole record as the client sent it.
    pub record: Value,
    pub reply_root: Option<String>,
    pub reply_parent: Option<String>,
    pub images: Vec<FakeImage>,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
    pub metrics: FakeBskyMetrics,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FakeImage {
    pub blob_cid: String,
    pub alt: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeBskyMetrics {
    pub likes: u64,
    pub reposts: u64,
    pub replies: u64,
    pub quotes: u64,
}

/// An uploaded blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FakeBlob {
    pub cid: String,
    pub owner: String,
    pub mime: String,
    pub size: usize,
}

struct Access {
    did: String,
    expired: bool,
}

#[derive(Default)]
struct PdsState {
    accounts: Vec<FakeAccount>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, String>,
    records: Vec<FakeRecord>,
    blobs: Vec<FakeBlob>,
    faults: Faults,
    sessions: Vec<DateTime<Utc>>,
    sessions_created: u64,
    create_requests: u64,
    calls: u64,
    next: u64,
}

impl PdsState {
    fn jwt(&mut self, did: &str, kind: &str, ttl: chrono::Duration) -> String {
        let enc =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let now = Utc::now();
        let header = enc(&json!({ "alg": "HS256", "typ": kind }));
        let payload = enc(&json!({
            "scope": "com.atproto.appPass", "sub": did, "iat": now.timestamp(),
            "exp": (now + ttl).timestamp(), "jti": random_token(""),
        }));
        format!("{header}.{payload}.{}", random_token(""))
    }

    fn session(&mut self, did: &str) -> (String, String) {
        let access = self.jwt(did, "at+jwt", ACCESS_TTL);
        let refresh = self.jwt(did, "refresh+jwt", chrono::Duration::days(90));
        self.access.insert(
            access.clone(),
            Access {
                did: did.to_owned(),
                expired: false,
            },
        );
        self.refresh.insert(refresh.clone(), did.to_owned());
        (access, refresh)
    }

    fn account(&self, did: &str) -> Option<&FakeAccount> {
        self.accounts.iter().find(|a| a.did == did)
    }

    fn live(&self, uri: &str) -> Option<&FakeRecord> {
        self.records.iter().find(|r| r.uri == uri && !r.deleted)
    }
}

type Shared = Arc<Mutex<PdsState>>;

/// A running fake PDS. Dropping it stops the server.
pub struct FakeBluesky {
    running: Running,
    state: Shared,
}

impl FakeBluesky {
    pub async fn start() -> Result<FakeBluesky, FakeError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> Result<FakeBluesky, FakeError> {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
            .with_state(state.clone());
        let running = Running::start(addr, app)
            .await
            .map_err(|source| FakeError::Bind { addr, source })?;
        Ok(FakeBluesky { running, state })
    }

    /// `http://127.0.0.1:PORT`: the PDS URL.
    pub fn base_url(&self) -> &str {
        &self.running.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub async fn wait(self) {
        let FakeBluesky { running, state } = self;
        let _keep = state;
        running.wait().await;
    }

    /// Adds an account with a fresh app password.
    pub fn add_account(&self, handle: &str) -> FakeAccount {
        let mut s = lock(&self.state);
        s.next += 1;
        let account = FakeAccount {
            did: format!("did:plc:fake{:020}", s.next),
            handle: handle.to_owned(),
            app_password: format!(
                "{}-{}-{}-{}",
                &random_token("")[..4],
                &random_token("")[..4],
                &random_token("")[..4],
                &random_token("")[..4]
            )
            .to_lowercase(),
            followers: 500,
        };
        s.accounts.push(account.clone());
        account
    }

    /// A session the fake accepts, as an adapter gets it from the vault (not counted
    /// against the createSession limit).
    pub fn credentials(&self, account: &FakeAccount) -> Credentials {
        let (access, refresh) = lock(&self.state).session(&account.did);
        Credentials {
            expires_at: Some(Utc::now() + ACCESS_TTL),
            access_token: Secret::new(access),
            refresh_token: Some(Secret::new(refresh)),
            user_id: Some(account.did.clone()),
            handle: account.handle.clone(),
            server_url: Some(self.base_url().to_owned()),
        }
    }

    /// Makes an access JWT expired: calls with it answer 400 `ExpiredToken` from now on.
    pub fn expire_access_token(&self, token: &str) {
        if let Some(a) = lock(&self.state).access.get_mut(token) {
            a.expired = true;
        }
    }

    /// Whether a refresh JWT would still be accepted (each is single-use).
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        lock(&self.state).refresh.contains_key(token)
    }

    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        lock(&self.state).faults.push(endpoint, fault, times);
    }

    /// Lets `skip` matching calls through, then fires `fault` on the next `times`.
    pub fn inject_after(&self, endpoint: Endpoint, skip: u32, fault: Fault, times: u32) {
        lock(&self.state)
            .faults
            .push_after(endpoint, skip, fault, times);
    }

    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Live post records, oldest first.
    pub fn posts(&self) -> Vec<FakeRecord> {
        lock(&self.state)
            .records
            .iter()
            .filter(|r| !r.deleted)
            .cloned()
            .collect()
    }

    /// Every record ever written, deleted ones included.
    pub fn all_posts(&self) -> Vec<FakeRecord> {
        lock(&self.state).records.clone()
    }

    /// How many records were written with this text (deleted ones included).
    pub fn creates_with_text(&self, text: &str) -> usize {
        lock(&self.state)
            .records
            .iter()
            .filter(|r| r.text == text)
            .count()
    }

    /// How many records were written at this record key (deleted ones included).
    pub fn creates_with_rkey(&self, rkey: &str) -> usize {
        lock(&self.state)
            .records
            .iter()
            .filter(|r| r.rkey == rkey)
            .count()
    }

    /// createRecord calls that reached the fake (refused ones included).
    pub fn create_requests(&self) -> u64 {
        lock(&self.state).create_requests
    }

    /// Successful createSession calls.
    pub fn sessions_created(&self) -> u64 {
        lock(&self.state).sessions_created
    }

    pub fn calls(&self) -> u64 {
        lock(&self.state).calls
    }

    pub fn blobs(&self) -> Vec<FakeBlob> {
        lock(&self.state).blobs.clone()
    }

    /// Plants a post by `account` (for search tests). Returns its at-uri.
    pub fn seed_post(
        &self,
        account: &FakeAccount,
        text: &str,
        created_at: DateTime<Utc>,
    ) -> String {
        let mut s = lock(&self.state);
        let rkey = crate::platforms::bluesky::new_tid();
        let record =
            json!({ "$type": POST_COLLECTION, "text": text, "createdAt": created_at.to_rfc3339() });
        let r = new_record(&account.did, &rkey, text, record, created_at);
        let uri = r.uri.clone();
        s.records.push(r);
        uri
    }

    pub fn set_metrics(&self, uri: &str, metrics: FakeBskyMetrics) {
        if let Some(r) = lock(&self.state).records.iter_mut().find(|r| r.uri == uri) {
            r.metrics = metrics;
        }
    }

    pub fn state_json(&self) -> Value {
        state_json(&lock(&self.state))
    }
}

fn state_json(s: &PdsState) -> Value {
    json!({
        "accounts": s.accounts,
        "posts": s.records,
        "blobs": s.blobs,
        "create_requests": s.create_requests,
        "sessions_created": s.sessions_created,
        "calls": s.calls,
    })
}

fn new_record(
    did: &str,
    rkey: &str,
    text: &str,
    record: Value,
    created_at: DateTime<Utc>,
) -> FakeRecord {
    let digest = Sha256::digest(format!("{did}/{rkey}/{record}").as_bytes());
    let cid = format!("bafyrei{}", &hex(&digest)[..40]);
    FakeRecord {
        uri: format!("at://{did}/{POST_COLLECTION}/{rkey}"),
        cid,
        did: did.to_owned(),
        rkey: rkey.to_owned(),
        text: text.to_owned(),
        reply_root: record
            .pointer("/reply/root/uri")
            .and_then(Value::as_str)
            .map(str::to_owned),
        reply_parent: record
            .pointer("/reply/parent/uri")
            .and_then(Value::as_str)
            .map(str::to_owned),
        images: record
            .pointer("/embed/images")
            .and_then(Value::as_array)
            .map(|imgs| {
                imgs.iter()
                    .map(|i| FakeImage {
                        blob_cid: i
                            .pointer("/image/ref/$link")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        alt: i
                            .get("alt")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        record,
        created_at,
        deleted: false,
        metrics: FakeBskyMetrics::default(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- responses ----

fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    json_response(
        status,
        HeaderMap::new(),
        json!({ "error": error, "message": message }),
    )
}

fn bad(message: &str) -> Response {
    xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn invalid_record(message: &str) -> Response {
    xrpc_error(
        StatusCode::BAD_REQUEST,
        "InvalidRecord",
        &format!("Invalid {POST_COLLECTION} record: {message}"),
    )
}

fn rate_headers(limit: u64, remaining: u64, reset_in: i64, window: i64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("ratelimit-limit", header(limit));
    h.insert("ratelimit-remaining", header(remaining));
    h.insert(
        "ratelimit-reset",
        header((Utc::now() + chrono::Duration::seconds(reset_in)).timestamp()),
    );
    h.insert("ratelimit-policy", header(format!("{limit};w={window}")));
    h
}

fn fault_response(fault: &Fault) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited { reset_in_secs } | Fault::DailyLimit { reset_in_secs } => {
            let mut r = xrpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimitExceeded",
                "Rate Limit Exceeded",
            );
            r.headers_mut().extend(rate_headers(
                3000,
                0,
                i64::try_from(*reset_in_secs).unwrap_or(300),
                300,
            ));
            r
        }
        Fault::ServerError { status } => xrpc_error(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "InternalServerError",
            "Internal Server Error",
        ),
        Fault::ExpiredToken => {
            xrpc_error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired")
        }
        Fault::Duplicate => bad("Record already exists"),
        Fault::UsageCapped => xrpc_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitExceeded",
            "Rate Limit Exceeded",
        ),
        Fault::Reject { message } => bad(message),
        Fault::DelayBefore { .. }
        | Fault::HangAfter { .. }
        | Fault::DropAfter
        | Fault::PartialMetrics { .. } => return None,
    })
}

// ---- routing ----

async fn handle(State(state): State<Shared>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let pairs: Vec<(String, String)> = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let query: HashMap<String, String> = pairs.iter().cloned().collect();

    if let Some(rest) = path.strip_prefix("/_fake/") {
        let rest = rest.to_owned();
        return control(&state, &method, &rest, req).await;
    }
    let Some(nsid) = path.strip_prefix("/xrpc/").map(str::to_owned) else {
        return xrpc_error(StatusCode::NOT_FOUND, "NotFound", "Not Found");
    };
    let endpoint = match nsid.as_str() {
        "com.atproto.server.createSession" => Endpoint::Login,
        "com.atproto.server.refreshSession" => Endpoint::Refresh,
        "com.atproto.repo.createRecord" => Endpoint::Create,
        "com.atproto.repo.uploadBlob" => Endpoint::Upload,
        "com.atproto.repo.getRecord" => Endpoint::Lookup,
        "com.atproto.repo.deleteRecord" => Endpoint::Delete,
        "app.bsky.feed.getPosts" => Endpoint::Metrics,
        "app.bsky.feed.searchPosts" => Endpoint::Search,
        _ => Endpoint::Any,
    };
    let fault = {
        let mut s = lock(&state);
        s.calls += 1;
        if endpoint == Endpoint::Create {
            s.create_requests += 1;
        }
        s.faults.take(endpoint)
    };
    if let Some(f) = &fault {
        if let Some(resp) = fault_response(f) {
            return resp;
        }
        if let Fault::DelayBefore { millis } = f {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
        }
    }
    let mut resp = match (&method, nsid.as_str()) {
        (&Method::POST, "com.atproto.server.createSession") => create_session(&state, req).await,
        (&Method::POST, "com.atproto.server.refreshSession") => {
            refresh_session(&state, req.headers())
        }
        _ => {
            let did = {
                let s = lock(&state);
                match bearer(req.headers())
                    .and_then(|t| s.access.get(&t).map(|a| (a.did.clone(), a.expired)))
                {
                    Some((_, true)) => {
                        return xrpc_error(
                            StatusCode::BAD_REQUEST,
                            "ExpiredToken",
                            "Token has expired",
                        );
                    }
                    Some((did, false)) => did,
                    None => {
                        return xrpc_error(
                            StatusCode::UNAUTHORIZED,
                            "AuthenticationRequired",
                            "Authentication Required",
                        );
                    }
                }
            };
            match (&method, nsid.as_str()) {
                (&Method::POST, "com.atproto.repo.createRecord") => {
                    let after = After::from_fault(fault.as_ref());
                    let resp = create_record(&state, &did, req).await;
                    after.apply(resp).await
                }
                (&Method::POST, "com.atproto.repo.uploadBlob") => {
                    upload_blob(&state, &did, req).await
                }
                (&Method::GET, "com.atproto.repo.getRecord") => get_record(&state, &query),
                (&Method::POST, "com.atproto.repo.deleteRecord") => {
                    delete_record(&state, &did, req).await
                }
                (&Method::GET, "com.atproto.identity.resolveHandle") => {
                    resolve_handle(&state, &query)
                }
                (&Method::GET, "app.bsky.feed.getPosts") => {
                    get_posts(&state, &pairs, fault.as_ref())
                }
                (&Method::GET, "app.bsky.feed.searchPosts") => search_posts(&state, &query),
                _ => xrpc_error(
                    StatusCode::NOT_IMPLEMENTED,
                    "MethodNotImplemented",
                    "Method Not Implemented",
                ),
            }
        }
    };
    if !resp.headers().contains_key("ratelimit-limit") {
        let calls = lock(&state).calls;
        resp.headers_mut()
            .extend(rate_headers(3000, 3000 - (calls % 3000), 300, 300));
    }
    resp
}

async fn body_json(req: Request) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), 1024 * 1024)
        .await
        .map_err(|_| bad("the request body could not be read"))?;
    serde_json::from_slice(&bytes).map_err(|_| bad("the request body is not valid JSON"))
}

async fn create_session(state: &Shared, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let identifier = body
        .get("identifier")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut s = lock(state);
    let now = Utc::now();
    s.sessions.retain(|t| now - *t < SESSION_WINDOW);
    if s.sessions.len() >= SESSIONS_PER_WINDOW {
        let oldest = s.sessions.first().copied().unwrap_or(now);
        let reset = (oldest + SESSION_WINDOW - now).num_seconds().max(1);
        let mut r = xrpc_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitExceeded",
            "Rate Limit Exceeded",
        );
        r.headers_mut()
            .extend(rate_headers(SESSIONS_PER_WINDOW as u64, 0, reset, 300));
        return r;
    }
    let Some(account) = s
        .accounts
        .iter()
        .find(|a| {
            (a.handle.to_ascii_lowercase() == identifier || a.did == identifier)
                && a.app_password == password
        })
        .cloned()
    else {
        return xrpc_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Invalid identifier or password",
        );
    };
    s.sessions.push(now);
    s.sessions_created += 1;
    let (access, refresh) = s.session(&account.did);
    let remaining = SESSIONS_PER_WINDOW - s.sessions.len();
    let mut r = json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "accessJwt": access, "refreshJwt": refresh, "handle": account.handle, "did": account.did, "active": true }),
    );
    r.headers_mut().extend(rate_headers(
        SESSIONS_PER_WINDOW as u64,
        remaining as u64,
        300,
        300,
    ));
    r
}

fn refresh_session(state: &Shared, headers: &HeaderMap) -> Response {
    let mut s = lock(state);
    let token = bearer(headers).unwrap_or_default();
    if s.access.contains_key(&token) {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "Invalid token type",
        );
    }
    let Some(did) = s.refresh.remove(&token) else {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "Token has been revoked",
        );
    };
    let handle = s
        .account(&did)
        .map(|a| a.handle.clone())
        .unwrap_or_default();
    let (access, refresh) = s.session(&did);
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "accessJwt": access, "refreshJwt": refresh, "handle": handle, "did": did, "active": true }),
    )
}

fn resolve_handle(state: &Shared, query: &HashMap<String, String>) -> Response {
    let handle = query
        .get("handle")
        .map(|h| h.to_ascii_lowercase())
        .unwrap_or_default();
    let s = lock(state);
    match s
        .accounts
        .iter()
        .find(|a| a.handle.to_ascii_lowercase() == handle)
    {
        Some(a) => json_response(StatusCode::OK, HeaderMap::new(), json!({ "did": a.did })),
        None => bad("Unable to resolve handle"),
    }
}

async fn upload_blob(state: &Shared, did: &str, req: Request) -> Response {
    let mime = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*")
        .to_owned();
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 16 * 1024 * 1024).await else {
        return bad("the blob could not be read");
    };
    if bytes.is_empty() {
        return bad("empty blob");
    }
    if bytes.len() > MAX_BLOB_BYTES {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "BlobTooLarge",
            "This file is too large",
        );
    }
    let cid = format!("bafkrei{}", &hex(&Sha256::digest(&bytes))[..40]);
    let blob = FakeBlob {
        cid: cid.clone(),
        owner: did.to_owned(),
        mime: mime.clone(),
        size: bytes.len(),
    };
    let mut s = lock(state);
    if !s.blobs.iter().any(|b| b.cid == cid && b.owner == did) {
        s.blobs.push(blob);
    }
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "blob": { "$type": "blob", "ref": { "$link": cid }, "mimeType": mime, "size": bytes.len() } }),
    )
}

/// Checks a post record as the PDS's lexicon validation would; returns the text.
fn validate_post(s: &PdsState, did: &str, record: &Value) -> Result<String, Response> {
    if record.get("$type").and_then(Value::as_str) != Some(POST_COLLECTION) {
        return Err(invalid_record(&format!(
            "Record/$type must be {POST_COLLECTION}"
        )));
    }
    let Some(text) = record.get("text").and_then(Value::as_str) else {
        return Err(invalid_record("Record must have the property \"text\""));
    };
    if text.graphemes(true).count() > 300 || text.len() > 3000 {
        return Err(invalid_record(
            "Record/text must not be longer than 300 graphemes",
        ));
    }
    let created = record
        .get("createdAt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if DateTime::parse_from_rfc3339(created).is_err() {
        return Err(invalid_record(
            "Record/createdAt must be an valid atproto datetime",
        ));
    }
    if let Some(facets) = record.get("facets") {
        let Some(facets) = facets.as_array() else {
            return Err(invalid_record("Record/facets must be an array"));
        };
        for f in facets {
            let start = f
                .pointer("/index/byteStart")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            let end = f
                .pointer("/index/byteEnd")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            let (Some(start), Some(end)) = (start, end) else {
                return Err(invalid_record(
                    "Record/facets/index must have byteStart and byteEnd",
                ));
            };
            if start > end
                || end > text.len()
                || !text.is_char_boundary(start)
                || !text.is_char_boundary(end)
            {
                return Err(invalid_record(
                    "Record/facets/index is out of range of the text",
                ));
            }
            let features = f
                .get("features")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if features.is_empty() {
                return Err(invalid_record("Record/facets/features must not be empty"));
            }
            for feat in features {
                let ok = match feat.get("$type").and_then(Value::as_str) {
                    Some("app.bsky.richtext.facet#link") => {
                        feat.get("uri").and_then(Value::as_str).is_some()
                    }
                    Some("app.bsky.richtext.facet#mention") => feat
                        .get("did")
                        .and_then(Value::as_str)
                        .is_some_and(|d| d.starts_with("did:")),
                    Some("app.bsky.richtext.facet#tag") => feat
                        .get("tag")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty() && !t.starts_with('#') && t.len() <= 640),
                    _ => false,
                };
                if !ok {
                    return Err(invalid_record(
                        "Record/facets/features has an invalid feature",
                    ));
                }
            }
        }
    }
    if let Some(embed) = record.get("embed")
        && embed.get("$type").and_then(Value::as_str) == Some("app.bsky.embed.images")
    {
        let images = embed
            .get("images")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if images.is_empty() || images.len() > 4 {
            return Err(invalid_record("Record/embed/images must have 1 to 4 items"));
        }
        for img in images {
            if img.get("alt").and_then(Value::as_str).is_none() {
                return Err(invalid_record("Record/embed/images/alt must be a string"));
            }
            let cid = img
                .pointer("/image/ref/$link")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let known = img.pointer("/image/$type").and_then(Value::as_str) == Some("blob")
                && s.blobs.iter().any(|b| b.cid == cid && b.owner == did);
            if !known {
                return Err(bad(&format!("Could not find blob: {cid}")));
            }
        }
    }
    if let Some(reply) = record.get("reply") {
        for which in ["root", "parent"] {
            let uri = reply
                .pointer(&format!("/{which}/uri"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let cid = reply
                .pointer(&format!("/{which}/cid"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if s.live(uri).is_none_or(|r| r.cid != cid) {
                return Err(invalid_record(&format!(
                    "Record/reply/{which} must reference an existing post"
                )));
            }
        }
    }
    Ok(text.to_owned())
}

async fn create_record(state: &Shared, did: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let repo = body.get("repo").and_then(Value::as_str).unwrap_or_default();
    let mut s = lock(state);
    let handle = s.account(did).map(|a| a.handle.clone()).unwrap_or_default();
    if repo != did && repo != handle {
        return bad("Input/repo does not match the authenticated account");
    }
    if body.get("collection").and_then(Value::as_str) != Some(POST_COLLECTION) {
        return bad("this fake PDS stores only app.bsky.feed.post records");
    }
    let rkey = match body.get("rkey") {
        None => crate::platforms::bluesky::new_tid(),
        Some(Value::String(k)) if is_tid(k) => k.clone(),
        Some(_) => return bad("Input/rkey must be a valid TID"),
    };
    let Some(record) = body.get("record").cloned() else {
        return bad("Input must have the property \"record\"");
    };
    let text = match validate_post(&s, did, &record) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if s.records
        .iter()
        .any(|r| r.did == did && r.rkey == rkey && !r.deleted)
    {
        return bad("Record already exists");
    }
    let r = new_record(did, &rkey, &text, record, crate::domain::now());
    let out = json!({
        "uri": r.uri, "cid": r.cid,
        "commit": { "cid": format!("bafyreicommit{}", &r.cid[7..20]), "rev": rkey },
        "validationStatus": "valid",
    });
    s.records.push(r);
    json_response(StatusCode::OK, HeaderMap::new(), out)
}

fn get_record(state: &Shared, query: &HashMap<String, String>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let s = lock(state);
    let repo = get("repo");
    let did = s
        .accounts
        .iter()
        .find(|a| a.did == repo || a.handle == repo)
        .map(|a| a.did.clone())
        .unwrap_or_else(|| repo.to_owned());
    let uri = format!("at://{did}/{}/{}", get("collection"), get("rkey"));
    match s.live(&uri) {
        Some(r) => json_response(
            StatusCode::OK,
            HeaderMap::new(),
            json!({ "uri": r.uri, "cid": r.cid, "value": r.record }),
        ),
        None => xrpc_error(
            StatusCode::BAD_REQUEST,
            "RecordNotFound",
            &format!("Could not locate record: {uri}"),
        ),
    }
}

async fn delete_record(state: &Shared, did: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let repo = body.get("repo").and_then(Value::as_str).unwrap_or_default();
    let rkey = body.get("rkey").and_then(Value::as_str).unwrap_or_default();
    let mut s = lock(state);
    let handle = s.account(did).map(|a| a.handle.clone()).unwrap_or_default();
    if repo != did && repo != handle {
        return bad("Input/repo does not match the authenticated account");
    }
    if let Some(r) = s
        .records
        .iter_mut()
        .find(|r| r.did == did && r.rkey == rkey && !r.deleted)
    {
        r.deleted = true;
    }
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "commit": { "rev": rkey } }),
    )
}

fn post_view(s: &PdsState, r: &FakeRecord) -> Value {
    let author = s.account(&r.did);
    json!({
        "uri": r.uri, "cid": r.cid,
        "author": {
            "did": r.did,
            "handle": author.map(|a| a.handle.clone()).unwrap_or_default(),
            "displayName": author.map(|a| a.handle.clone()).unwrap_or_default(),
            "followersCount": author.map(|a| a.followers),
        },
        "record": r.record,
        "replyCount": r.metrics.replies, "repostCount": r.metrics.reposts,
        "likeCount": r.metrics.likes, "quoteCount": r.metrics.quotes,
        "indexedAt": r.created_at.to_rfc3339(),
    })
}

fn get_posts(state: &Shared, pairs: &[(String, String)], fault: Option<&Fault>) -> Response {
    let uris: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "uris")
        .map(|(_, v)| v.as_str())
        .collect();
    if uris.is_empty() || uris.len() > 25 {
        return bad("Input/uris must have between 1 and 25 items");
    }
    let failing: HashSet<&str> = match fault {
        Some(Fault::PartialMetrics { failing_ids }) => {
            failing_ids.iter().map(String::as_str).collect()
        }
        _ => HashSet::new(),
    };
    let s = lock(state);
    let posts: Vec<Value> = uris
        .iter()
        .filter(|u| !failing.contains(*u))
        .filter_map(|u| s.live(u))
        .map(|r| post_view(&s, r))
        .collect();
    json_response(StatusCode::OK, HeaderMap::new(), json!({ "posts": posts }))
}

fn search_posts(state: &Shared, query: &HashMap<String, String>) -> Response {
    let Some(q) = query.get("q").filter(|q| !q.trim().is_empty()) else {
        return bad("Input must have the property \"q\"");
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return bad("Input/limit must be between 1 and 100"),
    };
    let since = match query.get("since") {
        None => None,
        Some(v) => match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => return bad("Input/since must be a valid datetime"),
        },
    };
    let offset: usize = query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let terms: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    let s = lock(state);
    let mut found: Vec<&FakeRecord> = s
        .records
        .iter()
        .filter(|r| !r.deleted)
        .filter(|r| since.is_none_or(|t| r.created_at >= t))
        .filter(|r| {
            let text = r.text.to_lowercase();
            terms.iter().all(|t| text.contains(t.as_str()))
        })
        .collect();
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.rkey.cmp(&a.rkey)));
    let total = found.len();
    let posts: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| post_view(&s, r))
        .collect();
    let mut body = json!({ "posts": posts, "hitsTotal": total });
    if offset + limit < total {
        body["cursor"] = json!((offset + limit).to_string());
    }
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

// ---- control ----

async fn control(state: &Shared, method: &Method, rest: &str, req: Request) -> Response {
    match (method, rest) {
        (&Method::GET, "state") => {
            json_response(StatusCode::OK, HeaderMap::new(), state_json(&lock(state)))
        }
        (&Method::POST, "users") => {
            let body = match body_json(req).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let handle = body
                .get("handle")
                .and_then(Value::as_str)
                .unwrap_or("psn.test")
                .to_owned();
            let mut s = lock(state);
            s.next += 1;
            let account = FakeAccount {
                did: format!("did:plc:fake{:020}", s.next),
                handle,
                app_password: random_token("").to_lowercase()[..19].to_owned(),
                followers: 500,
            };
            s.accounts.push(account.clone());
            let (access, refresh) = s.session(&account.did);
            json_response(
                StatusCode::OK,
                HeaderMap::new(),
                json!({
                    "id": account.did, "did": account.did, "handle": account.handle,
                    "app_password": account.app_password, "access_token": access, "refresh_token": refresh,
                }),
            )
        }
        (&Method::POST, "faults") => {
            let body = match body_json(req).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            match serde_json::from_value::<Injected>(body) {
                Ok(i) => {
                    lock(state)
                        .faults
                        .push_after(i.endpoint, i.skip, i.fault, i.times);
                    StatusCode::NO_CONTENT.into_response()
                }
                Err(e) => bad(&format!("not a fault: {e}")),
            }
        }
        (&Method::DELETE, "faults") => {
            lock(state).faults.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        _ => xrpc_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such control endpoint",
        ),
    }
}
