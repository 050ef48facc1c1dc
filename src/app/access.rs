//! Reading from the platforms on an account's behalf (metrics, search): which adapter
//! serves a platform, opening the account's sealed tokens, and one refresh when the
//! platform says they expired. Reads only: publishing stays with the scheduler.

use std::sync::Arc;

use super::Ctx;
use crate::config::Settings;
use crate::domain::{Account, AccountStatus, Platform, now};
use crate::platforms::registry::Registry;
use crate::platforms::{Credentials, PlatformClient, PlatformError};
use crate::vault::Vault;

/// The adapters and the key this process reads platforms with.
#[derive(Clone)]
pub struct Access {
    pub platforms: Registry,
    /// `None` when no encryption key is configured: no account can be opened.
    pub vault: Option<Arc<Vault>>,
}

impl Access {
    pub fn new(platforms: Registry, vault: Option<Arc<Vault>>) -> Self {
        Self { platforms, vault }
    }

    /// The given adapters with the vault from settings (none when no key is configured,
    /// in which case every account read says how to configure one).
    pub fn with_vault_from(platforms: Registry, settings: &Settings) -> Self {
        let vault = match Vault::from_settings(&settings.vault) {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                tracing::debug!("no vault: {e}");
                None
            }
        };
        Self::new(platforms, vault)
    }

    pub fn client(&self, platform: Platform) -> Option<Arc<dyn PlatformClient>> {
        self.platforms.get(platform)
    }

    /// Opens an account's credentials, or says what the user must do.
    pub fn open(&self, account: &Account) -> Result<Credentials, String> {
        if account.status != AccountStatus::Active {
            return Err(format!(
                "the {} account @{} needs reconnecting: run `psn connect {}`",
                account.platform,
                account.handle.trim_start_matches('@'),
                account.platform
            ));
        }
        let vault = self.vault.as_deref().ok_or_else(|| {
            "no encryption key is loaded, so psn cannot open the account's tokens: set PSN_ENCRYPTION_KEY or run `psn init`".to_owned()
        })?;
        vault.open_account(account).map_err(|e| e.to_string())
    }

    /// Exchanges expired credentials for new ones and stores them sealed (refresh tokens
    /// rotate, so the new ones must be kept before they are used).
    pub async fn refresh(
        &self,
        cx: Ctx<'_>,
        account: &Account,
        creds: &Credentials,
    ) -> Result<Credentials, String> {
        let client = self
            .client(account.platform)
            .ok_or_else(|| format!("psn cannot reach {} yet", account.platform))?;
        let vault = self
            .vault
            .as_deref()
            .ok_or_else(|| "no encryption key is loaded".to_owned())?;
        let fresh = client.refresh(creds).await.map_err(|e| {
            format!(
                "the {} token expired and could not be refreshed ({e}): run `psn connect {}`",
                account.platform, account.platform
            )
        })?;
        let mut updated = account.clone();
        updated.credentials = Some(vault.seal_credentials(&account.id, account.platform, &fresh));
        updated.token_expires_at = fresh.expires_at;
        updated.updated_at = now();
        cx.store
            .upsert_account(&updated)
            .await
            .map_err(|e| format!("could not store refreshed tokens: {e}"))?;
        Ok(fresh)
    }
}

/// A platform error as one line for a person, with the reset time when rate-limited.
pub fn describe(err: &PlatformError) -> String {
    match err {
        PlatformError::RateLimited { until, .. } => {
            format!("rate-limited until {}", until.to_rfc3339())
        }
        other => other.to_string(),
    }
}
