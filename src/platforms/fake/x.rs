//! A fake X API v2: posts, media (simple and chunked, with processing), delete, metrics
//! with partial failures, recent search, the user timeline, OAuth 2 (authorize with PKCE,
//! code exchange, single-use refresh tokens) and `x-rate-limit-*` headers.

#![allow(
    clippy::result_large_err,
    reason = "request helpers fail with the finished error response; one per request, never stored"
)]

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

// ---- posts ----

/// X's weighted length: URLs count 23, CJK and emoji count 2, the rest 1.
fn weighted_len(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                23
            } else {
                w.chars()
                    .map(|c| {
                        let n = c as u32;
                        let light = n <= 4351
                            || (8192..=8205).contains(&n)
                            || (8208..=8223).contains(&n)
                            || (8242..=8247).contains(&n);
                        if light { 1 } else { 2 }
                    })
                    .sum()
            }
        })
        .sum::<usize>()
        + text.chars().filter(|c| c.is_whitespace()).count()
}

async fn create(state: &Shared, user_id: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(obj) = body.as_object() else {
        return invalid("the request body must be a JSON object");
    };
    if let Some(k) = obj.keys().find(|k| !CREATE_KEYS.contains(&k.as_str())) {
        return invalid(&format!(
            "$.{k}: is not defined in the schema and the schema does not allow additional properties"
        ));
    }
    let text = match obj.get("text") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return invalid("$.text: string expected"),
    };
    let media_ids: Vec<String> = match obj.get("media") {
        None => Vec::new(),
        Some(m) => {
            let Some(ids) = m.get("media_ids").and_then(Value::as_array) else {
                return invalid("$.media.media_ids: array expected");
            };
            if m.as_object()
                .is_some_and(|o| o.keys().any(|k| k != "media_ids" && k != "tagged_user_ids"))
            {
                return invalid("$.media: unknown property");
            }
            let ids: Option<Vec<String>> =
                ids.iter().map(|v| v.as_str().map(str::to_owned)).collect();
            match ids {
                Some(ids) if (1..=4).contains(&ids.len()) => ids,
                _ => return invalid("$.media.media_ids: 1 to 4 media id strings expected"),
            }
        }
    };
    let reply_to = match obj.get("reply") {
        None => None,
        Some(r) => match r.get("in_reply_to_tweet_id").and_then(Value::as_str) {
            Some(id) => Some(id.to_owned()),
            None => return invalid("$.reply.in_reply_to_tweet_id: string expected"),
        },
    };
    let quote_of = obj
        .get("quote_tweet_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if text.trim().is_empty() && media_ids.is_empty() {
        return invalid("$.text: text or media is required");
    }
    if weighted_len(&text) > 280 {
        return forbidden(
            "Your Tweet text is too long. For more information on how X counts characters, see the X developer docs.",
        );
    }
    let mut s = lock(state);
    for id in &media_ids {
        let ok = s
            .media
            .iter()
            .any(|m| &m.id == id && m.owner_id == user_id && m.state == "succeeded");
        if !ok {
            return invalid("Your media IDs are invalid.");
        }
    }
    if let Some(parent) = &reply_to
        && !s.tweets.iter().any(|t| &t.id == parent && !t.deleted)
    {
        return forbidden(
            "You attempted to reply to a Tweet that is deleted or not visible to you.",
        );
    }
    if s.tweets
        .iter()
        .any(|t| t.author_id == user_id && !t.deleted && t.text == text && !text.is_empty())
    {
        return forbidden(DUPLICATE);
    }
    let id = s.next_id();
    s.tweets.push(FakeTweet {
        id: id.clone(),
        author_id: user_id.to_owned(),
        text: text.clone(),
        reply_to,
        quote_of,
        media_ids,
        created_at: crate::domain::now(),
        deleted: false,
        metrics: FakeMetrics::default(),
    });
    json_response(
        StatusCode::CREATED,
        HeaderMap::new(),
        json!({ "data": { "id": id, "text": text, "edit_history_tweet_ids": [id] } }),
    )
}

fn delete(state: &Shared, user_id: &str, id: &str) -> Response {
    let mut s = lock(state);
    match s.tweets.iter_mut().find(|t| t.id == id && !t.deleted) {
        None => not_found(&format!("Could not find tweet with id: [{id}].")),
        Some(t) if t.author_id != user_id => {
            forbidden("You are not allowed to delete a Tweet you did not create.")
        }
        Some(t) => {
            t.deleted = true;
            json_response(
                StatusCode::OK,
                HeaderMap::new(),
                json!({ "data": { "deleted": true } }),
            )
        }
    }
}

/// The text as X shows it: links rewritten to t.co, `&<>` escaped, a link for media.
fn display_text(t: &FakeTweet) -> String {
    let mut words: Vec<String> = t
        .text
        .split(' ')
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                let digest = Sha256::digest(w.as_bytes());
                format!("https://t.co/{}", &hex(&digest)[..10])
            } else {
                w.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            }
        })
        .collect();
    if !t.media_ids.is_empty() {
        words.push(format!(
            "https://t.co/m{}",
            &t.id[t.id.len().saturating_sub(8)..]
        ));
    }
    words.join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tweet_json(s: &XState, t: &FakeTweet, fields: &HashSet<&str>, private: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "text": display_text(t),
        "edit_history_tweet_ids": [t.id],
    });
    if fields.contains("created_at") {
        v["created_at"] = json!(t.created_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    }
    if fields.contains("author_id") {
        v["author_id"] = json!(t.author_id);
    }
    if fields.contains("conversation_id") {
        let mut root = t;
        while let Some(parent) = root
            .reply_to
            .as_ref()
            .and_then(|p| s.tweets.iter().find(|x| &x.id == p))
        {
            root = parent;
        }
        v["conversation_id"] = json!(root.id);
    }
    if fields.contains("referenced_tweets") {
        let mut refs = Vec::new();
        if let Some(p) = &t.reply_to {
            refs.push(json!({ "type": "replied_to", "id": p }));
        }
        if let Some(q) = &t.quote_of {
            refs.push(json!({ "type": "quoted", "id": q }));
        }
        if !refs.is_empty() {
            v["referenced_tweets"] = json!(refs);
        }
    }
    let m = &t.metrics;
    if fields.contains("public_metrics") {
        v["public_metrics"] = json!({
            "retweet_count": m.retweets, "reply_count": m.replies, "like_count": m.likes,
            "quote_count": m.quotes, "bookmark_count": m.bookmarks, "impression_count": m.impressions,
        });
    }
    if private && fields.contains("non_public_metrics") {
        v["non_public_metrics"] = json!({
            "impression_count": m.impressions, "url_link_clicks": m.link_clicks,
            "user_profile_clicks": m.profile_clicks, "engagements": m.engagements,
        });
    }
    if private && fields.contains("organic_metrics") {
        v["organic_metrics"] = json!({
            "impression_count": m.impressions, "like_count": m.likes, "reply_count": m.replies,
            "retweet_count": m.retweets, "url_link_clicks": m.link_clicks,
            "user_profile_clicks": m.profile_clicks,
        });
    }
    v
}

fn fields<'a>(query: &'a HashMap<String, String>, key: &str) -> HashSet<&'a str> {
    query
        .get(key)
        .map(|f| f.split(',').map(str::trim).collect())
        .unwrap_or_default()
}

fn metrics(
    state: &Shared,
    user_id: &str,
    query: &HashMap<String, String>,
    fault: Option<&Fault>,
) -> Response {
    let ids: Vec<&str> = query
        .get("ids")
        .map(|s| s.split(',').filter(|i| !i.is_empty()).collect())
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 100 {
        return invalid("The `ids` query parameter value must have between 1 and 100 items");
    }
    let fields = fields(query, "tweet.fields");
    let wants_private = fields.contains("non_public_metrics") || fields.contains("organic_metrics");
    let failing: Vec<String> = match fault {
        Some(Fault::PartialMetrics { failing_ids }) => failing_ids.clone(),
        _ => Vec::new(),
    };
    let s = lock(state);
    let mut data = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let found = s
            .tweets
            .iter()
            .find(|t| t.id == id && !t.deleted && !failing.iter().any(|f| f == id));
        match found {
            None => errors.push(json!({
                "value": id, "detail": format!("Could not find tweet with ids: [{id}]."),
                "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                "resource_id": id, "type": "https://api.twitter.com/2/problems/resource-not-found",
            })),
            Some(t) => {
                let own_recent = t.author_id == user_id
                    && Utc::now() - t.created_at < chrono::Duration::days(30);
                if wants_private && !own_recent {
                    errors.push(json!({
                        "value": id, "resource_id": id, "field": "non_public_metrics",
                        "title": "Field Authorization Error",
                        "detail": "Sorry, you are not authorized to access 'non_public_metrics' on a Tweet.",
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
                        "resource_type": "tweet", "parameter": "non_public_metrics",
                    }));
                } else {
                    data.push(tweet_json(&s, t, &fields, own_recent));
                }
            }
        }
    }
    let mut body = json!({});
    if !data.is_empty() {
        body["data"] = json!(data);
    }
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

fn page_bounds(
    query: &HashMap<String, String>,
    key: &str,
    min: usize,
    max: usize,
    default: usize,
) -> Result<(usize, usize), Response> {
    let n = match query.get(key) {
        None => default,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                return Err(invalid(&format!(
                    "The `{key}` query parameter value [{v}] is not between {min} and {max}"
                )));
            }
        },
    };
    let offset = query
        .get("next_token")
        .or_else(|| query.get("pagination_token"))
        .and_then(|t| t.strip_prefix("p"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    Ok((n, offset))
}

fn start_time(query: &HashMap<String, String>) -> Result<Option<DateTime<Utc>>, Response> {
    match query.get("start_time") {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| invalid(&format!("Invalid 'start_time':'{v}'."))),
    }
}

fn paged(
    s: &XState,
    mut tweets: Vec<&FakeTweet>,
    n: usize,
    offset: usize,
    fields: &HashSet<&str>,
    with_users: bool,
) -> Value {
    tweets.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let total = tweets.len();
    let page: Vec<&FakeTweet> = tweets.into_iter().skip(offset).take(n).collect();
    let mut meta = json!({ "result_count": page.len() });
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        meta["newest_id"] = json!(first.id);
        meta["oldest_id"] = json!(last.id);
    }
    if offset + n < total {
        meta["next_token"] = json!(format!("p{}", offset + n));
    }
    let mut body = json!({ "meta": meta });
    if !page.is_empty() {
        body["data"] = json!(
            page.iter()
                .map(|t| tweet_json(s, t, fields, false))
                .collect::<Vec<_>>()
        );
    }
    if with_users {
        let mut seen = HashSet::new();
        let users: Vec<Value> = page
            .iter()
            .filter(|t| seen.insert(t.author_id.clone()))
            .filter_map(|t| s.user(&t.author_id))
            .map(|u| {
                json!({
                    "id": u.id, "username": u.username, "name": u.username,
                    "public_metrics": { "followers_count": u.followers },
                })
            })
            .collect();
        if !users.is_empty() {
            body["includes"] = json!({ "users": users });
        }
    }
    body
}

fn search(state: &Shared, query: &HashMap<String, String>) -> Response {
    let Some(q) = query.get("query").filter(|q| !q.trim().is_empty()) else {
        return invalid("The `query` query parameter can not be empty");
    };
    let (n, offset) = match page_bounds(query, "max_results", 10, 100, 10) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let since = match start_time(query) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let terms: Vec<String> = q
        .split_whitespace()
        .filter(|t| !t.starts_with('-') && !t.contains(':'))
        .map(str::to_lowercase)
        .collect();
    let mut fields = fields(query, "tweet.fields");
    fields.insert("author_id");
    let s = lock(state);
    let found: Vec<&FakeTweet> = s
        .tweets
        .iter()
        .filter(|t| !t.deleted)
        .filter(|t| since.is_none_or(|since| t.created_at >= since))
        .filter(|t| {
            let text = t.text.to_lowercase();
            terms.iter().all(|term| text.contains(term.as_str()))
        })
        .collect();
    let body = paged(&s, found, n, offset, &fields, true);
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

fn timeline(state: &Shared, id: &str, query: &HashMap<String, String>) -> Response {
    let (n, offset) = match page_bounds(query, "max_results", 5, 100, 10) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let since = match start_time(query) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let fields = fields(query, "tweet.fields");
    let s = lock(state);
    if s.user(id).is_none() {
        return not_found(&format!("Could not find user with id: [{id}]."));
    }
    let found: Vec<&FakeTweet> = s
        .tweets
        .iter()
        .filter(|t| t.author_id == id && !t.deleted)
        .filter(|t| since.is_none_or(|since| t.created_at >= since))
        .collect();
    let body = paged(&s, found, n, offset, &fields, false);
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

fn me(state: &Shared, user_id: &str) -> Response {
    let s = lock(state);
    match s.user(user_id) {
        Some(u) => json_response(
            StatusCode::OK,
            HeaderMap::new(),
            json!({ "data": { "id": u.id, "name": u.username, "username": u.username } }),
        ),
        None => unauthorized(),
    }
}

// ---- media ----

/// Reads a multipart body into (field name → bytes).
async fn multipart_fields(req: Request) -> Result<HashMap<String, Vec<u8>>, Response> {
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| invalid(&format!("expected a multipart body: {e}")))?;
    let mut out = HashMap::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| invalid(&format!("bad multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| invalid(&format!("bad multipart field: {e}")))?;
        out.insert(name, bytes.to_vec());
    }
    Ok(out)
}

fn media_json(m: &FakeMedia) -> Value {
    let mut v = json!({
        "id": m.id, "media_key": format!("3_{}", m.id), "size": m.total_bytes,
        "expires_after_secs": 86400,
    });
    if m.state != "succeeded" || m.category != "tweet_image" {
        v["processing_info"] = json!({
            "state": m.state,
            "check_after_secs": 1,
            "progress_percent": match m.state.as_str() { "pending" => 0, "in_progress" => 50, _ => 100 },
        });
    }
    v
}

async fn upload_simple(state: &Shared, user_id: &str, req: Request) -> Response {
    let fields = match multipart_fields(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(bytes) = fields.get("media").filter(|b| !b.is_empty()) else {
        return invalid("media: a non-empty `media` field is required");
    };
    let category = fields
        .get("media_category")
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_else(|| "tweet_image".into());
    if category != "tweet_image" && category != "dm_image" && category != "subtitles" {
        return invalid("media_category: use the chunked upload for videos and GIFs");
    }
    if bytes.len() > 5 * 1024 * 1024 {
        return invalid("media: images may be at most 5 MB");
    }
    let mut s = lock(state);
    let id = s.next_id();
    let m = FakeMedia {
        id,
        owner_id: user_id.to_owned(),
        category,
        media_type: None,
        total_bytes: bytes.len(),
        received_bytes: bytes.len(),
        segments: vec![0],
        finalized: true,
        state: "succeeded".into(),
        status_polls: 0,
        alt_text: None,
    };
    let body = json!({ "data": media_json(&m) });
    s.media.push(m);
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

async fn initialize(state: &Shared, user_id: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let total = body.get("total_bytes").and_then(Value::as_u64).unwrap_or(0);
    let Some(media_type) = body.get("media_type").and_then(Value::as_str) else {
        return invalid("$.media_type: string expected");
    };
    if total == 0 || total > 512 * 1024 * 1024 {
        return invalid("$.total_bytes: between 1 and 536870912 expected");
    }
    let category = body
        .get("media_category")
        .and_then(Value::as_str)
        .unwrap_or("tweet_video")
        .to_owned();
    let mut s = lock(state);
    let id = s.next_id();
    s.media.push(FakeMedia {
        id: id.clone(),
        owner_id: user_id.to_owned(),
        category,
        media_type: Some(media_type.to_owned()),
        total_bytes: usize::try_from(total).unwrap_or(usize::MAX),
        received_bytes: 0,
        segments: Vec::new(),
        finalized: false,
        state: "uploading".into(),
        status_polls: 0,
        alt_text: None,
    });
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "data": { "id": id, "media_key": format!("7_{id}"), "expires_after_secs": 86400 } }),
    )
}

async fn append(state: &Shared, user_id: &str, id: &str, req: Request) -> Response {
    let fields = match multipart_fields(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(bytes) = fields.get("media") else {
        return invalid("media: a `media` field is required");
    };
    let Some(index) = fields
        .get("segment_index")
        .and_then(|b| String::from_utf8_lossy(b).trim().parse::<u32>().ok())
    else {
        return invalid("segment_index: a number is required");
    };
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id && !m.finalized)
    else {
        return invalid("media_id: not an upload in progress");
    };
    if m.segments.contains(&index) {
        return invalid("segment_index: segment already received");
    }
    m.segments.push(index);
    m.received_bytes += bytes.len();
    StatusCode::OK.into_response()
}

fn finalize(state: &Shared, user_id: &str, id: &str) -> Response {
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id && !m.finalized)
    else {
        return invalid("media_id: not an upload in progress");
    };
    if m.received_bytes != m.total_bytes {
        return invalid(&format!(
            "File size mismatch: expected {} bytes, received {}",
            m.total_bytes, m.received_bytes
        ));
    }
    m.finalized = true;
    m.state = if m.category == "tweet_image" {
        "succeeded"
    } else {
        "pending"
    }
    .into();
    let body = json!({ "data": media_json(m) });
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

fn media_status(state: &Shared, user_id: &str, query: &HashMap<String, String>) -> Response {
    if query.get("command").map(String::as_str) != Some("STATUS") {
        return invalid("command: only STATUS is supported on GET");
    }
    let id = query.get("media_id").cloned().unwrap_or_default();
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id && m.finalized)
    else {
        return invalid("media_id: unknown media");
    };
    m.status_polls += 1;
    m.state = match m.state.as_str() {
        "pending" => "in_progress",
        "in_progress" => "succeeded",
        other => other,
    }
    .into();
    let body = json!({ "data": media_json(m) });
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

async fn metadata(state: &Shared, user_id: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
    let Some(alt) = body
        .pointer("/metadata/alt_text/text")
        .and_then(Value::as_str)
    else {
        return invalid("$.metadata.alt_text.text: string expected");
    };
    if alt.chars().count() > 1000 {
        return invalid("$.metadata.alt_text.text: at most 1000 characters");
    }
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id)
    else {
        return invalid("$.id: unknown media");
    };
    m.alt_text = Some(alt.to_owned());
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "data": { "associated_metadata": true } }),
    )
}

// ---- OAuth ----

fn oauth_error(description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        HeaderMap::new(),
        json!({ "error": "invalid_request", "error_description": description }),
    )
}

fn authorize(state: &Shared, query: &HashMap<String, String>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("state").is_empty()
        || !get("scope").split(' ').any(|s| s == "tweet.write")
    {
        return (StatusCode::BAD_REQUEST, "invalid authorize request").into_response();
    }
    let redirect = get("redirect_uri");
    let Ok(mut url) = reqwest::Url::parse(redirect) else {
        return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response();
    };
    let mut s = lock(state);
    let Some(user_id) = s.authorizing_user.clone() else {
        return (StatusCode::FORBIDDEN, "no user is signed in to the fake").into_response();
    };
    let code = random_token("code-");
    s.codes.insert(
        code.clone(),
        Code {
            user_id,
            challenge: get("code_challenge").to_owned(),
            redirect_uri: redirect.to_owned(),
        },
    );
    url.query_pairs_mut()
        .append_pair("state", get("state"))
        .append_pair("code", &code);
    let mut resp = StatusCode::FOUND.into_response();
    resp.headers_mut().insert("location", header(url));
    resp
}

async fn token(state: &Shared, req: Request) -> Response {
    let basic_client = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(id, _)| id.to_owned()));
    let form = match axum::Form::<Vec<(String, String)>>::from_request(req, &()).await {
        Ok(f) => f.0.into_iter().collect::<HashMap<_, _>>(),
        Err(_) => return oauth_error("expected a form body"),
    };
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let client = basic_client.as_deref().unwrap_or(get("client_id"));
    if client != CLIENT_ID {
        return json_response(
            StatusCode::UNAUTHORIZED,
            HeaderMap::new(),
            json!({ "error": "unauthorized_client", "error_description": "Missing valid authorization header" }),
        );
    }
    let endpoint = if get("grant_type") == "refresh_token" {
        Endpoint::Refresh
    } else {
        Endpoint::Login
    };
    let fault = lock(state).faults.take(endpoint);
    if let Some(f) = &fault
        && let Some(resp) = fault_response(f)
    {
        return resp;
    }
    let mut s = lock(state);
    let user_id = match get("grant_type") {
        "authorization_code" => {
            let Some(code) = s.codes.remove(get("code")) else {
                return oauth_error("Value passed for the authorization code was invalid.");
            };
            let digest = Sha256::digest(get("code_verifier").as_bytes());
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if challenge != code.challenge {
                return oauth_error(
                    "Value passed for the code verifier did not match the code challenge.",
                );
            }
            if get("redirect_uri") != code.redirect_uri {
                return oauth_error(
                    "Value passed for the redirect uri did not match the uri of the authorization code.",
                );
            }
            code.user_id
        }
        "refresh_token" => match s.refresh.remove(get("refresh_token")) {
            Some(user) => user,
            None => return oauth_error("Value passed for the token was invalid."),
        },
        _ => return oauth_error("Value passed for the grant type was invalid."),
    };
    let (access, refresh) = s.issue(&user_id);
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({
            "token_type": "bearer", "expires_in": ACCESS_TTL_SECS, "access_token": access,
            "scope": crate::platforms::x::SCOPES, "refresh_token": refresh,
        }),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_length_counts_links_and_wide_chars() {
        assert_eq!(weighted_len("hello"), 5);
        assert_eq!(
            weighted_len("see https://example.com/a/very/long/path"),
            4 + 23
        );
        assert_eq!(weighted_len("日本"), 4);
    }
}
