//! `psn keys rotate`: a new key file, the old one kept, every account sealed again.

use std::path::PathBuf;

use super::keyfile::{fresh_key, io_err, read_key_file, sibling, write_key_file};
use super::{Vault, VaultError};
use crate::config::VaultSettings;
use crate::store::Store;

/// What `psn keys rotate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub old_key_id: String,
    pub new_key_id: String,
    /// Where the old key was kept.
    pub old_key_file: PathBuf,
    /// Accounts whose credentials were sealed again under the new key.
    pub resealed: usize,
}

/// Rotates the key file: writes a new key, keeps the old one as `key.old-<id>` beside it,
/// then seals every account's credentials again under the new key.
///
/// The key files are swapped before any account is rewritten, and the old key stays
/// loadable, so a crash at any point leaves every account readable; running the command
/// again finishes the job. Delete `key.old-<id>` once no backup needs it.
pub async fn rotate(settings: &VaultSettings, store: &dyn Store) -> Result<Rotation, VaultError> {
    if settings.key.is_some() {
        return Err(VaultError::EnvKeyRotation);
    }
    let path = &settings.key_file;
    let old = Vault::from_settings(settings)?;
    let old_id = old.key_id().to_owned();
    let old_bytes = read_key_file(path)?;

    let new_bytes = fresh_key();
    let staged = sibling(path, "new");
    write_key_file(&staged, &new_bytes)?;
    let kept = sibling(path, &format!("old-{old_id}"));
    if !kept.exists() {
        write_key_file(&kept, &old_bytes)?;
    }
    std::fs::rename(&staged, path).map_err(|e| io_err(path, e))?;

    let mut vault = Vault::from_key(&new_bytes);
    vault.add_older(&old_bytes);
    for older in old.older {
        vault.older.push(older);
    }
    let mut resealed = 0;
    for mut account in store.list_accounts().await? {
        let Some(sealed) = &account.credentials else {
            continue;
        };
        if sealed.key_id == vault.key_id() {
            continue;
        }
        let tokens = vault.open(&account.id, account.platform, sealed)?;
        account.credentials = Some(vault.seal(&account.id, account.platform, &tokens));
        account.updated_at = crate::domain::now();
        store.upsert_account(&account).await?;
        resealed += 1;
    }
    tracing::info!(old_key = %old_id, new_key = %vault.key_id(), resealed, "encryption key rotated");
    Ok(Rotation {
        old_key_id: old_id,
        new_key_id: vault.key_id().to_owned(),
        old_key_file: kept,
        resealed,
    })
}
