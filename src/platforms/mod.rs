//! Platform adapters: one trait, one file per platform. Only this module (and `notify/`)
//! speaks HTTP to the outside. Wire types stay private to each adapter; what crosses
//! this boundary is domain types and [`PlatformError`], which tells the scheduler what
//! it may do next.
//!
//! Publishing is reached only through the scheduler's claim/witness/fence protocol:
//! an adapter calls [`Witness::request_sent`] immediately before the first request that
//! could create a post (after uploads, which create nothing visible), and stops if it fails.

pub mod registry;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Secret;
use crate::domain::{Platform, PostContent};

/// Credentials opened from the vault for one call. `Debug` shows no token.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The platform's id for the account (X user id, Bluesky DID).
    pub user_id: Option<String>,
    /// The account's handle.
    pub handle: String,
    /// The account's server, for platforms with many (Bluesky PDS, Mastodon instance).
    pub server_url: Option<String>,
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The psn post id, for logs.
    pub post_id: String,
    pub content: PostContent,
    /// Chosen once before the first attempt and reused on every retry (Bluesky rkey,
    /// Mastodon Idempotency-Key), so a lost answer can be reconciled.
    pub publish_key: String,
    /// When the scheduler claimed the post; reconciliation by time window starts here.
    pub not_before: DateTime<Utc>,
}

/// A post that is live on the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The platform's id of the first (or only) part.
    pub platform_post_id: String,
    pub url: Option<String>,
    /// Ids of every part of a thread, in order (one entry for a single post).
    pub part_ids: Vec<String>,
}

/// Called by an adapter right before the first create request is sent.
#[async_trait]
pub trait Witness: Send + Sync {
    /// Records (and commits) that a create request is about to be sent. An error means
    /// the caller lost its lease: the adapter must not send anything.
    async fn request_sent(&self) -> Result<(), PlatformError>;
}

/// A witness that records nothing, for reads and tests of adapters alone.
pub struct NoWitness;

#[async_trait]
impl Witness for NoWitness {
    async fn request_sent(&self) -> Result<(), PlatformError> {
        Ok(())
    }
}

/// What went wrong, sorted by what the scheduler may do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlatformError {
    /// The platform certainly did not create anything (connection refused, 5xx before
    /// acceptance); trying again later may work.
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<DateTime<Utc>>,
    },
    /// Rate-limited until the given time; nothing was created.
    #[error("rate-limited until {until}: {message}")]
    RateLimited {
        until: DateTime<Utc>,
        message: String,
    },
    /// The access token expired or was revoked: refresh once, then retry.
    #[error("{message}")]
    AuthExpired { message: String },
    /// The platform refused the post for good (validation, duplicate content, forbidden,
    /// usage cap). `message` is the platform's own words.
    #[error("{message}")]
    Permanent { message: String },
    /// The request may have created the post; nobody knows. Never retried blindly.
    #[error("{message}")]
    OutcomeUnknown { message: String },
    /// The platform said the post already exists, and named it (LinkedIn's duplicate 422).
    #[error("already published as {existing_id}")]
    AlreadyPublished {
        existing_id: String,
        url: Option<String>,
    },
    /// The caller's lease was lost before anything was sent.
    #[error("lease lost: {message}")]
    LeaseLost { message: String },
}

/// Rate-limit state from the last response's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset_at: Option<DateTime<Utc>>,
}

/// What reconciliation learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The post is on the platform.
    Yes(Published),
    /// The platform shows no such post.
    No,
}

/// One platform's API.
#[async_trait]
pub trait PlatformClient: Send + Sync {
    fn platform(&self) -> Platform;

    /// Publishes a post or a thread (each part replying to the one before), uploading
    /// media first. Calls `witness.request_sent()` right before the first create request.
    async fn publish(
        &self,
        creds: &Credentials,
        request: &PublishRequest,
        witness: &dyn Witness,
    ) -> Result<Published, PlatformError>;

    /// Asks the platform whether a publish whose answer was lost created the post.
    /// An error means it cannot tell.
    async fn find(
        &self,
        creds: &Credentials,
        request: &PublishRequest,
    ) -> Result<Found, PlatformError>;

    /// Exchanges the refresh token for new credentials. Callers must store the result:
    /// some platforms rotate refresh tokens and the old one stops working.
    async fn refresh(&self, creds: &Credentials) -> Result<Credentials, PlatformError>;

    /// The rate-limit state seen on the last response, if the platform reports one.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }

    /// Deletes one post (one part of a thread).
    async fn delete(
        &self,
        creds: &Credentials,
        platform_post_id: &str,
    ) -> Result<(), PlatformError> {
        let _ = (creds, platform_post_id);
        Err(unsupported(self.platform(), "deleting posts"))
    }

    /// Metrics for many posts; the adapter batches as the platform requires.
    async fn metrics(
        &self,
        creds: &Credentials,
        platform_post_ids: &[String],
    ) -> Result<MetricsBatch, PlatformError> {
        let _ = (creds, platform_post_ids);
        Err(unsupported(self.platform(), "metrics"))
    }

    /// Searches recent posts.
    async fn search(
        &self,
        creds: &Credentials,
        query: &SearchQuery,
    ) -> Result<SearchPage, PlatformError> {
        let _ = (creds, query);
        Err(unsupported(self.platform(), "search"))
    }
}

pub mod bluesky;
pub mod fake;
pub mod http;
pub mod x;

/// Counters for one post, as the platform reports them. `None` = the platform did not say
/// (not the same as zero).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PostMetrics {
    pub platform_post_id: String,
    pub impressions: Option<u64>,
    pub likes: Option<u64>,
    pub reposts: Option<u64>,
    pub replies: Option<u64>,
    pub quotes: Option<u64>,
    pub bookmarks: Option<u64>,
    pub link_clicks: Option<u64>,
    pub profile_clicks: Option<u64>,
    /// The platform's own engagement total, where it gives one (X non-public metrics).
    pub engagements: Option<u64>,
}

/// Metrics for many posts: some may fail while others succeed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetricsBatch {
    pub metrics: Vec<PostMetrics>,
    /// Posts the platform could not report on (deleted, not visible), with its reason.
    pub errors: Vec<MetricsFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricsFailure {
    pub platform_post_id: String,
    pub message: String,
}

/// A search for conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub query: String,
    /// At most this many hits (each platform clamps it to what it allows).
    pub limit: u32,
    /// Only posts at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Newest first (`true`) or the platform's relevance order.
    pub latest: bool,
    /// The cursor from the previous page.
    pub cursor: Option<String>,
}

/// One post found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    pub platform_post_id: String,
    pub url: Option<String>,
    pub text: String,
    pub author_id: Option<String>,
    pub author_handle: Option<String>,
    pub author_followers: Option<u64>,
    pub created_at: Option<DateTime<Utc>>,
    pub likes: Option<u64>,
    pub reposts: Option<u64>,
    pub replies: Option<u64>,
    pub quotes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}

/// The error for an operation a platform (or psn's adapter for it) does not offer.
pub fn unsupported(platform: Platform, what: &str) -> PlatformError {
    PlatformError::Permanent {
        message: format!("{what} is not supported on {platform}"),
    }
}
