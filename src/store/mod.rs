//! The store: everything psn keeps, behind one trait with a Postgres and a SQLite
//! implementation chosen once at start-up. Only this module holds SQL.
//!
//! Both backends share one generic implementation ([`sql::SqlStore`]); the few places
//! where Postgres and SQLite differ (locking, transaction start, connection options)
//! live in [`dialect::Dialect`] and the two files that implement it.

mod analytics;
mod connect;
mod dialect;
mod error;
mod page;
mod postgres;
mod rows;
mod scheduling;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    Account, AccountId, AuditEntry, GroupId, Idea, IdeaStatus, Platform, Post, PostEvent, PostId,
    PostStatus,
};

pub use analytics::{AnalyticsStore, PublishedFilter, Snapshot, StoredOpportunity};
pub use connect::{DatabaseTarget, connect, open};
pub use error::{StoreError, StoreResult};
pub use page::{Cursor, Page, PageRequest};
pub use scheduling::{CronRun, Finish, InstanceBeat, Lease, PublishAttempt, SchedulerStore, Swept};

/// A shared handle to the store.
pub type DynStore = Arc<dyn Store>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "Postgres",
            Backend::Sqlite => "SQLite",
        }
    }
}

/// Where the schema stands compared with the migrations built into this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied to the database, ascending.
    pub applied: Vec<i64>,
    /// Versions this binary knows, ascending.
    pub known: Vec<i64>,
}

impl MigrationStatus {
    pub fn pending(&self) -> Vec<i64> {
        self.known
            .iter()
            .copied()
            .filter(|v| !self.applied.contains(v))
            .collect()
    }

    /// Applied versions this binary does not know: the database was migrated by a newer psn.
    pub fn unknown(&self) -> Vec<i64> {
        self.applied
            .iter()
            .copied()
            .filter(|v| !self.known.contains(v))
            .collect()
    }
}

/// Which posts to list. Empty `statuses` means every status.
#[derive(Debug, Clone, Default)]
pub struct PostFilter {
    pub statuses: Vec<PostStatus>,
    pub platform: Option<Platform>,
    pub account: Option<AccountId>,
    pub group: Option<GroupId>,
    /// Only posts listed at or after this time (their run time, else creation time).
    pub from: Option<DateTime<Utc>>,
    /// Only posts listed before this time.
    pub to: Option<DateTime<Utc>>,
}

/// A count that stopped early: exact up to its cap, else only known to be above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Exact(u64),
    /// More than this many (the cap) match.
    MoreThan(u64),
}

/// Which ideas to list. `None` means every status.
#[derive(Debug, Clone, Default)]
pub struct IdeaFilter {
    pub status: Option<IdeaStatus>,
    pub tag: Option<String>,
    pub pillar: Option<String>,
}

/// Everything psn keeps. Methods that change a post take the post as it was read and
/// the post as it should become: the store writes only if nobody changed it in between
/// and the status change is one the status machine allows.
#[async_trait]
pub trait Store: SchedulerStore + AnalyticsStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
    /// Applies pending migrations; refuses a database migrated by a newer psn.
    async fn migrate(&self) -> StoreResult<MigrationStatus>;

    /// Inserts new posts in one transaction: all of them, or none.
    async fn insert_posts(&self, posts: &[Post], actor: &str) -> StoreResult<()>;
    async fn get_post(&self, id: &PostId) -> StoreResult<Post>;
    /// Writes `next` over `current` if `current.version` is still the stored version and
    /// `event` takes `current.status` to `next.status`; records the event in the audit log.
    async fn update_post(
        &self,
        current: &Post,
        next: &Post,
        event: PostEvent,
        actor: &str,
    ) -> StoreResult<Post>;
    /// Posts in time order (run time, else creation time), then by id.
    async fn list_posts(&self, filter: &PostFilter, page: &PageRequest) -> StoreResult<Page<Post>>;
    async fn count_posts(&self, filter: &PostFilter) -> StoreResult<u64>;
    /// Counts the posts `filter` matches but stops after `cap + 1` of them, so the cost is
    /// bounded however many match: `Exact(n)` with `n <= cap`, else `MoreThan(cap)`.
    async fn count_posts_capped(&self, filter: &PostFilter, cap: u64) -> StoreResult<Counted>;

    /// Inserts an account, or updates the one with the same platform and handle.
    async fn upsert_account(&self, account: &Account) -> StoreResult<Account>;
    async fn get_account(&self, id: &AccountId) -> StoreResult<Account>;
    async fn find_account(&self, platform: Platform, handle: &str) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;

    async fn insert_idea(&self, idea: &Idea) -> StoreResult<()>;
    /// Ideas, newest first.
    async fn list_ideas(&self, filter: &IdeaFilter, page: &PageRequest) -> StoreResult<Page<Idea>>;

    async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: serde_json::Value,
    ) -> StoreResult<()>;
    /// A thing's history, oldest first.
    async fn list_audit(&self, subject: &str, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}
