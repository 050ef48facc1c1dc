//! What can go wrong in the store, told apart so callers can say what to do next.

use crate::domain::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no {kind} with id {id}")]
    NotFound { kind: &'static str, id: String },

    /// Somebody else changed the row after it was read (optimistic concurrency).
    #[error("{kind} {id} was changed by someone else since it was read: read it again and retry")]
    Conflict { kind: &'static str, id: String },

    #[error(transparent)]
    Transition(#[from] TransitionError),

    #[error("{0} already exists")]
    Duplicate(String),

    /// The database cannot be reached or refused the connection.
    #[error("cannot reach the {backend} database: {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },

    /// The database was migrated by a newer psn.
    #[error(
        "the database schema is at version {found}, newer than this psn knows (up to {known}): upgrade psn, or point PSN_DATABASE_URL at another database"
    )]
    SchemaTooNew { found: i64, known: i64 },

    #[error("migrating the database failed: {0}")]
    Migration(String),

    /// A row holds a value this psn does not understand.
    #[error("the database holds an unreadable {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },

    #[error("database error: {0}")]
    Database(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub(crate) fn from_sqlx(backend: &'static str, err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match err {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::Protocol(_) => {
                StoreError::Unavailable {
                    backend,
                    message: err.to_string(),
                }
            }
            E::Database(db) => {
                if db.is_unique_violation() {
                    StoreError::Duplicate(db.message().to_owned())
                } else if let Some(code) = db.code().filter(|c| is_unavailable_code(c)) {
                    StoreError::Unavailable {
                        backend,
                        message: format!("{} (code {code})", db.message()),
                    }
                } else {
                    StoreError::Database(db.message().to_owned())
                }
            }
            E::ColumnDecode { index, source } => StoreError::Corrupt {
                what: "column",
                detail: format!("{index}: {source}"),
            },
            E::Decode(source) => StoreError::Corrupt {
                what: "value",
                detail: source.to_string(),
            },
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// Postgres codes for a server that is starting, stopping or refusing connections, and
/// SQLite's "cannot open" and "read-only" codes.
fn is_unavailable_code(code: &str) -> bool {
    matches!(
        code,
        "57P01" | "57P02" | "57P03" | "53300" | "08000" | "08003" | "08006" | "14" | "8"
    )
}
