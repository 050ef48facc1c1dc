//! The one HTTP client every adapter shares, and the rules that turn an HTTP failure into
//! a [`PlatformError`] the scheduler can act on.
//!
//! The rules, in the order they are applied:
//! - a connect error (refused, DNS, TLS, connect time-out) happened before any byte of the
//!   request left: `Retryable`;
//! - any other transport failure (time-out, reset) after the request was sent: on a call
//!   that may create something (`CallKind::Create`) `OutcomeUnknown`, else `Retryable`;
//! - 429: `RateLimited` until the platform's reset header, else `Retry-After`, else a minute;
//! - 401: `AuthExpired` (refresh once, then retry);
//! - 5xx on a read: `Retryable`. On a create only 503 is a definite non-delivery (the
//!   service refused the request at the door); 500, 502, 504 and the rest may come after
//!   the post was accepted (a gateway timing out on a slow but successful create), so they
//!   are `OutcomeUnknown` and the scheduler reconciles instead of re-posting;
//! - any other 4xx: `Permanent`, with the platform's own message.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use sha2::{Digest, Sha256};

use super::{Credentials, PlatformError, RateLimit};
use crate::config::Secret;

/// `psn/<version>`, sent on every request.
pub const USER_AGENT: &str = concat!("psn/", env!("CARGO_PKG_VERSION"));
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Unix times below this are read as a number of seconds from now (some servers send a delta).
const UNIX_TIME_FLOOR: i64 = 1_000_000_000;

/// The shared client: rustls on the ring provider (the one sqlx already uses), connect
/// time-out 5 s, request time-out 30 s. Cloning a `reqwest::Client` shares its pool.
pub fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| build_client(CONNECT_TIMEOUT, REQUEST_TIMEOUT))
        .clone()
}

/// A client with other time-outs (tests of outcome-unknown paths use short ones).
pub fn build_client(connect: Duration, request: Duration) -> reqwest::Client {
    // Installing fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(connect)
        .timeout(request)
        .build()
        .unwrap_or_else(|e| {
            // Building fails only if the TLS backend cannot start; fall back to defaults
            // rather than panic, and say so.
            tracing::error!("cannot build the HTTP client ({e}); using reqwest defaults");
            reqwest::Client::new()
        })
}

/// Whether a lost answer may mean the platform created something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Reads, uploads, deletes, refreshes: repeating them creates nothing visible.
    Read,
    /// A request that may create a post.
    Create,
}

/// A complete answer, read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// Parses the body as JSON, or says which call gave an unreadable answer.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        kind: CallKind,
    ) -> Result<T, PlatformError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let message = format!("{what}: unexpected answer ({}): {e}", self.status);
            match kind {
                // The create was answered with success but we cannot read its id.
                CallKind::Create => PlatformError::OutcomeUnknown { message },
                CallKind::Read => PlatformError::Permanent { message },
            }
        })
    }
}

/// Sends a request and reads the whole answer, turning transport failures into
/// [`PlatformError`]s by the rules at the top of this file.
pub async fn send(req: RequestBuilder, kind: CallKind, what: &str) -> Result<Reply, PlatformError> {
    let resp = req
        .send()
        .await
        .map_err(|e| transport_error(&e, kind, what))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .map_err(|e| transport_error(&e, kind, what))?;
    Ok(Reply {
        status,
        headers,
        body: body.to_vec(),
    })
}

/// Classifies a transport failure.
pub fn transport_error(err: &reqwest::Error, kind: CallKind, what: &str) -> PlatformError {
    let detail = describe(err);
    if err.is_connect() {
        return PlatformError::Retryable {
            message: format!("{what}: {detail}; nothing was sent"),
            retry_after: None,
        };
    }
    if err.is_builder() {
        return PlatformError::Permanent {
            message: format!("{what}: the request could not be built: {detail}"),
        };
    }
    match kind {
        CallKind::Create => PlatformError::OutcomeUnknown {
            message: format!(
                "{what}: {detail} after the request was sent; the post may or may not exist"
            ),
        },
        CallKind::Read => PlatformError::Retryable {
            message: format!("{what}: {detail}"),
            retry_after: None,
        },
    }
}

/// A transport error as words, without the URL (it may hold a query the user typed).
fn describe(err: &reqwest::Error) -> String {
    let mut out = if err.is_timeout() {
        "no answer in time".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else if err.is_body() || err.is_decode() {
        "the answer was cut off".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Classifies an answer that was not a success. `message` is the platform's own words.
pub fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    rate_limit: Option<&RateLimit>,
    message: String,
    kind: CallKind,
) -> PlatformError {
    let code = status.as_u16();
    match code {
        429 => PlatformError::RateLimited {
            until: rate_limit
                .and_then(|r| r.reset_at)
                .or_else(|| retry_after(headers, Utc::now()))
                .unwrap_or_else(|| Utc::now() + chrono::Duration::seconds(60)),
            message,
        },
        401 => PlatformError::AuthExpired { message },
        500..=599 => match kind {
            CallKind::Read => PlatformError::Retryable {
                message,
                retry_after: retry_after(headers, Utc::now()),
            },
            CallKind::Create if code == 503 => PlatformError::Retryable {
                message,
                retry_after: retry_after(headers, Utc::now()),
            },
            CallKind::Create => PlatformError::OutcomeUnknown {
                message: format!(
                    "{message} (HTTP {code} after the request was sent; the post may or may not exist)"
                ),
            },
        },
        _ => PlatformError::Permanent { message },
    }
}

/// X's `x-rate-limit-limit/-remaining/-reset` (reset in unix seconds).
pub fn x_rate_limit(headers: &HeaderMap) -> Option<RateLimit> {
    rate_limit_from(
        headers,
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
    )
}

/// Bluesky's `RateLimit-Limit/-Remaining/-Reset` (reset in unix seconds; a small number is
/// read as seconds from now, as the IETF draft has it).
pub fn bluesky_rate_limit(headers: &HeaderMap) -> Option<RateLimit> {
    rate_limit_from(
        headers,
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    )
}

/// A rate limit from three headers (limit, remaining, reset in unix seconds).
pub fn rate_limit_from(
    headers: &HeaderMap,
    limit: &str,
    remaining: &str,
    reset: &str,
) -> Option<RateLimit> {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let r = RateLimit {
        limit: num(limit),
        remaining: num(remaining),
        reset_at: num(reset).and_then(|n| reset_time(n, Utc::now())),
    };
    (r != RateLimit::default()).then_some(r)
}

fn reset_time(n: u64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let n = i64::try_from(n).ok()?;
    if n < UNIX_TIME_FLOOR {
        Some(now + chrono::Duration::seconds(n))
    } else {
        Utc.timestamp_opt(n, 0).single()
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u32>() {
        return Some(now + chrono::Duration::seconds(secs.into()));
    }
    DateTime::parse_from_rfc2822(v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The rate-limit state an adapter saw last, for [`super::PlatformClient::rate_limit`].
#[derive(Debug, Default)]
pub struct LastRateLimit(Mutex<Option<RateLimit>>);

impl LastRateLimit {
    pub fn record(&self, seen: Option<RateLimit>) {
        if let Some(seen) = seen
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(seen);
        }
    }

    pub fn get(&self) -> Option<RateLimit> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// Refresh tokens are single-use on X and Bluesky: two posts of one account finding their
/// token expired at once must not both spend the same refresh token (the loser would be
/// refused and the account wrongly marked for reconnection). Refreshes through one
/// adapter run one at a time, and a refresh token already exchanged in the last ten
/// minutes answers with the credentials it was exchanged for. Keys are hashes, never
/// the tokens themselves.
#[derive(Default)]
pub struct RefreshCache(tokio::sync::Mutex<HashMap<String, (Instant, Credentials)>>);

impl std::fmt::Debug for RefreshCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshCache")
    }
}

impl RefreshCache {
    const KEEP: Duration = Duration::from_secs(600);

    pub async fn refresh<F, Fut>(
        &self,
        old: &Secret,
        exchange: F,
    ) -> Result<Credentials, PlatformError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Credentials, PlatformError>>,
    {
        let key: String = Sha256::digest(old.expose().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut done = self.0.lock().await;
        done.retain(|_, (at, _)| at.elapsed() < Self::KEEP);
        if let Some((_, creds)) = done.get(&key) {
            tracing::debug!("refresh token already exchanged here; reusing the result");
            return Ok(creds.clone());
        }
        let fresh = exchange().await?;
        done.insert(key, (Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

/// Whether a media source is an http(s) URL (else it is a local path).
pub fn is_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// The bytes of a media source: a local file, or an http(s) URL fetched with `client`.
/// Anything larger than `max_bytes` is refused before it is read whole (the platform
/// would refuse it anyway, and an endless download must not fill the memory).
pub async fn load_media(
    client: &reqwest::Client,
    source: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, PlatformError> {
    let too_big = |size: u64| PlatformError::Permanent {
        message: format!(
            "media {} is {size} bytes; the platform accepts at most {max_bytes}",
            shorten(source)
        ),
    };
    if is_url(source) {
        let what = format!("downloading media {}", shorten(source));
        let mut resp = client
            .get(source)
            .send()
            .await
            .map_err(|e| transport_error(&e, CallKind::Read, &what))?;
        let status = resp.status();
        if !status.is_success() {
            let message = format!("{what}: the server answered {status}");
            return Err(if status.is_server_error() {
                PlatformError::Retryable {
                    message,
                    retry_after: None,
                }
            } else {
                PlatformError::Permanent { message }
            });
        }
        if let Some(len) = resp.content_length().filter(|&n| n > max_bytes) {
            return Err(too_big(len));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport_error(&e, CallKind::Read, &what))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > max_bytes {
                return Err(too_big(body.len() as u64));
            }
        }
        return Ok(body);
    }
    let path = source.strip_prefix("file://").unwrap_or(source);
    let unreadable = |e: std::io::Error| PlatformError::Permanent {
        message: format!("cannot read media file {}: {e}", shorten(path)),
    };
    let size = tokio::fs::metadata(path).await.map_err(unreadable)?.len();
    if size > max_bytes {
        return Err(too_big(size));
    }
    tokio::fs::read(path).await.map_err(unreadable)
}

/// Keeps user-provided text in messages short.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limit_headers_parse() {
        let h = headers(&[
            ("x-rate-limit-limit", "100"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1900000000"),
        ]);
        let r = x_rate_limit(&h).unwrap();
        assert_eq!(r.limit, Some(100));
        assert_eq!(r.remaining, Some(0));
        assert_eq!(r.reset_at.unwrap().timestamp(), 1_900_000_000);
        assert_eq!(x_rate_limit(&HeaderMap::new()), None);
        let b = bluesky_rate_limit(&headers(&[
            ("RateLimit-Limit", "3000"),
            ("RateLimit-Remaining", "2999"),
            ("RateLimit-Reset", "1900000300"),
            ("RateLimit-Policy", "3000;w=300"),
        ]))
        .unwrap();
        assert_eq!(b.reset_at.unwrap().timestamp(), 1_900_000_300);
        let delta = bluesky_rate_limit(&headers(&[("RateLimit-Reset", "30")])).unwrap();
        assert!(delta.reset_at.unwrap() > Utc::now());
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let h = headers(&[("retry-after", "120")]);
        assert_eq!(retry_after(&h, now).unwrap().timestamp(), 1_800_000_120);
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&h, now).unwrap().timestamp(), 1_445_412_480);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        let rl = RateLimit {
            reset_at: Utc.timestamp_opt(1_900_000_000, 0).single(),
            ..RateLimit::default()
        };
        let e = status_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            Some(&rl),
            "slow".into(),
            CallKind::Create,
        );
        assert!(
            matches!(e, PlatformError::RateLimited { until, .. } if until.timestamp() == 1_900_000_000)
        );
        let read =
            |s: u16, k| status_error(StatusCode::from_u16(s).unwrap(), &h, None, "m".into(), k);
        assert!(matches!(
            read(401, CallKind::Read),
            PlatformError::AuthExpired { .. }
        ));
        assert!(matches!(
            read(500, CallKind::Read),
            PlatformError::Retryable { .. }
        ));
        assert!(matches!(
            read(503, CallKind::Create),
            PlatformError::Retryable { .. }
        ));
        assert!(matches!(
            read(502, CallKind::Create),
            PlatformError::OutcomeUnknown { .. }
        ));
        assert!(matches!(
            read(504, CallKind::Create),
            PlatformError::OutcomeUnknown { .. }
        ));
        assert!(matches!(
            read(403, CallKind::Create),
            PlatformError::Permanent { .. }
        ));
        assert!(matches!(
            read(400, CallKind::Read),
            PlatformError::Permanent { .. }
        ));
    }

    #[tokio::test]
    async fn connect_refused_is_retryable_even_on_create() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = build_client(Duration::from_secs(2), Duration::from_secs(2));
        let err = send(
            c.post(format!("http://127.0.0.1:{port}/2/tweets")),
            CallKind::Create,
            "creating a post",
        )
        .await
        .unwrap_err();
        assert!(matches!(err, PlatformError::Retryable { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn oversized_media_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, vec![0u8; 2048]).unwrap();
        let source = path.display().to_string();
        let err = load_media(&client(), &source, 1024).await.unwrap_err();
        assert!(
            matches!(&err, PlatformError::Permanent { message } if message.contains("2048 bytes")),
            "{err:?}"
        );
        assert_eq!(
            load_media(&client(), &source, 4096).await.unwrap().len(),
            2048
        );
    }

    #[tokio::test]
    async fn missing_media_file_is_permanent() {
        let err = load_media(&client(), "/nonexistent/psn/cat.png", 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(err, PlatformError::Permanent { ref message } if message.contains("cat.png"))
        );
    }
}
