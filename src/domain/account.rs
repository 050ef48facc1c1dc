//! A connected social account. Its tokens are kept sealed by the vault; this type only
//! carries the ciphertext and never shows it.

use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ids::AccountId;
use super::platform::Platform;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub platform: Platform,
    /// The handle people know the account by (`@psn.bsky.social`, `psn_app`).
    pub handle: String,
    pub display_name: Option<String>,
    /// The platform's own id for the account (X user id, Bluesky DID).
    pub platform_user_id: Option<String>,
    /// The server the account lives on, for platforms that have many (Mastodon, Bluesky PDS).
    pub server_url: Option<String>,
    #[serde(skip)]
    pub credentials: Option<Sealed>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<String>,
    pub status: AccountStatus,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whether an account can be published to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// The platform refused the stored credentials; the user must connect again.
    NeedsReauth,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReauth => "needs_reauth",
            AccountStatus::Disabled => "disabled",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        [
            AccountStatus::Active,
            AccountStatus::NeedsReauth,
            AccountStatus::Disabled,
        ]
        .into_iter()
        .find(|s| s.as_str() == input)
    }
}

/// Encrypted credentials with the id of the key that sealed them. Debug shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sealed(key {}, {} bytes)",
            self.key_id,
            self.ciphertext.len()
        )
    }
}
