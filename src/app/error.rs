//! What a use case can fail with, told apart so each adapter can say what to do next:
//! the MCP layer turns these into `isError` tool results, the CLI into exit codes.

use crate::domain::{PostStatus, TransitionError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such post, group, account or idea.
    #[error("no {kind} with id {id}: {hint}")]
    NotFound {
        kind: &'static str,
        id: String,
        hint: &'static str,
    },

    /// The action is not allowed in the post's current status.
    #[error(
        "post {id} is {status}, and only {} posts can {action}",
        list_statuses(allowed)
    )]
    WrongStatus {
        id: String,
        status: PostStatus,
        action: &'static str,
        allowed: &'static [PostStatus],
    },

    /// The input cannot be used; `errors` lists every problem found, not just the first.
    #[error("{message}: {}", errors.join("; "))]
    Invalid {
        message: String,
        errors: Vec<String>,
    },

    /// The target account is missing or cannot publish.
    #[error("{0}")]
    NotConnected(String),

    /// Somebody (often the scheduler) changed the post while this call ran.
    #[error(
        "post {id} was changed by someone else while this ran (the scheduler may have picked it up): read it again with get_post and retry"
    )]
    Conflict { id: String },

    /// The post's publish outcome is unknown and the scheduler is asking the platform.
    #[error(
        "psn is reconciling post {id} with the platform (a publish request may have reached it): wait for the scheduler, then check it with get_post"
    )]
    Reconciling { id: String },

    /// The database cannot be reached, or was migrated by a newer psn.
    #[error(
        "the database is unavailable: {0}. Fix the database or PSN_DATABASE_URL (run `psn doctor` to see what is wrong), then call again"
    )]
    Unavailable(String),

    /// A fault in psn or the database that the caller cannot fix by changing the input.
    #[error("internal error: {0}. This is a bug or a damaged database; run `psn doctor`")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A short machine-readable name for the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotFound { .. } => "not_found",
            AppError::WrongStatus { .. } => "wrong_status",
            AppError::Invalid { .. } => "invalid_input",
            AppError::NotConnected(_) => "not_connected",
            AppError::Conflict { .. } => "conflict",
            AppError::Reconciling { .. } => "reconciling",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    /// One invalid-input problem.
    pub fn invalid(message: impl Into<String>) -> Self {
        let message = message.into();
        AppError::Invalid {
            errors: vec![message.clone()],
            message: "invalid input".into(),
        }
    }

    pub(crate) fn post_not_found(id: impl Into<String>) -> Self {
        AppError::NotFound {
            kind: "post",
            id: id.into(),
            hint: "list_pending (or `psn pending`) shows queued posts and their ids",
        }
    }

    /// Maps a store failure about one post.
    pub(crate) fn from_post_store(id: &str, err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => AppError::post_not_found(id),
            StoreError::Conflict { .. } => AppError::Conflict { id: id.to_owned() },
            other => other.into(),
        }
    }

    /// A transition the status machine refused, with the statuses that allow the action.
    pub(crate) fn wrong_status(
        id: &str,
        err: TransitionError,
        action: &'static str,
        allowed: &'static [PostStatus],
    ) -> Self {
        AppError::WrongStatus {
            id: id.to_owned(),
            status: err.from,
            action,
            allowed,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { kind, id } => AppError::NotFound {
                kind,
                id,
                hint: "check the id",
            },
            StoreError::Conflict { id, .. } => AppError::Conflict { id },
            StoreError::Transition(e) => AppError::Invalid {
                message: "not allowed now".into(),
                errors: vec![e.to_string()],
            },
            e @ (StoreError::Unavailable { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Migration(_)) => AppError::Unavailable(e.to_string()),
            e @ (StoreError::Duplicate(_)
            | StoreError::Corrupt { .. }
            | StoreError::Database(_)) => AppError::Internal(e.to_string()),
        }
    }
}

fn list_statuses(statuses: &[PostStatus]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    match names.as_slice() {
        [] => "no".into(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_status_names_the_statuses_that_allow_it() {
        let e = AppError::WrongStatus {
            id: "post_abcdefghijkl".into(),
            status: PostStatus::Published,
            action: "be edited",
            allowed: &[PostStatus::Draft, PostStatus::Scheduled, PostStatus::Failed],
        };
        assert_eq!(
            e.to_string(),
            "post post_abcdefghijkl is published, and only draft, scheduled or failed posts can be edited"
        );
        assert_eq!(e.code(), "wrong_status");
    }

    #[test]
    fn unavailable_store_errors_say_what_to_do() {
        let e: AppError = StoreError::Unavailable {
            backend: "Postgres",
            message: "connection refused".into(),
        }
        .into();
        assert_eq!(e.code(), "unavailable");
        assert!(e.to_string().contains("psn doctor"), "{e}");
    }
}
