//! Postgres: the production store, safe for several scheduler instances at once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use super::dialect::Dialect;
use super::{Backend, StoreError, StoreResult};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

#[async_trait::async_trait]
impl Dialect for Postgres {
    const BACKEND: Backend = Backend::Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const DURABLE_COMMIT: [Option<&'static str>; 3] =
        [None, Some("SET LOCAL synchronous_commit = on"), None];
    const RELAXED_COMMIT: Option<&'static str> = Some("SET LOCAL synchronous_commit = off");
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const NOTIFY_SQL: Option<&'static str> = Some("SELECT pg_notify('psn_wake', '')");

    fn spawn_listener(pool: &sqlx::PgPool, wake: Arc<Notify>) {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            while !pool.is_closed() {
                match listen(&pool, &wake).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN psn_wake failed; retrying (the fallback poll still runs)");
                        // A reconnect may have missed notifications: wake once to look.
                        wake.notify_one();
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        });
    }

    async fn applied_migrations(pool: &sqlx::PgPool) -> StoreResult<Vec<i64>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await
            .map_err(|e| StoreError::from_sqlx("Postgres", e))?;
        if !exists {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::from_sqlx("Postgres", e))
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn known_migrations() -> Vec<i64> {
        MIGRATOR.iter().map(|m| m.version).collect()
    }

    async fn run_migrations(pool: &sqlx::PgPool) -> StoreResult<()> {
        MIGRATOR
            .run(pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }
}

async fn listen(pool: &sqlx::PgPool, wake: &Notify) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("psn_wake").await?;
    tracing::debug!("listening for psn_wake");
    loop {
        // `try_recv` returns None after a lost connection (it reconnects on the next call).
        match listener.try_recv().await? {
            Some(_) => wake.notify_one(),
            None => {
                wake.notify_one();
                if pool.is_closed() {
                    return Ok(());
                }
            }
        }
    }
}
