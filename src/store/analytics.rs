//! Analytics queries: metrics snapshots per post, each post's composite score and outlier
//! flag, an account's trailing average, and the opportunities psn has found (so one is
//! never returned as new twice). Written once for both databases, like [`super::sql`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::dialect::Dialect;
use super::rows::{POST_COLUMNS, PostRow};
use super::sql::{SqlStore, db_err};
use super::{StoreError, StoreResult};
use crate::domain::{AccountId, GroupId, Platform, Post, PostId};

/// One metrics snapshot of one post. Counters are `None` when the platform did not
/// report them (not the same as zero).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub post_id: PostId,
    pub collected_at: DateTime<Utc>,
    pub impressions: Option<i64>,
    pub likes: Option<i64>,
    pub replies: Option<i64>,
    pub reposts: Option<i64>,
    pub quotes: Option<i64>,
    pub bookmarks: Option<i64>,
    pub link_clicks: Option<i64>,
    /// The composite engagement score at collection time.
    pub score: f64,
    /// The platform's own fields.
    pub raw: serde_json::Value,
}

/// Which published posts to read.
#[derive(Debug, Clone, Default)]
pub struct PublishedFilter {
    pub post: Option<PostId>,
    pub group: Option<GroupId>,
    pub account: Option<AccountId>,
    pub platform: Option<Platform>,
    /// Published at or after.
    pub since: Option<DateTime<Utc>>,
    /// Published before.
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// A conversation found by `score_opportunities`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOpportunity {
    pub id: String,
    pub platform: Platform,
    pub platform_post_id: String,
    pub url: Option<String>,
    pub author_handle: Option<String>,
    pub text: String,
    pub score: f64,
    /// Factors, tier, reason and post details as JSON.
    pub breakdown: serde_json::Value,
    pub pillar: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[derive(FromRow)]
pub struct SnapshotRow {
    post_id: String,
    collected_at: DateTime<Utc>,
    impressions: Option<i64>,
    likes: Option<i64>,
    replies: Option<i64>,
    reposts: Option<i64>,
    quotes: Option<i64>,
    bookmarks: Option<i64>,
    link_clicks: Option<i64>,
    score: Option<f64>,
    raw: Json<serde_json::Value>,
}

const SNAPSHOT_COLUMNS: &str = "post_id, collected_at, impressions, likes, replies, reposts, quotes, \
    bookmarks, link_clicks, score, raw";

impl TryFrom<SnapshotRow> for Snapshot {
    type Error = StoreError;
    fn try_from(r: SnapshotRow) -> StoreResult<Snapshot> {
        Ok(Snapshot {
            post_id: PostId::parse(&r.post_id).map_err(|e| StoreError::Corrupt {
                what: "post id",
                detail: e.to_string(),
            })?,
            collected_at: r.collected_at,
            impressions: r.impressions,
            likes: r.likes,
            replies: r.replies,
            reposts: r.reposts,
            quotes: r.quotes,
            bookmarks: r.bookmarks,
            link_clicks: r.link_clicks,
            score: r.score.unwrap_or(0.0),
            raw: r.raw.0,
        })
    }
}

#[derive(FromRow)]
pub struct OpportunityRow {
    id: String,
    platform: String,
    platform_post_id: String,
    url: Option<String>,
    author_handle: Option<String>,
    text: String,
    score: f64,
    breakdown: Json<serde_json::Value>,
    pillar: Option<String>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

const OPPORTUNITY_COLUMNS: &str = "id, platform, platform_post_id, url, author_handle, text, score, \
    breakdown, pillar, first_seen_at, last_seen_at";

impl TryFrom<OpportunityRow> for StoredOpportunity {
    type Error = StoreError;
    fn try_from(r: OpportunityRow) -> StoreResult<StoredOpportunity> {
        Ok(StoredOpportunity {
            id: r.id,
            platform: super::rows::platform(&r.platform)?,
            platform_post_id: r.platform_post_id,
            url: r.url,
            author_handle: r.author_handle,
            text: r.text,
            score: r.score,
            breakdown: r.breakdown.0,
            pillar: r.pillar,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
        })
    }
}

#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    async fn insert_snapshot(&self, snapshot: &Snapshot) -> StoreResult<()>;
    /// A post's newest snapshots, newest first.
    async fn recent_snapshots(&self, post: &PostId, limit: u32) -> StoreResult<Vec<Snapshot>>;
    /// A post's snapshots collected at or after `since`, oldest first (for charts).
    async fn snapshot_history(
        &self,
        post: &PostId,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<Snapshot>>;
    /// Published posts with a platform id, oldest publication first.
    async fn published_posts(&self, filter: &PublishedFilter) -> StoreResult<Vec<Post>>;
    /// Writes a post's composite score and outlier flag (counts as a change: the
    /// version moves, so an editor holding the old row re-reads it).
    async fn set_post_score(&self, post: &PostId, score: f64, outlier: bool) -> StoreResult<()>;
    /// The average composite score of the account's other published posts since `since`,
    /// and how many there were. `account: None` = posts published without an account
    /// on that platform.
    async fn trailing_average(
        &self,
        platform: Platform,
        account: Option<&AccountId>,
        since: DateTime<Utc>,
        exclude: &PostId,
    ) -> StoreResult<(Option<f64>, u64)>;
    /// Inserts an opportunity, or refreshes score, breakdown and `last_seen_at` of the
    /// one already stored for the same platform post. Returns the stored row's id: the
    /// given one when it was new, the earlier one otherwise.
    async fn upsert_opportunity(&self, opportunity: &StoredOpportunity) -> StoreResult<String>;
    /// Which of these platform post ids are already stored.
    async fn seen_opportunities(
        &self,
        platform: Platform,
        platform_post_ids: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Opportunities first seen at or after `since`, best first.
    async fn list_opportunities(
        &self,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Vec<StoredOpportunity>>;
    /// How many opportunities were first seen at or after `since`.
    async fn count_opportunities_since(&self, since: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
impl<DB> AnalyticsStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: Encode<'q, DB> + Type<DB>,
    for<'r> PostRow: FromRow<'r, DB::Row>,
    for<'r> SnapshotRow: FromRow<'r, DB::Row>,
    for<'r> OpportunityRow: FromRow<'r, DB::Row>,
    for<'r> (Option<f64>, i64): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    async fn insert_snapshot(&self, s: &Snapshot) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO metrics (post_id, collected_at, impressions, likes, replies, reposts, quotes, \
             bookmarks, link_clicks, score, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(s.post_id.as_str().to_owned())
        .bind(s.collected_at)
        .bind(s.impressions)
        .bind(s.likes)
        .bind(s.replies)
        .bind(s.reposts)
        .bind(s.quotes)
        .bind(s.bookmarks)
        .bind(s.link_clicks)
        .bind(s.score)
        .bind(Json(s.raw.clone()))
        .execute(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok(())
    }

    async fn recent_snapshots(&self, post: &PostId, limit: u32) -> StoreResult<Vec<Snapshot>> {
        let sql = format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM metrics WHERE post_id = $1 \
             ORDER BY collected_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<SnapshotRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(post.as_str().to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        rows.into_iter().map(Snapshot::try_from).collect()
    }

    async fn snapshot_history(
        &self,
        post: &PostId,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<Snapshot>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM metrics WHERE post_id = "
        ));
        qb.push_bind(post.as_str().to_owned());
        if let Some(since) = since {
            qb.push(" AND collected_at >= ").push_bind(since);
        }
        qb.push(" ORDER BY collected_at, id LIMIT 10000");
        let rows: Vec<SnapshotRow> = qb
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        rows.into_iter().map(Snapshot::try_from).collect()
    }

    async fn published_posts(&self, f: &PublishedFilter) -> StoreResult<Vec<Post>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE status = 'published' AND platform_post_id IS NOT NULL"
        ));
        if let Some(p) = &f.post {
            qb.push(" AND id = ").push_bind(p.as_str().to_owned());
        }
        if let Some(g) = &f.group {
            qb.push(" AND group_id = ").push_bind(g.as_str().to_owned());
        }
        if let Some(a) = &f.account {
            qb.push(" AND account_id = ")
                .push_bind(a.as_str().to_owned());
        }
        if let Some(p) = f.platform {
            qb.push(" AND platform = ").push_bind(p.as_str().to_owned());
        }
        if let Some(t) = f.since {
            qb.push(" AND published_at >= ").push_bind(t);
        }
        if let Some(t) = f.until {
            qb.push(" AND published_at < ").push_bind(t);
        }
        qb.push(" ORDER BY published_at, id LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        let rows: Vec<PostRow> = qb
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        rows.into_iter().map(Post::try_from).collect()
    }

    async fn set_post_score(&self, post: &PostId, score: f64, outlier: bool) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE posts SET engagement_score = $1, is_outlier = $2, version = version + 1 WHERE id = $3",
        )
        .bind(score)
        .bind(outlier)
        .bind(post.as_str().to_owned())
        .execute(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::NotFound {
                kind: "post",
                id: post.to_string(),
            });
        }
        Ok(())
    }

    async fn trailing_average(
        &self,
        platform: Platform,
        account: Option<&AccountId>,
        since: DateTime<Utc>,
        exclude: &PostId,
    ) -> StoreResult<(Option<f64>, u64)> {
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT AVG(engagement_score), COUNT(engagement_score) FROM posts \
             WHERE status = 'published' AND engagement_score IS NOT NULL AND platform = ",
        );
        qb.push_bind(platform.as_str().to_owned());
        match account {
            Some(a) => {
                qb.push(" AND account_id = ")
                    .push_bind(a.as_str().to_owned());
            }
            None => {
                qb.push(" AND account_id IS NULL");
            }
        }
        qb.push(" AND published_at >= ").push_bind(since);
        qb.push(" AND id <> ")
            .push_bind(exclude.as_str().to_owned());
        let (avg, n): (Option<f64>, i64) = qb
            .build_query_as()
            .fetch_one(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        Ok((avg, n.max(0) as u64))
    }

    async fn upsert_opportunity(&self, o: &StoredOpportunity) -> StoreResult<String> {
        let (id,): (String,) = sqlx::query_as(
            "INSERT INTO opportunities (id, platform, platform_post_id, url, author_handle, text, score, \
             breakdown, pillar, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (platform, platform_post_id) DO UPDATE SET score = excluded.score, \
             breakdown = excluded.breakdown, last_seen_at = excluded.last_seen_at RETURNING id",
        )
        .bind(o.id.clone())
        .bind(o.platform.as_str().to_owned())
        .bind(o.platform_post_id.clone())
        .bind(o.url.clone())
        .bind(o.author_handle.clone())
        .bind(o.text.clone())
        .bind(o.score)
        .bind(Json(o.breakdown.clone()))
        .bind(o.pillar.clone())
        .bind(o.first_seen_at)
        .bind(o.last_seen_at)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok(id)
    }

    async fn seen_opportunities(
        &self,
        platform: Platform,
        ids: &[String],
    ) -> StoreResult<Vec<String>> {
        let mut seen = Vec::new();
        // Bounded IN lists keep both databases well under their parameter limits.
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::<DB>::new(
                "SELECT platform_post_id FROM opportunities WHERE platform = ",
            );
            qb.push_bind(platform.as_str().to_owned());
            qb.push(" AND platform_post_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.clone());
            }
            qb.push(")");
            let rows: Vec<(String,)> = qb
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .map_err(db_err::<DB>)?;
            seen.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(seen)
    }

    async fn list_opportunities(
        &self,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Vec<StoredOpportunity>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE TRUE"
        ));
        if let Some(t) = since {
            qb.push(" AND first_seen_at >= ").push_bind(t);
        }
        qb.push(" ORDER BY score DESC, first_seen_at DESC, id LIMIT ")
            .push_bind(i64::from(limit.max(1)));
        let rows: Vec<OpportunityRow> = qb
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        rows.into_iter().map(StoredOpportunity::try_from).collect()
    }

    async fn count_opportunities_since(&self, since: DateTime<Utc>) -> StoreResult<u64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM opportunities WHERE first_seen_at >= $1")
                .bind(since)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err::<DB>)?;
        Ok(n.max(0) as u64)
    }
}
