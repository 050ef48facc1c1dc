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

    /// A durable commit, whatever the connection's default: the scheduler's witness,
    /// which must survive a crash (even of the machine) before a request goes out.
    /// Run on the connection before `BEGIN` (SQLite's safety level cannot change inside
    /// a transaction), first thing inside it (Postgres's `SET LOCAL`), and on the
    /// connection after the commit, to restore the default.
    const DURABLE_COMMIT: [Option<&'static str>; 3];

    /// Run first inside a transaction whose commit may return before it reaches the disk:
    /// the claim and the finish, which the protocol recovers if a crash loses them (the
    /// witness's flush makes the claim before it durable; a lost finish is reconciled).
    const RELAXED_COMMIT: Option<&'static str>;

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
