//! Choosing and opening the database named by the settings.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::sql::SqlStore;
use super::{DynStore, StoreError, StoreResult};
use crate::config::{ConfigError, Origin, Settings};

/// The database a URL names, parsed once at start-up.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    Postgres(Box<PgConnectOptions>),
    Sqlite(PathBuf),
}

impl DatabaseTarget {
    /// Reads `database.url`: `postgres://…` or `postgresql://…` → Postgres; `sqlite:…` or
    /// unset → SQLite (unset: the file in the data directory).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let Some(url) = &settings.database.url else {
            return Ok(DatabaseTarget::Sqlite(settings.default_sqlite_path()));
        };
        let url = url.expose();
        let invalid = |message: String| ConfigError::Invalid {
            key: "database.url",
            origin: settings
                .origins
                .get("database.url")
                .cloned()
                .unwrap_or(Origin::Env("PSN_DATABASE_URL")),
            message,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| {
                invalid(format!(
                    "not a valid Postgres URL ({})",
                    redact_error(&e.to_string(), url)
                ))
            })?;
            Ok(DatabaseTarget::Postgres(Box::new(
                opts.application_name("psn"),
            )))
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(invalid(
                    "expected a file path after sqlite:// (an in-memory database would lose every post on exit)".into(),
                ));
            }
            Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            let shown: String = if scheme.len() < url.len() {
                format!("{scheme}:…")
            } else {
                "(no scheme)".into()
            };
            Err(invalid(format!(
                "expected a URL starting with postgres:// or sqlite://, got {shown}"
            )))
        }
    }

    /// A description safe to print: no password.
    pub fn describe(&self) -> String {
        match self {
            DatabaseTarget::Postgres(o) => format!(
                "Postgres at {}:{}/{} as {}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("(default database)"),
                o.get_username()
            ),
            DatabaseTarget::Sqlite(p) => format!("SQLite file {}", p.display()),
        }
    }
}

/// Never echo a URL (it may hold a password) inside an error.
fn redact_error(message: &str, url: &str) -> String {
    message.replace(url, "<url>")
}

/// Connects without migrating (for `psn doctor`). SQLite: the file must already exist
/// unless `create` is set.
pub async fn connect(
    settings: &Settings,
    target: &DatabaseTarget,
    create: bool,
) -> StoreResult<DynStore> {
    let db = &settings.database;
    match target {
        DatabaseTarget::Postgres(opts) => {
            // One direct connection first: a pool would retry until its timeout and then
            // report only "timed out", hiding "connection refused" or "no such database".
            let unavailable = |message: String| StoreError::Unavailable {
                backend: "Postgres",
                message: format!(
                    "{message} ({}): is the server running and the URL right?",
                    target.describe()
                ),
            };
            let probe = tokio::time::timeout(
                db.acquire_timeout,
                PgConnection::connect_with(opts.as_ref()),
            )
            .await
            .map_err(|_| unavailable(format!("no answer within {:?}", db.acquire_timeout)))?
            .map_err(|e| unavailable(e.to_string()))?;
            probe.close().await.ok();
            let pool = PgPoolOptions::new()
                .max_connections(db.max_connections)
                .min_connections(db.min_connections)
                .acquire_timeout(db.acquire_timeout)
                .connect_lazy_with(opts.as_ref().clone());
            Ok(Arc::new(SqlStore::new(pool)))
        }
        DatabaseTarget::Sqlite(path) => {
            if create && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
                    backend: "SQLite",
                    message: format!(
                        "cannot create the directory {} for the database: {e}; set PSN_DATABASE_URL to a writable sqlite:// path",
                        dir.display()
                    ),
                })?;
            }
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(db.sqlite_busy_timeout)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(db.max_connections)
                .min_connections(db.min_connections)
                .acquire_timeout(db.acquire_timeout)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable {
                    backend: "SQLite",
                    message: format!(
                        "cannot open {}: {e}; set PSN_DATABASE_URL to a writable sqlite:// path",
                        path.display()
                    ),
                })?;
            Ok(Arc::new(SqlStore::new(pool)))
        }
    }
}

/// Connects (creating the SQLite file if needed) and applies pending migrations.
pub async fn open(settings: &Settings) -> anyhow::Result<DynStore> {
    let target = DatabaseTarget::from_settings(settings)?;
    let store = connect(settings, &target, true).await?;
    store.migrate().await?;
    tracing::debug!(database = %target.describe(), "store ready");
    Ok(store)
}
