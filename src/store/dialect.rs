//! What differs between Postgres and SQLite, and nothing else.

use sqlx::{Database, Pool};

use super::{Backend, StoreResult};

/// A database psn can keep its state in.
#[async_trait::async_trait]
pub trait Dialect: Database {
    const BACKEND: Backend;

    /// Starts a transaction that will write. SQLite must take the write lock up front
    /// (`BEGIN IMMEDIATE`), or two readers that both try to write deadlock and one fails.
    const BEGIN_WRITE: &'static str;

    /// Appended to the claim's inner `SELECT` so instances skip rows another holds.
    const SKIP_LOCKED: &'static str;

    /// Run inside a transaction that makes a post due-able, to wake other processes.
    const NOTIFY_SQL: Option<&'static str>;

    /// Forwards wake-ups from other processes into `wake` until the pool closes.
    fn spawn_listener(pool: &Pool<Self>, wake: std::sync::Arc<tokio::sync::Notify>);

    /// Rows changed by a statement.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Versions recorded in `_sqlx_migrations`, ascending; empty on a fresh database.
    async fn applied_migrations(pool: &Pool<Self>) -> StoreResult<Vec<i64>>;

    /// Versions built into this binary, ascending.
    fn known_migrations() -> Vec<i64>;

    /// Applies the built-in migrations.
    async fn run_migrations(pool: &Pool<Self>) -> StoreResult<()>;
}
