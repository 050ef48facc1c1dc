//! Refreshing tokens ahead of expiry, so a scheduled post never meets an expired token.
//! Meant to run as a periodic job (every few minutes): each connected account whose
//! access token expires within the window is refreshed through its platform adapter and
//! the new tokens are sealed and stored at once (X and Bluesky rotate refresh tokens).
//!
//! A refresh the platform refuses marks the account `needs_reauth` with the command that
//! fixes it, unless somebody else (a publish that met a 401, another scheduler instance)
//! refreshed the account meanwhile: then the stored credentials changed and nothing is
//! wrong.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Account, AccountId, AccountStatus, Platform, now};
use crate::platforms::PlatformError;
use crate::platforms::registry::Registry;
use crate::store::Store;
use crate::vault::Vault;

/// How long to wait before looking again whether a refused refresh lost a race.
const RACE_RECHECK: Duration = Duration::from_secs(2);

/// What happened to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Refreshed {
    /// New tokens stored, valid until `expires_at`.
    Renewed { expires_at: Option<DateTime<Utc>> },
    /// Someone else refreshed the account in the meantime.
    AlreadyRenewed,
    /// The platform refused the refresh token: the user must connect again.
    NeedsReauth { reason: String },
    /// A passing problem (rate limit, outage, key not loaded): tried again next time.
    Later { reason: String },
}

/// One account's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshResult {
    pub account: AccountId,
    pub platform: Platform,
    pub handle: String,
    #[serde(flatten)]
    pub result: Refreshed,
}

/// Refreshes every active account whose token expires within `window`.
pub async fn refresh_expiring(
    store: &dyn Store,
    vault: &Vault,
    platforms: &Registry,
    window: chrono::Duration,
) -> Result<Vec<RefreshResult>, crate::store::StoreError> {
    let horizon = now() + window;
    let mut out = Vec::new();
    for account in store.list_accounts().await? {
        let due = account.status == AccountStatus::Active
            && account.credentials.is_some()
            && account.token_expires_at.is_some_and(|t| t <= horizon);
        let Some(client) = platforms.get(account.platform).filter(|_| due) else {
            continue;
        };
        let result = refresh_one(store, vault, client.as_ref(), &account).await;
        tracing::info!(account = %account.id, platform = %account.platform, ?result, "token refresh");
        out.push(RefreshResult {
            account: account.id.clone(),
            platform: account.platform,
            handle: account.handle.clone(),
            result,
        });
    }
    Ok(out)
}

async fn refresh_one(
    store: &dyn Store,
    vault: &Vault,
    client: &dyn crate::platforms::PlatformClient,
    account: &Account,
) -> Refreshed {
    let creds = match vault.open_account(account) {
        Ok(c) => c,
        Err(e) => {
            return Refreshed::Later {
                reason: e.to_string(),
            };
        }
    };
    match client.refresh(&creds).await {
        Ok(fresh) => {
            let mut next = account.clone();
            next.credentials = Some(vault.seal_credentials(&account.id, account.platform, &fresh));
            next.token_expires_at = fresh.expires_at;
            next.last_error = None;
            next.updated_at = now();
            match store.upsert_account(&next).await {
                Ok(_) => Refreshed::Renewed {
                    expires_at: fresh.expires_at,
                },
                Err(e) => Refreshed::Later {
                    reason: format!("the new tokens could not be stored: {e}"),
                },
            }
        }
        Err(PlatformError::AuthExpired { message }) => {
            if renewed_elsewhere(store, account).await {
                return Refreshed::AlreadyRenewed;
            }
            let reason = format!(
                "{message} (run `psn connect {}` to connect @{} again)",
                account.platform, account.handle
            );
            let mut next = account.clone();
            next.status = AccountStatus::NeedsReauth;
            next.last_error = Some(reason.clone());
            next.updated_at = now();
            match store.upsert_account(&next).await {
                Ok(_) => Refreshed::NeedsReauth { reason },
                Err(e) => Refreshed::Later {
                    reason: format!("{reason}; and the account could not be updated: {e}"),
                },
            }
        }
        Err(e) => Refreshed::Later {
            reason: e.to_string(),
        },
    }
}

/// Whether the account's stored credentials changed since `seen` was read, now or after a
/// short wait (the other refresher may still be storing what it got).
async fn renewed_elsewhere(store: &dyn Store, seen: &Account) -> bool {
    for wait in [Duration::ZERO, RACE_RECHECK] {
        tokio::time::sleep(wait).await;
        if let Ok(current) = store.get_account(&seen.id).await
            && current.credentials != seen.credentials
        {
            return true;
        }
    }
    false
}
