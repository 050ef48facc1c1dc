//! The one implementation of [`Store`], generic over the database. The SQL here is
//! written to mean the same on Postgres and SQLite; what cannot be is in [`Dialect`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, FromRow, IntoArguments, Pool,
    QueryBuilder, Type,
};
use tokio::sync::Notify;

use super::dialect::Dialect;
use super::page::{Cursor, Page, PageRequest};
use super::rows::{
    ACCOUNT_COLUMNS, AccountRow, AuditRow, IDEA_COLUMNS, IdeaRow, POST_COLUMNS, PostRow,
};
use super::{
    Backend, Counted, IdeaFilter, MigrationStatus, PostFilter, Store, StoreError, StoreResult,
};
use crate::domain::{
    Account, AccountId, AuditEntry, Idea, Platform, Post, PostContent, PostEvent, PostId,
    PostStatus, now, transition,
};

/// A store on a sqlx pool of any [`Dialect`].
pub struct SqlStore<DB: Dialect> {
    pub(super) pool: Pool<DB>,
    /// Woken when a post becomes due-able in this process; on Postgres a LISTEN task
    /// also forwards other processes' NOTIFYs here.
    pub(super) wake: Arc<Notify>,
    pub(super) listener_started: std::sync::Once,
}

impl<DB: Dialect> SqlStore<DB> {
    pub fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            wake: Arc::new(Notify::new()),
            listener_started: std::sync::Once::new(),
        }
    }

    /// Tells schedulers, here and (on Postgres) in other processes, that a post may be due.
    /// Call inside the transaction that made it so; `wake_local` after the commit.
    pub(super) async fn notify_in_tx(conn: &mut DB::Connection) -> StoreResult<()>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
    {
        Self::run_opt(conn, DB::NOTIFY_SQL).await
    }

    /// Runs one of the dialect's optional statements (`None`: nothing to do here).
    pub(super) async fn run_opt(
        conn: &mut DB::Connection,
        sql: Option<&'static str>,
    ) -> StoreResult<()>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
    {
        if let Some(sql) = sql {
            sqlx::query(sql).execute(conn).await.map_err(db_err::<DB>)?;
        }
        Ok(())
    }

    pub(super) fn wake_local(&self) {
        self.wake.notify_one();
    }
}

pub(super) fn db_err<DB: Dialect>(e: sqlx::Error) -> StoreError {
    StoreError::from_sqlx(DB::BACKEND.name(), e)
}

/// Appends the filter's conditions (after a `WHERE TRUE`).
fn push_post_filter<DB: Dialect>(qb: &mut QueryBuilder<DB>, f: &PostFilter)
where
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    if !f.statuses.is_empty() {
        // Statuses are inlined as literals from a closed enum, so the planner can match
        // them against the partial indexes.
        let list: Vec<String> = f
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        qb.push(format!(" AND status IN ({})", list.join(", ")));
    }
    if let Some(p) = f.platform {
        qb.push(" AND platform = ").push_bind(p.as_str().to_owned());
    }
    if let Some(a) = &f.account {
        qb.push(" AND account_id = ")
            .push_bind(a.as_str().to_owned());
    }
    if let Some(g) = &f.group {
        qb.push(" AND group_id = ").push_bind(g.as_str().to_owned());
    }
    if let Some(from) = f.from {
        qb.push(" AND sort_at >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        qb.push(" AND sort_at < ").push_bind(to);
    }
}

fn next_cursor<T>(items: &mut Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Option<String> {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| key(last).encode())
    } else {
        None
    }
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<f64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Json<PostContent>: Encode<'q, DB> + Type<DB>,
    for<'q> Json<Vec<String>>: Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: Encode<'q, DB> + Type<DB>,
    for<'r> PostRow: FromRow<'r, DB::Row>,
    for<'r> AccountRow: FromRow<'r, DB::Row>,
    for<'r> IdeaRow: FromRow<'r, DB::Row>,
    for<'r> AuditRow: FromRow<'r, DB::Row>,
    usize: ColumnIndex<DB::Row>,
    SqlStore<DB>: super::SchedulerStore,
    SqlStore<DB>: super::AnalyticsStore,
{
    fn backend(&self) -> Backend {
        DB::BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        Ok(())
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        Ok(MigrationStatus {
            applied: DB::applied_migrations(&self.pool).await?,
            known: DB::known_migrations(),
        })
    }

    async fn migrate(&self) -> StoreResult<MigrationStatus> {
        let before = self.migration_status().await?;
        let unknown = before.unknown();
        if let Some(&found) = unknown.iter().max() {
            return Err(StoreError::SchemaTooNew {
                found,
                known: before.known.last().copied().unwrap_or(0),
            });
        }
        if !before.pending().is_empty() {
            DB::run_migrations(&self.pool).await?;
        }
        self.migration_status().await
    }

    async fn insert_posts(&self, posts: &[Post], actor: &str) -> StoreResult<()> {
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(db_err::<DB>)?;
        for p in posts {
            sqlx::query(
                "INSERT INTO posts (id, group_id, platform, account_id, status, content, content_hash, \
                 scheduled_at, schedule_tz, run_at, attempts, max_attempts, publish_key, created_by, version, \
                 created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            )
            .bind(p.id.as_str().to_owned())
            .bind(p.group_id.as_str().to_owned())
            .bind(p.platform.as_str().to_owned())
            .bind(p.account_id.as_ref().map(|a| a.as_str().to_owned()))
            .bind(p.status.as_str().to_owned())
            .bind(Json(p.content.clone()))
            .bind(p.content_hash.clone())
            .bind(p.scheduled_at)
            .bind(p.schedule_tz.clone())
            .bind(p.run_at)
            .bind(p.attempts)
            .bind(p.max_attempts)
            .bind(p.publish_key.clone())
            .bind(p.created_by.clone())
            .bind(p.version)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
            insert_audit::<DB>(
                &mut tx,
                actor,
                "create",
                p.id.as_str(),
                serde_json::json!({ "group": p.group_id, "platform": p.platform, "status": p.status }),
            )
            .await?;
        }
        let due_able = posts.iter().any(|p| p.status == PostStatus::Scheduled);
        if due_able {
            Self::notify_in_tx(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err::<DB>)?;
        if due_able {
            self.wake_local();
        }
        Ok(())
    }

    async fn get_post(&self, id: &PostId) -> StoreResult<Post> {
        let sql = format!("SELECT {POST_COLUMNS} FROM posts WHERE id = $1");
        let row: Option<PostRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        row.ok_or_else(|| StoreError::NotFound {
            kind: "post",
            id: id.to_string(),
        })?
        .try_into()
    }

    async fn update_post(
        &self,
        current: &Post,
        next: &Post,
        event: PostEvent,
        actor: &str,
    ) -> StoreResult<Post> {
        if current.id != next.id {
            return Err(StoreError::Database(format!(
                "update of {} was handed post {}",
                current.id, next.id
            )));
        }
        let to = transition(current.status, event)?;
        if to != next.status {
            return Err(StoreError::Database(format!(
                "{} --{}--> {} is not {}: the caller built the post wrong",
                current.status,
                event.name(),
                to,
                next.status
            )));
        }
        let at = now();
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(db_err::<DB>)?;
        let sql = format!(
            "UPDATE posts SET status = $1, content = $2, content_hash = $3, scheduled_at = $4, schedule_tz = $5, \
             run_at = $6, attempts = $7, max_attempts = $8, locked_by = $9, lease_until = $10, publish_key = $11, \
             platform_post_id = $12, platform_url = $13, published_at = $14, last_error = $15, \
             approval_hash = $16, approved_by = $17, approved_at = $18, engagement_score = $19, \
             is_outlier = $20, account_id = $21, version = version + 1, updated_at = $22 \
             WHERE id = $23 AND version = $24 AND status = $25 RETURNING {POST_COLUMNS}"
        );
        let row: Option<PostRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(next.status.as_str().to_owned())
            .bind(Json(next.content.clone()))
            .bind(next.content_hash.clone())
            .bind(next.scheduled_at)
            .bind(next.schedule_tz.clone())
            .bind(next.run_at)
            .bind(next.attempts)
            .bind(next.max_attempts)
            .bind(next.locked_by.clone())
            .bind(next.lease_until)
            .bind(next.publish_key.clone())
            .bind(next.platform_post_id.clone())
            .bind(next.platform_url.clone())
            .bind(next.published_at)
            .bind(next.last_error.clone())
            .bind(next.approval_hash.clone())
            .bind(next.approved_by.clone())
            .bind(next.approved_at)
            .bind(next.engagement_score)
            .bind(next.is_outlier)
            .bind(next.account_id.as_ref().map(|a| a.as_str().to_owned()))
            .bind(at)
            .bind(current.id.as_str().to_owned())
            .bind(current.version)
            .bind(current.status.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err::<DB>)?;
        let Some(row) = row else {
            let exists: Option<i64> = sqlx::query_scalar("SELECT version FROM posts WHERE id = $1")
                .bind(current.id.as_str().to_owned())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err::<DB>)?;
            return Err(match exists {
                Some(_) => StoreError::Conflict {
                    kind: "post",
                    id: current.id.to_string(),
                },
                None => StoreError::NotFound {
                    kind: "post",
                    id: current.id.to_string(),
                },
            });
        };
        let updated: Post = row.try_into()?;
        let mut detail = serde_json::json!({ "from": current.status, "to": updated.status, "version": updated.version });
        if let Some(err) = updated
            .last_error
            .as_ref()
            .filter(|_| updated.status != current.status)
        {
            detail["error"] = serde_json::Value::String(err.clone());
        }
        insert_audit::<DB>(&mut tx, actor, event.name(), updated.id.as_str(), detail).await?;
        let due_able = updated.status == PostStatus::Scheduled;
        if due_able {
            Self::notify_in_tx(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err::<DB>)?;
        if due_able {
            self.wake_local();
        }
        Ok(updated)
    }

    async fn list_posts(&self, filter: &PostFilter, page: &PageRequest) -> StoreResult<Page<Post>> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let mut qb =
            QueryBuilder::<DB>::new(format!("SELECT {POST_COLUMNS} FROM posts WHERE TRUE"));
        push_post_filter(&mut qb, filter);
        if let Some(after) = &page.after {
            qb.push(" AND (sort_at, id) > (")
                .push_bind(after.at)
                .push(", ")
                .push_bind(after.id.clone())
                .push(")");
        }
        qb.push(" ORDER BY sort_at, id LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows: Vec<PostRow> = qb
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        let mut items = rows
            .into_iter()
            .map(Post::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = next_cursor(&mut items, limit, |p: &Post| Cursor {
            at: p.sort_at(),
            id: p.id.to_string(),
        });
        Ok(Page { items, next_cursor })
    }

    async fn count_posts(&self, filter: &PostFilter) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<DB>::new("SELECT count(*) FROM posts WHERE TRUE");
        push_post_filter(&mut qb, filter);
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        Ok(n.max(0) as u64)
    }

    async fn count_posts_capped(&self, filter: &PostFilter, cap: u64) -> StoreResult<Counted> {
        // The inner LIMIT stops the scan after cap + 1 rows; the outer count is then cheap.
        // The limit is a literal (a number, not input), so Postgres plans for it rather than
        // for an unknown parameter once it switches to a generic plan.
        let mut qb =
            QueryBuilder::<DB>::new("SELECT count(*) FROM (SELECT 1 FROM posts WHERE TRUE");
        push_post_filter(&mut qb, filter);
        let limit = cap.saturating_add(1).min(i64::MAX as u64);
        qb.push(format!(" LIMIT {limit}) AS capped"));
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        let n = n.max(0) as u64;
        Ok(if n > cap {
            Counted::MoreThan(cap)
        } else {
            Counted::Exact(n)
        })
    }

    async fn upsert_account(&self, a: &Account) -> StoreResult<Account> {
        let sql = format!(
            "INSERT INTO accounts (id, platform, handle, display_name, platform_user_id, server_url, credentials, \
             key_id, token_expires_at, scopes, status, last_error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (platform, handle) DO UPDATE SET display_name = excluded.display_name, \
             platform_user_id = excluded.platform_user_id, server_url = excluded.server_url, \
             credentials = excluded.credentials, key_id = excluded.key_id, \
             token_expires_at = excluded.token_expires_at, scopes = excluded.scopes, status = excluded.status, \
             last_error = excluded.last_error, updated_at = excluded.updated_at \
             RETURNING {ACCOUNT_COLUMNS}"
        );
        let row: AccountRow = sqlx::query_as(AssertSqlSafe(sql))
            .bind(a.id.as_str().to_owned())
            .bind(a.platform.as_str().to_owned())
            .bind(a.handle.clone())
            .bind(a.display_name.clone())
            .bind(a.platform_user_id.clone())
            .bind(a.server_url.clone())
            .bind(a.credentials.as_ref().map(|s| s.ciphertext.clone()))
            .bind(a.credentials.as_ref().map(|s| s.key_id.clone()))
            .bind(a.token_expires_at)
            .bind(a.scopes.clone())
            .bind(a.status.as_str().to_owned())
            .bind(a.last_error.clone())
            .bind(a.created_at)
            .bind(a.updated_at)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        row.try_into()
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row: Option<AccountRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        row.ok_or_else(|| StoreError::NotFound {
            kind: "account",
            id: id.to_string(),
        })?
        .try_into()
    }

    async fn find_account(&self, platform: Platform, handle: &str) -> StoreResult<Option<Account>> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE platform = $1 AND handle = $2");
        let row: Option<AccountRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(platform.as_str().to_owned())
            .bind(handle.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        row.map(Account::try_from).transpose()
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY platform, handle");
        let rows: Vec<AccountRow> = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        rows.into_iter().map(Account::try_from).collect()
    }

    async fn insert_idea(&self, idea: &Idea) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ideas (id, text, tags, pillar, source, status, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(idea.id.as_str().to_owned())
        .bind(idea.text.clone())
        .bind(Json(idea.tags.clone()))
        .bind(idea.pillar.clone())
        .bind(idea.source.clone())
        .bind(idea.status.as_str().to_owned())
        .bind(idea.created_by.clone())
        .bind(idea.created_at)
        .bind(idea.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok(())
    }

    async fn list_ideas(&self, filter: &IdeaFilter, page: &PageRequest) -> StoreResult<Page<Idea>> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let mut qb =
            QueryBuilder::<DB>::new(format!("SELECT {IDEA_COLUMNS} FROM ideas WHERE TRUE"));
        if let Some(status) = filter.status {
            qb.push(" AND status = ")
                .push_bind(status.as_str().to_owned());
        }
        if let Some(pillar) = &filter.pillar {
            qb.push(" AND pillar = ").push_bind(pillar.clone());
        }
        if let Some(tag) = &filter.tag {
            // Tags are a JSON array of strings; its text holds each tag as a JSON string.
            let needle = serde_json::Value::String(tag.clone()).to_string();
            qb.push(" AND CAST(tags AS TEXT) LIKE ")
                .push_bind(format!("%{}%", escape_like(&needle)))
                .push(" ESCAPE '\\'");
        }
        if let Some(after) = &page.after {
            qb.push(" AND (created_at, id) < (")
                .push_bind(after.at)
                .push(", ")
                .push_bind(after.id.clone())
                .push(")");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows: Vec<IdeaRow> = qb
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err::<DB>)?;
        let mut items = rows
            .into_iter()
            .map(Idea::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = next_cursor(&mut items, limit, |i: &Idea| Cursor {
            at: i.created_at,
            id: i.id.to_string(),
        });
        Ok(Page { items, next_cursor })
    }

    async fn append_audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db_err::<DB>)?;
        insert_audit::<DB>(&mut conn, actor, action, subject, detail).await
    }

    async fn list_audit(&self, subject: &str, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE subject = $1 ORDER BY id LIMIT $2",
        )
        .bind(subject.to_owned())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err::<DB>)?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}

pub(super) async fn insert_audit<DB>(
    conn: &mut DB::Connection,
    actor: &str,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: Encode<'q, DB> + Type<DB>,
{
    let entry = NewAudit {
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail,
    };
    insert_audits::<DB>(conn, actor, vec![entry]).await
}

/// One audit entry of a batch written by one actor.
pub(super) struct NewAudit {
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// Several audit entries in one statement (a batch of claims or finishes).
pub(super) async fn insert_audits<DB>(
    conn: &mut DB::Connection,
    actor: &str,
    entries: Vec<NewAudit>,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: Encode<'q, DB> + Type<DB>,
{
    if entries.is_empty() {
        return Ok(());
    }
    let at = now();
    let mut qb =
        QueryBuilder::<DB>::new("INSERT INTO audit_log (at, actor, action, subject, detail) ");
    qb.push_values(entries, |mut row, e| {
        row.push_bind(at)
            .push_bind(actor.to_owned())
            .push_bind(e.action)
            .push_bind(e.subject)
            .push_bind(Json(e.detail));
    });
    qb.build().execute(conn).await.map_err(db_err::<DB>)?;
    Ok(())
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
