//! A fake Bluesky PDS: app-password sessions (rate-limited like the real one) with
//! rotating refresh JWTs, records with client-chosen TID keys, blobs, handle resolution,
//! getPosts and searchPosts, and `RateLimit-*` headers.

#![allow(
    clippy::result_large_err,
    reason = "request helpers fail with the finished error response; one per request, never stored"
)]

mod feed;
mod records;
mod session;

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

use feed::*;
use records::*;
use session::*;

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
    /// The PDS endpoint sessions advertise in their DID document.
    pds_endpoint: String,
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

    /// The DID document a session answer carries: it names this PDS.
    fn did_doc(&self, did: &str, handle: &str) -> Value {
        json!({
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "alsoKnownAs": [format!("at://{handle}")],
            "service": [{
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": self.pds_endpoint,
            }],
        })
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
        lock(&state).pds_endpoint = running.base_url.clone();
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
