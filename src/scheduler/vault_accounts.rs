//! The production credential source: accounts from the store, tokens from the vault.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Blocked, CredentialSource, NoCredentials};
use crate::domain::{Account, AccountStatus, Post, now};
use crate::platforms::Credentials;
use crate::store::{DynStore, StoreError};
use crate::vault::Vault;

pub struct VaultAccounts {
    store: DynStore,
    /// `None` when no key is configured: then no account can be opened, and the
    /// error says how to create a key.
    vault: Option<Arc<Vault>>,
}

impl VaultAccounts {
    pub fn new(store: DynStore, vault: Option<Arc<Vault>>) -> Self {
        Self { store, vault }
    }

    /// The account a post goes out on: its own, or the only one connected on its platform.
    async fn account_for(&self, post: &Post) -> Result<Account, NoCredentials> {
        let platform = post.platform;
        if let Some(id) = &post.account_id {
            return self.store.get_account(id).await.map_err(|e| match e {
                StoreError::NotFound { .. } => Blocked(format!(
                    "account {id} no longer exists: connect one with `psn connect {platform}`, set it with update_post, then retry_post"
                ))
                .into(),
                e => NoCredentials::Unavailable(format!("cannot read account {id}: {e}")),
            });
        }
        let all = self
            .store
            .list_accounts()
            .await
            .map_err(|e| NoCredentials::Unavailable(format!("cannot read accounts: {e}")))?;
        let mut on_platform: Vec<Account> =
            all.into_iter().filter(|a| a.platform == platform).collect();
        match on_platform.len() {
            0 => Err(Blocked(format!(
                "no {platform} account is connected: run `psn connect {platform}`, then retry_post"
            ))
            .into()),
            1 => Ok(on_platform.remove(0)),
            n => Err(Blocked(format!(
                "{n} {platform} accounts are connected and the post names none: set its account with update_post, then retry_post"
            ))
            .into()),
        }
    }

    fn vault(&self) -> Result<&Vault, Blocked> {
        self.vault.as_deref().ok_or_else(|| {
            Blocked("no encryption key is loaded, so psn cannot open the account's tokens: set PSN_ENCRYPTION_KEY or run `psn init`".into())
        })
    }
}

#[async_trait]
impl CredentialSource for VaultAccounts {
    async fn credentials(&self, post: &Post) -> Result<Credentials, NoCredentials> {
        let account = self.account_for(post).await?;
        if account.status != AccountStatus::Active {
            return Err(NoCredentials::Blocked(Blocked(format!(
                "the {} account @{} needs reconnecting ({}): run `psn connect {}`, then retry_post",
                account.platform,
                account.handle,
                account
                    .last_error
                    .as_deref()
                    .unwrap_or("the platform refused its tokens"),
                account.platform
            ))));
        }
        Ok(self
            .vault()?
            .open_account(&account)
            .map_err(|e| Blocked(e.to_string()))?)
    }

    async fn save_refreshed(&self, post: &Post, creds: &Credentials) -> Result<(), Blocked> {
        let mut account = self
            .account_for(post)
            .await
            .map_err(|e| Blocked(e.to_string()))?;
        account.credentials = Some(self.vault()?.seal_credentials(
            &account.id,
            account.platform,
            creds,
        ));
        account.token_expires_at = creds.expires_at;
        account.updated_at = now();
        self.store
            .upsert_account(&account)
            .await
            .map_err(|e| Blocked(format!("could not store refreshed tokens: {e}")))?;
        Ok(())
    }

    async fn needs_reauth(&self, post: &Post, reason: &str) {
        let Ok(mut account) = self.account_for(post).await else {
            return;
        };
        account.status = AccountStatus::NeedsReauth;
        account.last_error = Some(reason.to_owned());
        account.updated_at = now();
        if let Err(e) = self.store.upsert_account(&account).await {
            tracing::warn!(account = %account.id, error = %e, "could not mark the account as needing reconnection");
        }
    }
}
