//! Fake X and Bluesky servers: small axum apps on 127.0.0.1 that accept what the real APIs
//! accept (and refuse what they refuse: unknown fields on X, bad record types, texts over
//! the limit, unknown tokens), answer with the documented shapes, errors and rate-limit
//! headers, and remember everything that was published so a test can check it happened
//! exactly once.
//!
//! They are library code so that the scheduler's tests, crash tests that run `psn
//! scheduler` as a child process, and `psn bench` can share them. In-process, use the
//! methods on [`FakeX`] / [`FakeBluesky`]; from another process, the same knobs are on
//! HTTP under `/_fake/` (see [`control`]):
//!
//! ```no_run
//! # async fn demo() {
//! use psn::platforms::fake::{Endpoint, Fault, FakeX};
//! let x = FakeX::start().await.unwrap();
//! let user = x.add_user("psn_test");
//! let creds = x.credentials(&user);          // tokens the fake accepts
//! x.inject(Endpoint::Create, Fault::server_error(503), 2);
//! // … point an XClient at x.base_url() and publish …
//! assert_eq!(x.creates_with_text("hello"), 1);
//! # }
//! ```

pub mod bluesky;
pub mod x;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub use bluesky::FakeBluesky;
pub use x::FakeX;

use crate::domain::Platform;

/// Which calls a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /2/tweets`, `createRecord`.
    Create,
    /// Media and blob uploads (every step of a chunked upload).
    Upload,
    Delete,
    Metrics,
    Search,
    /// `GET /2/users/{id}/tweets`, `getRecord`: what reconciliation reads.
    Lookup,
    /// The token endpoint (X) or `refreshSession` (Bluesky).
    Refresh,
    /// `createSession` (Bluesky) or the code exchange (X).
    Login,
    /// Every call.
    Any,
}

/// Behaviour to inject into matching calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 with the platform's rate-limit headers, resetting `reset_in_secs` from now.
    RateLimited { reset_in_secs: u64 },
    /// X: 429 because the 24-hour user limit is used up (`x-user-limit-24hour-*` headers,
    /// resetting `reset_in_secs` from now) while the 15-minute window has room.
    /// Bluesky: as `RateLimited`.
    DailyLimit { reset_in_secs: u64 },
    /// This 5xx status, before anything is created.
    ServerError { status: u16 },
    /// The access token is refused as expired (X: 401; Bluesky: 400 `ExpiredToken`).
    ExpiredToken,
    /// X: 403 duplicate content. Bluesky: 400 `InvalidRequest`.
    Duplicate,
    /// X: 429 with type `…/usage-capped` (monthly cap).
    UsageCapped,
    /// A permanent 400 with this message.
    Reject { message: String },
    /// Wait this long before handling the call (nothing is created yet).
    DelayBefore { millis: u64 },
    /// Create the post, then wait this long before answering (past the client's time-out:
    /// the outcome is unknown to the client but the post exists).
    HangAfter { millis: u64 },
    /// Create the post, send the status line, then break the connection mid-body.
    DropAfter,
    /// Metrics: answer 200 with `data` for some ids and `errors[]` for these.
    PartialMetrics { failing_ids: Vec<String> },
}

impl Fault {
    pub fn rate_limited(reset_in: Duration) -> Self {
        Fault::RateLimited {
            reset_in_secs: reset_in.as_secs(),
        }
    }
    pub fn server_error(status: u16) -> Self {
        Fault::ServerError { status }
    }
    pub fn reject(message: impl Into<String>) -> Self {
        Fault::Reject {
            message: message.into(),
        }
    }
    pub fn hang_after(d: Duration) -> Self {
        Fault::HangAfter {
            millis: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        }
    }
    pub fn delay_before(d: Duration) -> Self {
        Fault::DelayBefore {
            millis: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// A fault waiting to fire `times` more times on calls to `endpoint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injected {
    pub endpoint: Endpoint,
    pub fault: Fault,
    pub times: u32,
    /// Matching calls to let through untouched before the fault fires (to fail part 2 of
    /// a thread, skip 1).
    #[serde(default)]
    pub skip: u32,
}

/// Faults in the order they were injected; the first that matches a call fires.
#[derive(Debug, Default)]
pub(crate) struct Faults(Vec<Injected>);

impl Faults {
    pub(crate) fn push(&mut self, endpoint: Endpoint, fault: Fault, times: u32) {
        self.push_after(endpoint, 0, fault, times);
    }

    pub(crate) fn push_after(&mut self, endpoint: Endpoint, skip: u32, fault: Fault, times: u32) {
        if times > 0 {
            self.0.push(Injected {
                endpoint,
                fault,
                times,
                skip,
            });
        }
    }

    /// Takes one firing of the first fault for `endpoint`, if any. A fault still skipping
    /// counts the call and lets it through.
    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let i = self
            .0
            .iter()
            .position(|f| f.endpoint == endpoint || f.endpoint == Endpoint::Any)?;
        let slot = &mut self.0[i];
        if slot.skip > 0 {
            slot.skip -= 1;
            return None;
        }
        slot.times -= 1;
        let fault = slot.fault.clone();
        if slot.times == 0 {
            self.0.remove(i);
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// What happens after a create was stored, from the fault that fired.
#[derive(Debug, Clone, Copy)]
pub(crate) enum After {
    Answer,
    Hang(Duration),
    Drop,
}

impl After {
    pub(crate) fn from_fault(f: Option<&Fault>) -> After {
        match f {
            Some(Fault::HangAfter { millis }) => After::Hang(Duration::from_millis(*millis)),
            Some(Fault::DropAfter) => After::Drop,
            _ => After::Answer,
        }
    }

    /// Applies the behaviour to a response that is ready.
    pub(crate) async fn apply(self, resp: Response) -> Response {
        match self {
            After::Answer => resp,
            After::Hang(d) => {
                tokio::time::sleep(d).await;
                resp
            }
            After::Drop => {
                let (parts, _) = resp.into_parts();
                let stream = futures::stream::once(async {
                    Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "fake: connection dropped after the create",
                    ))
                });
                Response::from_parts(parts, Body::from_stream(stream))
            }
        }
    }
}

/// A running fake server: its address and the means to stop it (dropping stops it too).
pub(crate) struct Running {
    pub(crate) base_url: String,
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub(crate) async fn start(addr: SocketAddr, app: axum::Router) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("fake server stopped: {e}");
            }
        });
        Ok(Running {
            base_url: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Runs until the server stops.
    pub(crate) async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Either fake, as started by [`serve_fake`].
pub enum AnyFake {
    X(FakeX),
    Bluesky(FakeBluesky),
}

impl AnyFake {
    pub fn base_url(&self) -> &str {
        match self {
            AnyFake::X(f) => f.base_url(),
            AnyFake::Bluesky(f) => f.base_url(),
        }
    }

    /// Serves until the process ends (for a hidden CLI subcommand).
    pub async fn wait(self) {
        match self {
            AnyFake::X(f) => f.wait().await,
            AnyFake::Bluesky(f) => f.wait().await,
        }
    }
}

/// Why a fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("there is no fake for {0}: only x and bluesky")]
    Unsupported(Platform),
}

/// Starts the fake for `platform` on `addr` (port 0 picks one). Drive it from another
/// process through its `/_fake/` endpoints ([`control`]).
pub async fn serve_fake(platform: Platform, addr: SocketAddr) -> Result<AnyFake, FakeError> {
    match platform {
        Platform::X => FakeX::start_on(addr).await.map(AnyFake::X),
        Platform::Bluesky => FakeBluesky::start_on(addr).await.map(AnyFake::Bluesky),
        other => Err(FakeError::Unsupported(other)),
    }
}

/// The HTTP control surface every fake offers, for tests in another process:
///
/// - `POST /_fake/users` `{"handle": "name"}` → `{"id", "handle", "access_token", "refresh_token"}`
///   (Bluesky also returns `"did"` and `"app_password"`);
/// - `POST /_fake/faults` `{"endpoint": "create", "fault": {"kind": "server_error", "status": 503}, "times": 2}`;
/// - `DELETE /_fake/faults` clears them;
/// - `GET /_fake/state` → everything published, uploaded and counted, as JSON.
pub mod control {
    /// The path prefix of the control endpoints.
    pub const PREFIX: &str = "/_fake/";
}

/// Locks a fake's state; a panic in another handler does not poison the fake for tests.
pub(crate) fn lock<T>(m: &Arc<Mutex<T>>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A JSON response with extra headers.
pub(crate) fn json_response(
    status: StatusCode,
    headers: HeaderMap,
    body: serde_json::Value,
) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().extend(headers);
    resp
}

pub(crate) fn header(v: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&v.to_string()).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// A random token-ish string.
pub(crate) fn random_token(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let body: String = (0..32)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{body}")
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_in_order_and_run_out() {
        let mut f = Faults::default();
        f.push(Endpoint::Create, Fault::server_error(503), 2);
        f.push(Endpoint::Any, Fault::ExpiredToken, 1);
        assert_eq!(f.take(Endpoint::Search), Some(Fault::ExpiredToken));
        assert_eq!(f.take(Endpoint::Create), Some(Fault::server_error(503)));
        assert_eq!(f.take(Endpoint::Create), Some(Fault::server_error(503)));
        assert_eq!(f.take(Endpoint::Create), None);
        f.push_after(Endpoint::Create, 1, Fault::DropAfter, 1);
        assert_eq!(
            f.take(Endpoint::Create),
            None,
            "the first call is let through"
        );
        assert_eq!(f.take(Endpoint::Create), Some(Fault::DropAfter));
        assert_eq!(f.take(Endpoint::Create), None);
    }

    #[test]
    fn faults_round_trip_as_json() {
        let i = Injected {
            endpoint: Endpoint::Create,
            fault: Fault::server_error(503),
            times: 2,
            skip: 0,
        };
        let text =
            r#"{"endpoint":"create","fault":{"kind":"server_error","status":503},"times":2}"#;
        assert_eq!(serde_json::from_str::<Injected>(text).unwrap(), i);
        let back: Injected = serde_json::from_str(&serde_json::to_string(&i).unwrap()).unwrap();
        assert_eq!(back, i);
    }
}
