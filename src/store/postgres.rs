//! Postgres: the production store, safe for several scheduler instances at once.

use sqlx::Postgres;
use sqlx::migrate::Migrator;

use super::dialect::Dialect;
use super::{Backend, StoreError, StoreResult};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

#[async_trait::async_trait]
impl Dialect for Postgres {
    const BACKEND: Backend = Backend::Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";

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
