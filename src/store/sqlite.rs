//! SQLite: the zero-set-up default, one file in the user's data directory.

use sqlx::Sqlite;
use sqlx::migrate::Migrator;

use super::dialect::Dialect;
use super::{Backend, StoreError, StoreResult};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

#[async_trait::async_trait]
impl Dialect for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // Connections run `synchronous = NORMAL` (WAL): commits survive a crash of psn but
    // not of the machine, except the witness's.
    const DURABLE_COMMIT: [Option<&'static str>; 3] = [
        Some("PRAGMA synchronous = FULL"),
        None,
        Some("PRAGMA synchronous = NORMAL"),
    ];
    const RELAXED_COMMIT: Option<&'static str> = None;
    // SQLite has one writer at a time; the claim's UPDATE holds the write lock.
    const SKIP_LOCKED: &'static str = "";
    // One process owns a SQLite file's scheduler; the in-process Notify is enough.
    const NOTIFY_SQL: Option<&'static str> = None;

    fn spawn_listener(_pool: &sqlx::SqlitePool, _wake: std::sync::Arc<tokio::sync::Notify>) {}

    async fn applied_migrations(pool: &sqlx::SqlitePool) -> StoreResult<Vec<i64>> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::from_sqlx("SQLite", e))?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(|e| StoreError::from_sqlx("SQLite", e))
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn known_migrations() -> Vec<i64> {
        MIGRATOR.iter().map(|m| m.version).collect()
    }

    async fn run_migrations(pool: &sqlx::SqlitePool) -> StoreResult<()> {
        MIGRATOR
            .run(pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }
}
