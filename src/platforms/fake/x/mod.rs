//! A fake X API v2: posts, media (simple and chunked, with processing), delete, metrics
//! with partial failures, recent search, the user timeline, OAuth 2 (authorize with PKCE,
//! code exchange, single-use refresh tokens) and `x-rate-limit-*` headers.

#![allow(
    clippy::result_large_err,
    reason = "request helpers fail with the finished error response; one per request, never stored"
)]

mod media;
mod oauth;
mod posts;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    After, Endpoint, FakeError, Fault, Faults, Injected, Running, bearer, header, json_response,
    lock, random_token,
};
use crate::config::Secret;
use crate::platforms::Credentials;

use media::*;
use oauth::*;
use posts::*;

/// The OAuth 2 client id the fake accepts.
pub const CLIENT_ID: &str = "psn-fake-client";
const ACCESS_TTL_SECS: i64 = 7200;
const DUPLICATE: &str = "You are not allowed to create a Tweet with duplicate content.";
const CREATE_KEYS: &[&str] = &[
    "text",
    "media",
    "reply",
    "quote_tweet_id",
    "poll",
    "reply_settings",
    "for_super_followers_only",
    "direct_message_deep_link",
    "geo",
    "nullcast",
    "community_id",
    "card_uri",
    "share_with_followers",
    "made_with_ai",
    "paid_partnership",
];

/// A user of the fake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FakeUser {
    pub id: String,
    pub username: String,
    pub followers: u64,
}

/// A post as the fake stored it. `text` is exactly what the client sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FakeTweet {
    pub id: String,
    pub author_id: String,
    pub text: String,
    pub reply_to: Option<String>,
    pub quote_of: Option<String>,
    pub media_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
    pub metrics: FakeMetrics,
}

/// Counters the fake reports for a post.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeMetrics {
    pub impressions: u64,
    pub likes: u64,
    pub retweets: u64,
    pub replies: u64,
    pub quotes: u64,
    pub bookmarks: u64,
    pub link_clicks: u64,
    pub profile_clicks: u64,
    pub engagements: u64,
}

/// An uploaded media item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FakeMedia {
    pub id: String,
    pub owner_id: String,
    pub category: String,
    pub media_type: Option<String>,
    pub total_bytes: usize,
    pub received_bytes: usize,
    pub segments: Vec<u32>,
    pub finalized: bool,
    /// `succeeded`, `pending`, `in_progress` or `failed`.
    pub state: String,
    pub status_polls: u32,
    pub alt_text: Option<String>,
}

struct Token {
    user_id: String,
    expired: bool,
}

struct Code {
    user_id: String,
    challenge: String,
    redirect_uri: String,
}

#[derive(Default)]
struct XState {
    users: Vec<FakeUser>,
    access: HashMap<String, Token>,
    refresh: HashMap<String, String>,
    codes: HashMap<String, Code>,
    authorizing_user: Option<String>,
    tweets: Vec<FakeTweet>,
    media: Vec<FakeMedia>,
    faults: Faults,
    create_requests: u64,
    calls: u64,
    next_id: u64,
}

impl XState {
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        (1_860_000_000_000_000_000u64 + self.next_id).to_string()
    }

    fn issue(&mut self, user_id: &str) -> (String, String) {
        let access = random_token("xat-");
        let refresh = random_token("xrt-");
        self.access.insert(
            access.clone(),
            Token {
                user_id: user_id.to_owned(),
                expired: false,
            },
        );
        self.refresh.insert(refresh.clone(), user_id.to_owned());
        (access, refresh)
    }

    fn user(&self, id: &str) -> Option<&FakeUser> {
        self.users.iter().find(|u| u.id == id)
    }
}

type Shared = Arc<Mutex<XState>>;

/// A running fake X. Dropping it stops the server.
pub struct FakeX {
    running: Running,
    state: Shared,
}

impl FakeX {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start() -> Result<FakeX, FakeError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> Result<FakeX, FakeError> {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(state.clone());
        let running = Running::start(addr, app)
            .await
            .map_err(|source| FakeError::Bind { addr, source })?;
        Ok(FakeX { running, state })
    }

    /// `http://127.0.0.1:PORT`: the X API base URL (and the authorize URL's host).
    pub fn base_url(&self) -> &str {
        &self.running.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// The authorize endpoint, for `platforms.x.auth_url`.
    pub fn authorize_url(&self) -> String {
        format!("{}/i/oauth2/authorize", self.base_url())
    }

    pub async fn wait(self) {
        let FakeX { running, state } = self;
        let _keep = state;
        running.wait().await;
    }

    /// Adds a user.
    pub fn add_user(&self, username: &str) -> FakeUser {
        let mut s = lock(&self.state);
        let user = FakeUser {
            id: s.next_id(),
            username: username.to_owned(),
            followers: 1000,
        };
        s.users.push(user.clone());
        user
    }

    /// Issues an access and a refresh token for a user.
    pub fn issue_tokens(&self, user: &FakeUser) -> (Secret, Secret) {
        let (a, r) = lock(&self.state).issue(&user.id);
        (Secret::new(a), Secret::new(r))
    }

    /// Fresh credentials the fake accepts, as an adapter gets them from the vault.
    pub fn credentials(&self, user: &FakeUser) -> Credentials {
        let (access, refresh) = self.issue_tokens(user);
        Credentials {
            access_token: access,
            refresh_token: Some(refresh),
            expires_at: Some(crate::domain::now() + chrono::Duration::seconds(ACCESS_TTL_SECS)),
            user_id: Some(user.id.clone()),
            handle: user.username.clone(),
            server_url: None,
        }
    }

    /// Makes an access token expired: every call with it answers 401 from now on.
    pub fn expire_access_token(&self, token: &str) {
        if let Some(t) = lock(&self.state).access.get_mut(token) {
            t.expired = true;
        }
    }

    /// Whether a refresh token would still be accepted (they are single-use).
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        lock(&self.state).refresh.contains_key(token)
    }

    /// The user the authorize endpoint approves as (it redirects at once, as if they clicked).
    pub fn set_authorizing_user(&self, user: &FakeUser) {
        lock(&self.state).authorizing_user = Some(user.id.clone());
    }

    /// Fires `fault` on the next `times` calls to `endpoint`.
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

    /// Posts that exist (not deleted), oldest first.
    pub fn posts(&self) -> Vec<FakeTweet> {
        lock(&self.state)
            .tweets
            .iter()
            .filter(|t| !t.deleted)
            .cloned()
            .collect()
    }

    /// Every post ever created, deleted ones included.
    pub fn all_posts(&self) -> Vec<FakeTweet> {
        lock(&self.state).tweets.clone()
    }

    /// How many posts were created with exactly this text (deleted ones included).
    pub fn creates_with_text(&self, text: &str) -> usize {
        lock(&self.state)
            .tweets
            .iter()
            .filter(|t| t.text == text)
            .count()
    }

    /// How many create requests reached the fake (refused ones included).
    pub fn create_requests(&self) -> u64 {
        lock(&self.state).create_requests
    }

    /// How many API calls reached the fake.
    pub fn calls(&self) -> u64 {
        lock(&self.state).calls
    }

    pub fn media(&self) -> Vec<FakeMedia> {
        lock(&self.state).media.clone()
    }

    /// Plants a post by `author` (for search and reconciliation tests).
    pub fn seed_post(&self, author: &FakeUser, text: &str, created_at: DateTime<Utc>) -> String {
        let mut s = lock(&self.state);
        let id = s.next_id();
        s.tweets.push(FakeTweet {
            id: id.clone(),
            author_id: author.id.clone(),
            text: text.to_owned(),
            reply_to: None,
            quote_of: None,
            media_ids: Vec::new(),
            created_at,
            deleted: false,
            metrics: FakeMetrics::default(),
        });
        id
    }

    /// Sets the counters reported for a post.
    pub fn set_metrics(&self, id: &str, metrics: FakeMetrics) {
        if let Some(t) = lock(&self.state).tweets.iter_mut().find(|t| t.id == id) {
            t.metrics = metrics;
        }
    }

    /// Everything the fake holds, as `GET /_fake/state` shows it.
    pub fn state_json(&self) -> Value {
        state_json(&lock(&self.state))
    }
}

fn state_json(s: &XState) -> Value {
    json!({
        "users": s.users,
        "posts": s.tweets,
        "media": s.media,
        "create_requests": s.create_requests,
        "calls": s.calls,
    })
}

// ---- responses ----

fn problem(status: StatusCode, title: &str, detail: &str, kind: &str) -> Response {
    json_response(
        status,
        HeaderMap::new(),
        json!({ "title": title, "detail": detail, "type": kind, "status": status.as_u16() }),
    )
}

fn invalid(detail: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        HeaderMap::new(),
        json!({
            "errors": [{ "message": detail }],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }),
    )
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Unauthorized",
        "about:blank",
    )
}

fn forbidden(detail: &str) -> Response {
    problem(StatusCode::FORBIDDEN, "Forbidden", detail, "about:blank")
}

fn not_found(detail: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Not Found Error",
        detail,
        "https://api.twitter.com/2/problems/resource-not-found",
    )
}

fn rate_headers(limit: u64, remaining: u64, reset_in: i64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-rate-limit-limit", header(limit));
    h.insert("x-rate-limit-remaining", header(remaining));
    h.insert(
        "x-rate-limit-reset",
        header((Utc::now() + chrono::Duration::seconds(reset_in)).timestamp()),
    );
    h
}

/// The fault's own answer, or `None` when the call should go ahead.
fn fault_response(fault: &Fault) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited { reset_in_secs } => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "Too Many Requests",
                "about:blank",
            );
            r.headers_mut().extend(rate_headers(
                100,
                0,
                i64::try_from(*reset_in_secs).unwrap_or(900),
            ));
            r
        }
        Fault::DailyLimit { reset_in_secs } => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "Too Many Requests",
                "about:blank",
            );
            r.headers_mut().extend(rate_headers(100, 99, 900));
            let reset = Utc::now()
                + chrono::Duration::seconds(i64::try_from(*reset_in_secs).unwrap_or(86_400));
            r.headers_mut()
                .insert("x-user-limit-24hour-limit", header(2400));
            r.headers_mut()
                .insert("x-user-limit-24hour-remaining", header(0));
            r.headers_mut()
                .insert("x-user-limit-24hour-reset", header(reset.timestamp()));
            r
        }
        Fault::ServerError { status } => problem(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Service Unavailable",
            "Service Unavailable",
            "about:blank",
        ),
        Fault::ExpiredToken => unauthorized(),
        Fault::Duplicate => forbidden(DUPLICATE),
        Fault::UsageCapped => problem(
            StatusCode::TOO_MANY_REQUESTS,
            "UsageCapExceeded",
            "Usage cap exceeded: Monthly product cap",
            "https://api.twitter.com/2/problems/usage-capped",
        ),
        Fault::Reject { message } => invalid(message),
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
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let query: HashMap<String, String> = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| q.0.into_iter().collect())
        .unwrap_or_default();

    if segs.first() == Some(&"_fake") {
        return control(&state, &method, &segs[1..], req).await;
    }
    match (&method, segs.as_slice()) {
        (&Method::GET, ["i", "oauth2", "authorize"]) => return authorize(&state, &query),
        (&Method::POST, ["2", "oauth2", "token"]) => return token(&state, req).await,
        _ => {}
    }

    let endpoint = match (&method, segs.as_slice()) {
        (&Method::POST, ["2", "tweets"]) => Endpoint::Create,
        (&Method::DELETE, ["2", "tweets", _]) => Endpoint::Delete,
        (&Method::GET, ["2", "tweets"]) => Endpoint::Metrics,
        (&Method::GET, ["2", "tweets", "search", "recent"]) => Endpoint::Search,
        (&Method::GET, ["2", "users", _, "tweets"]) => Endpoint::Lookup,
        (_, ["2", "media", ..]) => Endpoint::Upload,
        (&Method::GET, ["2", "users", "me"]) => Endpoint::Login,
        _ => return not_found(&format!("no route for {method} {path}")),
    };

    let (user_id, fault) = {
        let mut s = lock(&state);
        s.calls += 1;
        if endpoint == Endpoint::Create {
            s.create_requests += 1;
        }
        let user = bearer(req.headers()).and_then(|t| {
            s.access
                .get(&t)
                .filter(|t| !t.expired)
                .map(|t| t.user_id.clone())
        });
        let Some(user) = user else {
            return unauthorized();
        };
        (user, s.faults.take(endpoint))
    };
    if let Some(f) = &fault {
        if let Some(resp) = fault_response(f) {
            return resp;
        }
        if let Fault::DelayBefore { millis } = f {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
        }
    }
    let (limit, reset) = match endpoint {
        Endpoint::Create => (100, 900),
        Endpoint::Delete => (50, 900),
        _ => (300, 900),
    };
    let mut resp = match (&method, segs.as_slice()) {
        (&Method::POST, ["2", "tweets"]) => {
            let after = After::from_fault(fault.as_ref());
            let resp = create(&state, &user_id, req).await;
            after.apply(resp).await
        }
        (&Method::DELETE, ["2", "tweets", id]) => delete(&state, &user_id, id),
        (&Method::GET, ["2", "tweets"]) => metrics(&state, &user_id, &query, fault.as_ref()),
        (&Method::GET, ["2", "tweets", "search", "recent"]) => search(&state, &query),
        (&Method::GET, ["2", "users", "me"]) => me(&state, &user_id),
        (&Method::GET, ["2", "users", id, "tweets"]) => timeline(&state, id, &query),
        (&Method::POST, ["2", "media", "upload"]) => upload_simple(&state, &user_id, req).await,
        (&Method::GET, ["2", "media", "upload"]) => media_status(&state, &user_id, &query),
        (&Method::POST, ["2", "media", "upload", "initialize"]) => {
            initialize(&state, &user_id, req).await
        }
        (&Method::POST, ["2", "media", "upload", id, "append"]) => {
            append(&state, &user_id, id, req).await
        }
        (&Method::POST, ["2", "media", "upload", id, "finalize"]) => finalize(&state, &user_id, id),
        (&Method::POST, ["2", "media", "metadata"]) => metadata(&state, &user_id, req).await,
        _ => not_found(&format!("no route for {method} {path}")),
    };
    if !resp.headers().contains_key("x-rate-limit-limit") {
        let remaining = limit - (lock(&state).calls % limit);
        resp.headers_mut()
            .extend(rate_headers(limit, remaining, reset));
    }
    resp
}

async fn body_json(req: Request) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), 1024 * 1024)
        .await
        .map_err(|_| invalid("the request body could not be read"))?;
    serde_json::from_slice(&bytes).map_err(|_| invalid("the request body is not valid JSON"))
}

// ---- control ----

async fn control(state: &Shared, method: &Method, segs: &[&str], req: Request) -> Response {
    match (method, segs) {
        (&Method::GET, ["state"]) => {
            json_response(StatusCode::OK, HeaderMap::new(), state_json(&lock(state)))
        }
        (&Method::POST, ["users"]) => {
            let body = match body_json(req).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            let handle = body
                .get("handle")
                .and_then(Value::as_str)
                .unwrap_or("psn_user");
            let mut s = lock(state);
            let user = FakeUser {
                id: s.next_id(),
                username: handle.to_owned(),
                followers: 1000,
            };
            s.users.push(user.clone());
            let (access, refresh) = s.issue(&user.id);
            json_response(
                StatusCode::OK,
                HeaderMap::new(),
                json!({ "id": user.id, "handle": user.username, "access_token": access, "refresh_token": refresh }),
            )
        }
        (&Method::POST, ["faults"]) => {
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
                Err(e) => invalid(&format!("not a fault: {e}")),
            }
        }
        (&Method::DELETE, ["faults"]) => {
            lock(state).faults.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        _ => not_found("no such control endpoint"),
    }
}
