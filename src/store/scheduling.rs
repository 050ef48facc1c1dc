//! The scheduler's queries: claim, witness, fenced finish, lease sweeping, cron dedup
//! and liveness. See DESIGN.md "Scheduler": every write here is fenced by
//! `(id, locked_by, attempts, status = 'publishing')`, so an instance that lost its lease
//! can never overwrite what the new holder did.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{
    AssertSqlSafe, Decode, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type,
};
use tokio::sync::Notify;

use super::dialect::Dialect;
use super::rows::{POST_COLUMNS, PostRow};
use super::sql::{NewAudit, SqlStore, db_err, insert_audit, insert_audits};
use super::{StoreError, StoreResult};
use crate::domain::{AttemptId, Post, PostEvent, PostId, PostStatus, transition};

/// A post this instance holds a lease on, with the attempt it is making.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The post as claimed: `status = publishing`, `attempts` already counts this attempt.
    pub post: Post,
    pub attempt_id: AttemptId,
    pub instance: String,
}

/// How a publish attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Published {
        platform_post_id: String,
        url: Option<String>,
        at: DateTime<Utc>,
    },
    /// Certainly not delivered; try again at `run_at`.
    Retry {
        run_at: DateTime<Utc>,
        error: String,
    },
    /// Will not be published without a person acting.
    Failed { error: String },
    /// May have been delivered; reconcile before anything else.
    Unknown { error: String },
}

impl Finish {
    fn event(&self) -> PostEvent {
        match self {
            Finish::Published { .. } => PostEvent::PublishSucceeded,
            Finish::Retry { .. } => PostEvent::RetryableFailure,
            Finish::Failed { .. } => PostEvent::PermanentFailure,
            Finish::Unknown { .. } => PostEvent::OutcomeUnknown,
        }
    }

    fn attempt_status(&self) -> &'static str {
        match self {
            Finish::Published { .. } => "succeeded",
            Finish::Retry { .. } => "retryable",
            Finish::Failed { .. } => "failed",
            Finish::Unknown { .. } => "unknown",
        }
    }

    fn error(&self) -> Option<&str> {
        match self {
            Finish::Published { .. } => None,
            Finish::Retry { error, .. } | Finish::Failed { error } | Finish::Unknown { error } => {
                Some(error)
            }
        }
    }
}

/// One row of `publish_attempts`.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct PublishAttempt {
    pub id: String,
    pub attempt: i64,
    pub instance: String,
    /// in_flight, succeeded, retryable, failed, unknown, lease_lost, lease_expired
    pub status: String,
    pub claimed_at: DateTime<Utc>,
    pub request_sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub platform_post_id: Option<String>,
    pub error: Option<String>,
}

/// One row of `cron_runs`.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct CronRun {
    pub job: String,
    pub tick: DateTime<Utc>,
    pub instance: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub error: Option<String>,
}

/// A scheduler instance's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct InstanceBeat {
    pub instance: String,
    pub hostname: String,
    pub pid: i64,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
}

/// What the lease sweeper did to one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    pub post_id: PostId,
    pub to: PostStatus,
}

#[async_trait]
pub trait SchedulerStore: Send + Sync {
    /// Claims up to `limit` due scheduled posts in one statement and one transaction:
    /// sets `publishing`, counts the attempt, takes the lease, records an `in_flight`
    /// attempt, and gives each post its publish key (from `new_key`) if it has none.
    async fn claim_due(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        new_key: for<'p> fn(&'p Post) -> String,
    ) -> StoreResult<Vec<Lease>>;

    /// Records that the create request is about to be sent. `false`: the lease is lost
    /// or expired, and nothing may be sent.
    async fn witness(&self, lease: &Lease, now: DateTime<Utc>) -> StoreResult<bool> {
        let held = self.witness_many(std::slice::from_ref(lease), now).await?;
        Ok(held.first().copied().unwrap_or(false))
    }

    /// [`witness`](Self::witness) for several leases in one transaction (one durable
    /// commit): one answer per lease, in order.
    async fn witness_many(&self, leases: &[Lease], now: DateTime<Utc>) -> StoreResult<Vec<bool>>;

    /// Extends a lease while a long upload runs. `false`: the lease is lost.
    async fn renew(&self, lease: &Lease, now: DateTime<Utc>, extend: Duration)
    -> StoreResult<bool>;

    /// Ends the attempt with a fenced update. `None`: the lease was lost and nothing changed.
    async fn finish(
        &self,
        lease: &Lease,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Post>> {
        let done = [(lease.clone(), finish.clone())];
        Ok(self.finish_many(&done, now).await?.pop().flatten())
    }

    /// [`finish`](Self::finish) for several attempts in one transaction (one durable
    /// commit): one answer per attempt, in order. An attempt already finished is left
    /// as it is (`None`), so a batch retried after an unclear commit changes nothing twice.
    async fn finish_many(
        &self,
        done: &[(Lease, Finish)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<Post>>>;

    /// Takes back expired leases: no request witnessed → scheduled; witnessed → needs_reconcile.
    async fn sweep_expired(&self, instance: &str, now: DateTime<Utc>) -> StoreResult<Vec<Swept>>;

    /// Takes a lease on posts awaiting reconciliation (their status stays `needs_reconcile`)
    /// that have waited at least `settle` since their last change, so a platform that
    /// shows new posts with a delay has shown them by the time psn asks.
    async fn claim_reconcile(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        lease: Duration,
        settle: Duration,
        limit: u32,
    ) -> StoreResult<Vec<Post>>;

    /// The earliest time something will need the scheduler: a scheduled post's run time,
    /// a lease's expiry, or a post awaiting reconciliation becoming ready (`settle` after
    /// its last change).
    async fn next_wake(&self, settle: Duration) -> StoreResult<Option<DateTime<Utc>>>;

    /// A post's publish attempts, oldest first.
    async fn list_attempts(&self, post: &PostId) -> StoreResult<Vec<PublishAttempt>>;

    /// Inserts `(job, tick)`; `true` only for the one instance whose insert won.
    async fn try_start_cron(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        instance: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn finish_cron(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn list_cron_runs(&self, job: &str, limit: u32) -> StoreResult<Vec<CronRun>>;

    async fn heartbeat(&self, beat: &InstanceBeat) -> StoreResult<()>;
    async fn list_instances(&self) -> StoreResult<Vec<InstanceBeat>>;

    /// Notified when a post may have become due; starts the cross-process listener
    /// (Postgres LISTEN) on first use.
    fn wake_signal(&self) -> Arc<Notify>;
}

#[async_trait]
impl<DB> SchedulerStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> Option<DateTime<Utc>>: Decode<'r, DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: Encode<'q, DB> + Type<DB>,
    for<'r> PostRow: FromRow<'r, DB::Row>,
    for<'r> PublishAttempt: FromRow<'r, DB::Row>,
    for<'r> CronRun: FromRow<'r, DB::Row>,
    for<'r> InstanceBeat: FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (String, i64, Option<DateTime<Utc>>): FromRow<'r, DB::Row>,
    for<'r> (Option<DateTime<Utc>>, Option<DateTime<Utc>>): FromRow<'r, DB::Row>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn claim_due(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        new_key: for<'p> fn(&'p Post) -> String,
    ) -> StoreResult<Vec<Lease>> {
        let to = transition(PostStatus::Scheduled, PostEvent::Claim)?;
        let lease_until = now + lease;
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(db_err::<DB>)?;
        Self::run_opt(&mut tx, DB::RELAXED_COMMIT).await?;
        let sql = format!(
            "UPDATE posts SET status = $1, attempts = attempts + 1, locked_by = $2, lease_until = $3, \
             version = version + 1, updated_at = $4 \
             WHERE status = 'scheduled' AND id IN (SELECT id FROM posts WHERE status = 'scheduled' AND run_at <= $4 \
             ORDER BY run_at, id LIMIT $5{}) RETURNING {POST_COLUMNS}",
            DB::SKIP_LOCKED
        );
        let rows: Vec<PostRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(to.as_str().to_owned())
            .bind(instance.to_owned())
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
        // Keys, attempts and audit entries for the whole batch: three statements, not
        // three per post.
        let mut leases = Vec::with_capacity(rows.len());
        let mut new_keys = Vec::new();
        for row in rows {
            let mut post = Post::try_from(row)?;
            if post.publish_key.is_none() {
                let key = new_key(&post);
                new_keys.push((post.id.as_str().to_owned(), key.clone()));
                post.publish_key = Some(key);
            }
            leases.push(Lease {
                post,
                attempt_id: AttemptId::new(),
                instance: instance.to_owned(),
            });
        }
        if leases.is_empty() {
            tx.commit().await.map_err(db_err::<DB>)?;
            return Ok(leases);
        }
        if !new_keys.is_empty() {
            let mut qb = QueryBuilder::<DB>::new("UPDATE posts SET publish_key = CASE id");
            for (id, key) in &new_keys {
                qb.push(" WHEN ").push_bind(id.clone());
                qb.push(" THEN ").push_bind(key.clone());
            }
            qb.push(" END WHERE id IN (");
            let mut ids = qb.separated(", ");
            for (id, _) in new_keys {
                ids.push_bind(id);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await.map_err(db_err::<DB>)?;
        }
        let mut qb = QueryBuilder::<DB>::new(
            "INSERT INTO publish_attempts (id, post_id, attempt, instance, status, claimed_at) ",
        );
        qb.push_values(&leases, |mut row, l| {
            row.push_bind(l.attempt_id.as_str().to_owned())
                .push_bind(l.post.id.as_str().to_owned())
                .push_bind(l.post.attempts)
                .push_bind(instance.to_owned())
                .push("'in_flight'")
                .push_bind(now);
        });
        qb.build().execute(&mut *tx).await.map_err(db_err::<DB>)?;
        let audits = leases
            .iter()
            .map(|l| NewAudit {
                action: "claim".into(),
                subject: l.post.id.as_str().to_owned(),
                detail: serde_json::json!({ "from": "scheduled", "to": to, "attempt": l.post.attempts, "lease_until": lease_until }),
            })
            .collect();
        insert_audits::<DB>(&mut tx, instance, audits).await?;
        tx.commit().await.map_err(db_err::<DB>)?;
        Ok(leases)
    }

    async fn witness_many(&self, leases: &[Lease], now: DateTime<Utc>) -> StoreResult<Vec<bool>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        // The one commit that must reach the disk before a request goes out.
        let [before, inside, after] = DB::DURABLE_COMMIT;
        let mut conn = self.pool.acquire().await.map_err(db_err::<DB>)?;
        Self::run_opt(&mut conn, before).await?;
        let held = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, DB::BEGIN_WRITE)
                .await
                .map_err(db_err::<DB>)?;
            Self::run_opt(&mut tx, inside).await?;
            // Touch each post under the fence (and an unexpired lease) so a concurrent sweeper
            // either sees the witness or has already taken the post back.
            let fence = (0..leases.len())
                .map(|i| {
                    let n = 3 * i + 2;
                    format!("(id = ${n} AND locked_by = ${} AND attempts = ${})", n + 1, n + 2)
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!(
                "UPDATE posts SET updated_at = $1 WHERE status = 'publishing' AND lease_until > $1 \
                 AND ({fence}) RETURNING id"
            );
            let mut touch = sqlx::query_as::<DB, (String,)>(AssertSqlSafe(sql)).bind(now);
            for lease in leases {
                touch = touch
                    .bind(lease.post.id.as_str().to_owned())
                    .bind(lease.instance.clone())
                    .bind(lease.post.attempts);
            }
            let touched: HashSet<String> = touch
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err::<DB>)?
                .into_iter()
                .map(|(id,)| id)
                .collect();
            let held: Vec<bool> = leases
                .iter()
                .map(|l| touched.contains(l.post.id.as_str()))
                .collect();
            let sent: Vec<&Lease> = leases
                .iter()
                .zip(&held)
                .filter_map(|(l, h)| h.then_some(l))
                .collect();
            if !sent.is_empty() {
                let ids = (0..sent.len())
                    .map(|i| format!("${}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "UPDATE publish_attempts SET request_sent_at = COALESCE(request_sent_at, $1) WHERE id IN ({ids})"
                );
                let mut mark = sqlx::query(AssertSqlSafe(sql)).bind(now);
                for lease in sent {
                    mark = mark.bind(lease.attempt_id.as_str().to_owned());
                }
                mark.execute(&mut *tx).await.map_err(db_err::<DB>)?;
            }
            tx.commit().await.map_err(db_err::<DB>)?;
            Ok(held)
        }
        .await;
        // A connection left at the stricter level only costs speed; closing it tidies up.
        if let Err(e) = Self::run_opt(&mut conn, after).await {
            tracing::warn!(error = %e, "could not restore the connection's commit mode; closing it");
            conn.close_on_drop();
        }
        held
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        extend: Duration,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE posts SET lease_until = $1 WHERE id = $2 AND locked_by = $3 AND attempts = $4 \
             AND status = 'publishing' AND lease_until > $5",
        )
        .bind(now + extend)
        .bind(lease.post.id.as_str().to_owned())
        .bind(lease.instance.clone())
        .bind(lease.post.attempts)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok(rows_affected::<DB>(done) == 1)
    }

    async fn finish_many(
        &self,
        done: &[(Lease, Finish)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<Post>>> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(db_err::<DB>)?;
        Self::run_opt(&mut tx, DB::RELAXED_COMMIT).await?;
        let sql = format!(
            "UPDATE posts SET status = $1, run_at = $2, locked_by = NULL, lease_until = NULL, \
             platform_post_id = COALESCE($3, platform_post_id), platform_url = COALESCE($4, platform_url), \
             published_at = COALESCE($5, published_at), last_error = $6, version = version + 1, updated_at = $7 \
             WHERE id = $8 AND locked_by = $9 AND attempts = $10 AND status = 'publishing' RETURNING {POST_COLUMNS}"
        );
        let mut out = Vec::with_capacity(done.len());
        let mut due_able = false;
        let mut audits: BTreeMap<&str, Vec<NewAudit>> = BTreeMap::new();
        for (lease, finish) in done {
            let event = finish.event();
            let to = transition(PostStatus::Publishing, event)?;
            let (platform_id, url, published_at) = match finish {
                Finish::Published {
                    platform_post_id,
                    url,
                    at,
                } => (Some(platform_post_id.clone()), url.clone(), Some(*at)),
                _ => (None, None, None),
            };
            let run_at = match finish {
                Finish::Retry { run_at, .. } => Some(*run_at),
                _ => lease.post.run_at,
            };
            let row: Option<PostRow> = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(to.as_str().to_owned())
                .bind(run_at)
                .bind(platform_id.clone())
                .bind(url)
                .bind(published_at)
                .bind(finish.error().map(str::to_owned))
                .bind(now)
                .bind(lease.post.id.as_str().to_owned())
                .bind(lease.instance.clone())
                .bind(lease.post.attempts)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err::<DB>)?;
            let attempt_status = if row.is_some() {
                finish.attempt_status()
            } else {
                "lease_lost"
            };
            // Not an attempt a finish already ended: a second finish of the same attempt
            // (a batch retried after a commit whose answer was lost) changes nothing. A
            // late finish after the sweeper's still records what the holder learned.
            sqlx::query(
                "UPDATE publish_attempts SET status = $1, finished_at = $2, platform_post_id = $3, error = $4 \
                 WHERE id = $5 AND status IN ('in_flight', 'lease_expired')",
            )
            .bind(attempt_status.to_owned())
            .bind(now)
            .bind(platform_id)
            .bind(finish.error().map(str::to_owned))
            .bind(lease.attempt_id.as_str().to_owned())
            .execute(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
            let Some(row) = row else {
                out.push(None);
                continue;
            };
            let post = Post::try_from(row)?;
            let mut detail = serde_json::json!({ "from": "publishing", "to": to, "attempt": lease.post.attempts });
            if let Some(e) = finish.error() {
                detail["error"] = e.into();
            }
            if let Finish::Retry { run_at, .. } = finish {
                detail["run_at"] = serde_json::json!(run_at);
            }
            audits
                .entry(lease.instance.as_str())
                .or_default()
                .push(NewAudit {
                    action: event.name().to_owned(),
                    subject: post.id.as_str().to_owned(),
                    detail,
                });
            due_able |= to == PostStatus::Scheduled;
            out.push(Some(post));
        }
        for (actor, entries) in audits {
            insert_audits::<DB>(&mut tx, actor, entries).await?;
        }
        if due_able {
            Self::notify_in_tx(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err::<DB>)?;
        if due_able {
            self.wake_local();
        }
        Ok(out)
    }

    async fn sweep_expired(&self, instance: &str, now: DateTime<Utc>) -> StoreResult<Vec<Swept>> {
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(db_err::<DB>)?;
        let sql = format!(
            "SELECT p.id, p.attempts, a.request_sent_at FROM posts p \
             LEFT JOIN publish_attempts a ON a.post_id = p.id AND a.attempt = p.attempts \
             WHERE p.status = 'publishing' AND p.lease_until <= $1 ORDER BY p.lease_until LIMIT 500{}",
            if DB::SKIP_LOCKED.is_empty() {
                ""
            } else {
                " FOR UPDATE OF p SKIP LOCKED"
            }
        );
        let expired: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
        let mut swept = Vec::new();
        let mut due_able = false;
        for (id, attempts, sent) in expired {
            let event = PostEvent::LeaseExpired {
                request_sent: sent.is_some(),
            };
            let to = transition(PostStatus::Publishing, event)?;
            let error = if sent.is_some() {
                "the scheduler stopped after sending the publish request; psn will ask the platform whether the post exists"
            } else {
                "the scheduler stopped before sending the publish request; the post will be tried again"
            };
            let done = sqlx::query(
                "UPDATE posts SET status = $1, locked_by = NULL, lease_until = NULL, last_error = $2, \
                 version = version + 1, updated_at = $3 \
                 WHERE id = $4 AND attempts = $5 AND status = 'publishing' AND lease_until <= $3",
            )
            .bind(to.as_str().to_owned())
            .bind(error.to_owned())
            .bind(now)
            .bind(id.clone())
            .bind(attempts)
            .execute(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
            if rows_affected::<DB>(done) == 0 {
                continue;
            }
            sqlx::query(
                "UPDATE publish_attempts SET status = 'lease_expired', finished_at = $1, error = $2 \
                 WHERE post_id = $3 AND attempt = $4 AND status = 'in_flight'",
            )
            .bind(now)
            .bind(error.to_owned())
            .bind(id.clone())
            .bind(attempts)
            .execute(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
            let detail = serde_json::json!({ "from": "publishing", "to": to, "attempt": attempts, "request_sent": sent.is_some() });
            insert_audit::<DB>(&mut tx, instance, event.name(), &id, detail).await?;
            due_able |= to == PostStatus::Scheduled;
            let post_id = PostId::parse(&id).map_err(|e| StoreError::Corrupt {
                what: "post id",
                detail: e.to_string(),
            })?;
            swept.push(Swept { post_id, to });
        }
        if due_able {
            Self::notify_in_tx(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err::<DB>)?;
        if due_able {
            self.wake_local();
        }
        Ok(swept)
    }

    async fn claim_reconcile(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        lease: Duration,
        settle: Duration,
        limit: u32,
    ) -> StoreResult<Vec<Post>> {
        let sql = format!(
            "UPDATE posts SET locked_by = $1, lease_until = $2, version = version + 1, updated_at = $3 \
             WHERE status = 'needs_reconcile' AND id IN (SELECT id FROM posts WHERE status = 'needs_reconcile' \
             AND (lease_until IS NULL OR lease_until <= $3) AND updated_at <= $5 ORDER BY updated_at, id LIMIT $4{}) \
             RETURNING {POST_COLUMNS}",
            DB::SKIP_LOCKED
        );
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(db_err::<DB>)?;
        let rows: Vec<PostRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(instance.to_owned())
            .bind(now + lease)
            .bind(now)
            .bind(i64::from(limit))
            .bind(now - settle)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
        tx.commit().await.map_err(db_err::<DB>)?;
        rows.into_iter().map(Post::try_from).collect()
    }

    async fn next_wake(&self, settle: Duration) -> StoreResult<Option<DateTime<Utc>>> {
        let (leased, unleased): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT (SELECT min(t) FROM (\
               SELECT min(run_at) AS t FROM posts WHERE status = 'scheduled' \
               UNION ALL SELECT min(lease_until) FROM posts WHERE status IN ('publishing', 'needs_reconcile')) AS w), \
             (SELECT min(updated_at) FROM posts WHERE status = 'needs_reconcile' AND lease_until IS NULL)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok([leased, unleased.map(|t| t + settle)]
            .into_iter()
            .flatten()
            .min())
    }

    async fn list_attempts(&self, post: &PostId) -> StoreResult<Vec<PublishAttempt>> {
        sqlx::query_as(
            "SELECT id, attempt, instance, status, claimed_at, request_sent_at, finished_at, platform_post_id, error \
             FROM publish_attempts WHERE post_id = $1 ORDER BY attempt",
        )
        .bind(post.as_str().to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err::<DB>)
    }

    async fn try_start_cron(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        instance: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO cron_runs (job, tick, instance, started_at, status) VALUES ($1, $2, $3, $4, 'running') \
             ON CONFLICT (job, tick) DO NOTHING",
        )
        .bind(job.to_owned())
        .bind(tick)
        .bind(instance.to_owned())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok(rows_affected::<DB>(done) == 1)
    }

    async fn finish_cron(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (status, error) = match result {
            Ok(()) => ("succeeded", None),
            Err(e) => ("failed", Some(e)),
        };
        sqlx::query("UPDATE cron_runs SET finished_at = $1, status = $2, error = $3 WHERE job = $4 AND tick = $5")
            .bind(now)
            .bind(status.to_owned())
            .bind(error)
            .bind(job.to_owned())
            .bind(tick)
            .execute(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        Ok(())
    }

    async fn list_cron_runs(&self, job: &str, limit: u32) -> StoreResult<Vec<CronRun>> {
        sqlx::query_as(
            "SELECT job, tick, instance, started_at, finished_at, status, error FROM cron_runs \
             WHERE job = $1 ORDER BY tick DESC LIMIT $2",
        )
        .bind(job.to_owned())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err::<DB>)
    }

    async fn heartbeat(&self, b: &InstanceBeat) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO scheduler_instances (instance, hostname, pid, version, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instance) DO UPDATE SET hostname = excluded.hostname, \
             pid = excluded.pid, version = excluded.version, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at",
        )
        .bind(b.instance.clone())
        .bind(b.hostname.clone())
        .bind(b.pid)
        .bind(b.version.clone())
        .bind(b.started_at)
        .bind(b.heartbeat_at)
        .execute(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok(())
    }

    async fn list_instances(&self) -> StoreResult<Vec<InstanceBeat>> {
        sqlx::query_as(
            "SELECT instance, hostname, pid, version, started_at, heartbeat_at FROM scheduler_instances \
             ORDER BY heartbeat_at DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err::<DB>)
    }

    fn wake_signal(&self) -> Arc<Notify> {
        self.listener_started
            .call_once(|| DB::spawn_listener(&self.pool, self.wake.clone()));
        self.wake.clone()
    }
}

fn rows_affected<DB: Dialect>(result: DB::QueryResult) -> u64 {
    DB::rows_affected(&result)
}
