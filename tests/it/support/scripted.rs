//! A platform adapter for scheduler tests: it does what the test tells it, call by call,
//! and records every call, so a test can assert what was sent and how often.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use psn::config::Secret;
use psn::domain::{Platform, Post};
use psn::platforms::{
    Credentials, Found, PlatformClient, PlatformError, PublishRequest, Published, Witness,
};
use psn::scheduler::{Blocked, CredentialSource, NoCredentials};

/// What one publish call does.
#[derive(Debug, Clone)]
pub enum Step {
    /// Witness, then succeed.
    Succeed,
    /// Fail before witnessing (nothing sent).
    FailEarly(PlatformError),
    /// Witness, then fail (the create request "went out").
    FailAfterSend(PlatformError),
    /// Witness, then never answer.
    HangAfterSend,
    /// Never get as far as sending.
    HangBeforeSend,
    /// Witness, wait, then succeed.
    SlowSucceed(Duration),
}

#[derive(Default)]
struct State {
    steps: VecDeque<Step>,
    find: VecDeque<Result<Found, PlatformError>>,
    refresh: VecDeque<Result<(), PlatformError>>,
    /// Successful publishes per psn post id.
    published: HashMap<String, u32>,
    publish_calls: u32,
    find_calls: u32,
    refresh_calls: u32,
    tokens_seen: Vec<String>,
}

#[derive(Clone, Default)]
pub struct Scripted {
    state: Arc<Mutex<State>>,
}

impl Scripted {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues what the next publish calls do; when the queue is empty they succeed.
    pub fn then(&self, step: Step) -> &Self {
        self.state.lock().unwrap().steps.push_back(step);
        self
    }

    pub fn find_answers(&self, answer: Result<Found, PlatformError>) -> &Self {
        self.state.lock().unwrap().find.push_back(answer);
        self
    }

    pub fn refresh_answers(&self, answer: Result<(), PlatformError>) -> &Self {
        self.state.lock().unwrap().refresh.push_back(answer);
        self
    }

    pub fn publish_calls(&self) -> u32 {
        self.state.lock().unwrap().publish_calls
    }

    pub fn find_calls(&self) -> u32 {
        self.state.lock().unwrap().find_calls
    }

    pub fn refresh_calls(&self) -> u32 {
        self.state.lock().unwrap().refresh_calls
    }

    pub fn tokens_seen(&self) -> Vec<String> {
        self.state.lock().unwrap().tokens_seen.clone()
    }

    /// Successful publishes per post id.
    pub fn published(&self) -> HashMap<String, u32> {
        self.state.lock().unwrap().published.clone()
    }

    fn done(&self, request: &PublishRequest) -> Published {
        let mut s = self.state.lock().unwrap();
        *s.published.entry(request.post_id.clone()).or_default() += 1;
        let id = format!("p-{}", request.post_id);
        Published {
            platform_post_id: id.clone(),
            url: Some(format!("https://example.test/{id}")),
            part_ids: vec![id],
        }
    }
}

#[async_trait]
impl PlatformClient for Scripted {
    fn platform(&self) -> Platform {
        Platform::X
    }

    async fn publish(
        &self,
        creds: &Credentials,
        request: &PublishRequest,
        witness: &dyn Witness,
    ) -> Result<Published, PlatformError> {
        let step = {
            let mut s = self.state.lock().unwrap();
            s.publish_calls += 1;
            s.tokens_seen.push(creds.access_token.expose().to_owned());
            s.steps.pop_front().unwrap_or(Step::Succeed)
        };
        let sent = || witness.request_sent();
        match step {
            Step::Succeed => {
                sent().await?;
                Ok(self.done(request))
            }
            Step::FailEarly(e) => Err(e),
            Step::FailAfterSend(e) => {
                sent().await?;
                Err(e)
            }
            Step::HangAfterSend => {
                sent().await?;
                std::future::pending().await
            }
            Step::HangBeforeSend => std::future::pending().await,
            Step::SlowSucceed(d) => {
                sent().await?;
                tokio::time::sleep(d).await;
                Ok(self.done(request))
            }
        }
    }

    async fn find(
        &self,
        _creds: &Credentials,
        _request: &PublishRequest,
    ) -> Result<Found, PlatformError> {
        let mut s = self.state.lock().unwrap();
        s.find_calls += 1;
        s.find.pop_front().unwrap_or(Ok(Found::No))
    }

    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, PlatformError> {
        let answer = {
            let mut s = self.state.lock().unwrap();
            s.refresh_calls += 1;
            s.refresh.pop_front().unwrap_or(Ok(()))
        };
        answer.map(|()| Credentials {
            access_token: Secret::new("fresh-token"),
            ..creds.clone()
        })
    }
}

/// Credentials for every post, and a record of what the scheduler stored.
#[derive(Clone, Default)]
pub struct TestAccounts {
    pub saved: Arc<Mutex<Vec<String>>>,
    pub reauth: Arc<Mutex<Vec<String>>>,
    /// When set, every post is blocked with this reason.
    pub blocked: Option<String>,
    /// When set, reading any account fails as a database outage would.
    pub unavailable: Option<String>,
}

#[async_trait]
impl CredentialSource for TestAccounts {
    async fn credentials(&self, _post: &Post) -> Result<Credentials, NoCredentials> {
        if let Some(why) = &self.blocked {
            return Err(Blocked(why.clone()).into());
        }
        if let Some(why) = &self.unavailable {
            return Err(NoCredentials::Unavailable(why.clone()));
        }
        let saved = self.saved.lock().unwrap().last().cloned();
        Ok(Credentials {
            access_token: Secret::new(saved.unwrap_or_else(|| "old-token".into())),
            refresh_token: Some(Secret::new("refresh")),
            expires_at: None,
            user_id: Some("42".into()),
            handle: "tester".into(),
            server_url: None,
        })
    }

    async fn save_refreshed(&self, _post: &Post, creds: &Credentials) -> Result<(), Blocked> {
        self.saved
            .lock()
            .unwrap()
            .push(creds.access_token.expose().to_owned());
        Ok(())
    }

    async fn needs_reauth(&self, post: &Post, reason: &str) {
        self.reauth
            .lock()
            .unwrap()
            .push(format!("{}: {reason}", post.id));
    }
}
