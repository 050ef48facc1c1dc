//! Where the scheduler gets an account's credentials, and where refreshed ones go.

use async_trait::async_trait;

use crate::domain::Post;
use crate::platforms::Credentials;

/// Why a post cannot be published with any account right now: the text is shown to
/// the user as the post's `last_error`, so it says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(pub String);

/// Why a post's credentials could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoCredentials {
    /// A person must act (connect the account, set a key): the post fails with the fix.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// The database could not be read right now: nothing is wrong with the post, so the
    /// attempt is retried with back-off rather than failed.
    #[error("{0}")]
    Unavailable(String),
}

#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// Opens the credentials of the post's account.
    async fn credentials(&self, post: &Post) -> Result<Credentials, NoCredentials>;
    /// Seals and stores credentials the platform just issued (refresh tokens rotate:
    /// the old one may already be dead).
    async fn save_refreshed(&self, post: &Post, creds: &Credentials) -> Result<(), Blocked>;
    /// Marks the account as needing the user to connect it again.
    async fn needs_reauth(&self, post: &Post, reason: &str);
}
