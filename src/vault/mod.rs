//! The token vault: platform credentials sealed with AES-256-GCM.
//!
//! A sealed value is `Sealed { key_id, ciphertext = nonce (12 bytes) || ciphertext+tag }`.
//! Every seal draws a fresh random 96-bit nonce. The associated data binds the ciphertext
//! to its account id and platform, so a ciphertext copied onto another account row does
//! not open. The key id (first 8 hex digits of SHA-256 of the key) sits in front so a
//! vault holding several keys knows which one to use, which is what makes rotation work.
//!
//! Keys come from `PSN_ENCRYPTION_KEY` (base64 of 32 bytes) or the key file (the same
//! text, mode 0600), never from the database. Beside the key file, `key.old-<id>` files
//! left by `psn keys rotate` are loaded too, for opening only: a rotation interrupted
//! half-way leaves every account readable, and running it again finishes the job.

mod keyfile;
mod rotate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Secret, VaultSettings};
use crate::domain::{Account, AccountId, Platform, Sealed};
use crate::platforms::Credentials;
use crate::store::StoreError;

pub use keyfile::{ensure_key_file, key_id};
use keyfile::{fresh_key, old_key_files, parse_key, read_key_file};
pub use rotate::{Rotation, rotate};

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
/// Versions the associated data, so a future format change cannot be confused with this one.
const AAD_PREFIX: &[u8] = b"psn-vault-v1";

/// What the vault can refuse, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no encryption key: set PSN_ENCRYPTION_KEY or run `psn init` to create the key file {path}"
    )]
    NoKey { path: PathBuf },
    #[error("the encryption key from {origin} is not valid: {reason}")]
    BadKey { origin: String, reason: String },
    #[error(
        "the key file {path} can be read by other users (mode {mode:04o}): run `chmod 600 {path}`"
    )]
    KeyFileTooOpen { path: PathBuf, mode: u32 },
    #[error("cannot use the key file {path}: {reason}")]
    KeyFileIo { path: PathBuf, reason: String },
    #[error(
        "account {account} was sealed with key {key_id}, which is not loaded: set PSN_ENCRYPTION_KEY or the key file that sealed it"
    )]
    KeyNotLoaded { account: String, key_id: String },
    #[error(
        "the credentials of account {account} do not open with key {key_id}: they were altered or belong to another account; run `psn connect` for it again"
    )]
    Tampered { account: String, key_id: String },
    #[error("account {account} has no stored credentials: run `psn connect` for it")]
    NoCredentials { account: String },
    #[error(
        "the encryption key comes from PSN_ENCRYPTION_KEY, which psn cannot rewrite: rotate the key file instead (unset PSN_ENCRYPTION_KEY and keep its value in the key file), or re-connect the accounts under a new variable"
    )]
    EnvKeyRotation,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The secret part of an account's credentials, as sealed. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The platform's id for the account (X user id, Bluesky DID).
    pub user_id: Option<String>,
    /// Anything else a platform needs kept secret.
    pub extras: BTreeMap<String, Secret>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("user_id", &self.user_id)
            .field("extras", &self.extras.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl From<&Credentials> for Tokens {
    fn from(c: &Credentials) -> Self {
        Tokens {
            access_token: c.access_token.clone(),
            refresh_token: c.refresh_token.clone(),
            expires_at: c.expires_at,
            user_id: c.user_id.clone(),
            extras: BTreeMap::new(),
        }
    }
}

impl Tokens {
    /// Credentials for a call on behalf of `account`.
    pub fn into_credentials(self, account: &Account) -> Credentials {
        Credentials {
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            expires_at: self.expires_at,
            user_id: self.user_id.or_else(|| account.platform_user_id.clone()),
            handle: account.handle.clone(),
            server_url: account.server_url.clone(),
        }
    }
}

/// The JSON that is actually encrypted. Private: it holds the plain strings.
#[derive(Serialize, Deserialize)]
struct Payload1 {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    extras: BTreeMap<String, String>,
}

/// One loaded key. `Debug` shows only its id.
struct LoadedKey {
    id: String,
    cipher: Aes256Gcm,
}

impl LoadedKey {
    fn new(bytes: &[u8; KEY_LEN]) -> Self {
        LoadedKey {
            id: key_id(bytes),
            cipher: Aes256Gcm::new(&(*bytes).into()),
        }
    }
}

/// Seals and opens credentials. The first key seals; every loaded key can open.
pub struct Vault {
    current: LoadedKey,
    older: Vec<LoadedKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.current.id)
            .field(
                "older",
                &self.older.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Vault {
    /// A vault with one key.
    pub fn from_key(bytes: &[u8; KEY_LEN]) -> Self {
        Vault {
            current: LoadedKey::new(bytes),
            older: Vec::new(),
        }
    }

    /// A vault with a fresh random key (tests, and the first step of rotation).
    pub fn generate() -> (Self, Secret) {
        let bytes = fresh_key();
        (Self::from_key(&bytes), Secret::new(B64.encode(bytes)))
    }

    /// Loads the key from the settings: `vault.key` if set, else the key file, plus any
    /// `key.old-<id>` files beside the key file.
    pub fn from_settings(settings: &VaultSettings) -> Result<Self, VaultError> {
        let mut vault = match &settings.key {
            Some(key) => Vault::from_key(&parse_key(key.expose(), "PSN_ENCRYPTION_KEY")?),
            None => {
                let path = &settings.key_file;
                if !path.exists() {
                    return Err(VaultError::NoKey { path: path.clone() });
                }
                Vault::from_key(&read_key_file(path)?)
            }
        };
        // Old keys only open what rotation has not re-sealed yet: one that cannot be used
        // is reported and skipped rather than stopping every account from opening.
        for old in old_key_files(&settings.key_file) {
            match read_key_file(&old) {
                Ok(bytes) => vault.add_older(&bytes),
                Err(e) => tracing::warn!("ignoring an old key file: {e}"),
            }
        }
        Ok(vault)
    }

    /// Adds a key that can open but no longer seals.
    pub fn add_older(&mut self, bytes: &[u8; KEY_LEN]) {
        let key = LoadedKey::new(bytes);
        if key.id != self.current.id && self.older.iter().all(|k| k.id != key.id) {
            self.older.push(key);
        }
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals credentials for one account on one platform.
    pub fn seal(&self, account: &AccountId, platform: Platform, tokens: &Tokens) -> Sealed {
        let payload = Payload1 {
            access_token: tokens.access_token.expose().to_owned(),
            refresh_token: tokens.refresh_token.as_ref().map(|s| s.expose().to_owned()),
            expires_at: tokens.expires_at,
            user_id: tokens.user_id.clone(),
            extras: tokens
                .extras
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect(),
        };
        // A struct of strings and a timestamp always serializes.
        let plain = serde_json::to_vec(&payload).unwrap_or_default();
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let aad = associated_data(account, platform);
        // AES-GCM only fails for plaintexts over 64 GiB; credentials are a few hundred bytes.
        let ct = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut ciphertext = Vec::with_capacity(NONCE_LEN + ct.len());
        ciphertext.extend_from_slice(&nonce_bytes);
        ciphertext.extend_from_slice(&ct);
        Sealed {
            key_id: self.current.id.clone(),
            ciphertext,
        }
    }

    /// Seals the secret part of `creds`.
    pub fn seal_credentials(
        &self,
        account: &AccountId,
        platform: Platform,
        creds: &Credentials,
    ) -> Sealed {
        self.seal(account, platform, &Tokens::from(creds))
    }

    /// Opens what [`Vault::seal`] sealed for the same account and platform.
    pub fn open(
        &self,
        account: &AccountId,
        platform: Platform,
        sealed: &Sealed,
    ) -> Result<Tokens, VaultError> {
        let key = std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| VaultError::KeyNotLoaded {
                account: account.to_string(),
                key_id: sealed.key_id.clone(),
            })?;
        let tampered = || VaultError::Tampered {
            account: account.to_string(),
            key_id: sealed.key_id.clone(),
        };
        if sealed.ciphertext.len() < NONCE_LEN {
            return Err(tampered());
        }
        let (nonce, ct) = sealed.ciphertext.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| tampered())?;
        let aad = associated_data(account, platform);
        let plain = key
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| tampered())?;
        let p: Payload1 = serde_json::from_slice(&plain).map_err(|_| tampered())?;
        Ok(Tokens {
            access_token: Secret::new(p.access_token),
            refresh_token: p.refresh_token.map(Secret::new),
            expires_at: p.expires_at,
            user_id: p.user_id,
            extras: p
                .extras
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
        })
    }

    /// Opens an account's stored credentials into what an adapter needs.
    pub fn open_account(&self, account: &Account) -> Result<Credentials, VaultError> {
        let sealed = account
            .credentials
            .as_ref()
            .ok_or_else(|| VaultError::NoCredentials {
                account: account.id.to_string(),
            })?;
        Ok(self
            .open(&account.id, account.platform, sealed)?
            .into_credentials(account))
    }
}

fn associated_data(account: &AccountId, platform: Platform) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 32);
    aad.extend_from_slice(AAD_PREFIX);
    aad.push(0);
    aad.extend_from_slice(account.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(platform.as_str().as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let mut extras = BTreeMap::new();
        extras.insert("app_password".to_owned(), Secret::new("canary-extra-7f3a"));
        Tokens {
            access_token: Secret::new("canary-access-91b2"),
            refresh_token: Some(Secret::new("canary-refresh-44c1")),
            expires_at: DateTime::from_timestamp(1_900_000_000, 0),
            user_id: Some("12345".into()),
            extras,
        }
    }

    #[test]
    fn round_trip() {
        let (vault, _) = Vault::generate();
        let acct = AccountId::new();
        let sealed = vault.seal(&acct, Platform::X, &tokens());
        assert_eq!(sealed.key_id, vault.key_id());
        assert_eq!(vault.open(&acct, Platform::X, &sealed).unwrap(), tokens());
        // A fresh nonce each time: the same input never seals to the same bytes.
        assert_ne!(
            sealed.ciphertext,
            vault.seal(&acct, Platform::X, &tokens()).ciphertext
        );
    }

    #[test]
    fn one_tampered_byte_is_refused() {
        let (vault, _) = Vault::generate();
        let acct = AccountId::new();
        let sealed = vault.seal(&acct, Platform::X, &tokens());
        for i in [0, NONCE_LEN, sealed.ciphertext.len() - 1] {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 0x01;
            let err = vault.open(&acct, Platform::X, &bad).unwrap_err();
            assert!(matches!(err, VaultError::Tampered { .. }), "{err}");
        }
        let mut short = sealed;
        short.ciphertext.truncate(5);
        assert!(vault.open(&acct, Platform::X, &short).is_err());
    }

    #[test]
    fn moved_to_another_account_or_platform_is_refused() {
        let (vault, _) = Vault::generate();
        let a = AccountId::new();
        let sealed = vault.seal(&a, Platform::X, &tokens());
        let err = vault
            .open(&AccountId::new(), Platform::X, &sealed)
            .unwrap_err();
        assert!(matches!(err, VaultError::Tampered { .. }));
        assert!(vault.open(&a, Platform::Bluesky, &sealed).is_err());
    }

    #[test]
    fn wrong_key_names_the_account_and_key() {
        let (a, _) = Vault::generate();
        let (b, _) = Vault::generate();
        let acct = AccountId::new();
        let sealed = a.seal(&acct, Platform::X, &tokens());
        let msg = b.open(&acct, Platform::X, &sealed).unwrap_err().to_string();
        assert!(msg.contains(acct.as_str()), "{msg}");
        assert!(msg.contains(a.key_id()), "{msg}");
        assert!(msg.contains("PSN_ENCRYPTION_KEY"), "{msg}");
    }

    #[test]
    fn debug_shows_no_secret() {
        let (vault, key) = Vault::generate();
        let acct = AccountId::new();
        let sealed = vault.seal(&acct, Platform::X, &tokens());
        let shown = format!("{:?} {:?} {:?} {:?}", tokens(), vault, sealed, key);
        for canary in ["canary", key.expose()] {
            assert!(!shown.contains(canary), "{shown}");
        }
    }

    #[test]
    fn key_file_is_created_private_and_refused_when_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key");
        assert!(ensure_key_file(&path).unwrap());
        assert!(!ensure_key_file(&path).unwrap());
        let settings = VaultSettings {
            key: None,
            key_file: path.clone(),
        };
        let vault = Vault::from_settings(&settings).unwrap();
        assert_eq!(vault.key_id().len(), 8);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let msg = Vault::from_settings(&settings).unwrap_err().to_string();
            assert!(msg.contains("chmod 600"), "{msg}");
        }
    }

    #[test]
    fn bad_and_missing_keys_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let missing = VaultSettings {
            key: None,
            key_file: dir.path().join("key"),
        };
        let msg = Vault::from_settings(&missing).unwrap_err().to_string();
        assert!(msg.contains("psn init"), "{msg}");
        let short = VaultSettings {
            key: Some(Secret::new(B64.encode([1u8; 16]))),
            key_file: dir.path().join("key"),
        };
        let msg = Vault::from_settings(&short).unwrap_err().to_string();
        assert!(msg.contains("16 bytes"), "{msg}");
        let garbage = VaultSettings {
            key: Some(Secret::new("not base64!!")),
            key_file: dir.path().join("key"),
        };
        let msg = Vault::from_settings(&garbage).unwrap_err().to_string();
        assert!(!msg.contains("not base64!!"), "{msg}");
    }

    #[test]
    fn old_key_files_open_what_they_sealed_and_bad_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        ensure_key_file(&path).unwrap();
        let (old, old_key) = Vault::generate();
        let kept = dir.path().join(format!("key.old-{}", old.key_id()));
        std::fs::write(&kept, old_key.expose()).unwrap();
        std::fs::write(dir.path().join("key.old-junk"), "not a key").unwrap();
        #[cfg(unix)]
        for p in [&kept, &dir.path().join("key.old-junk")] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let settings = VaultSettings {
            key: None,
            key_file: path,
        };
        let vault = Vault::from_settings(&settings).unwrap();
        assert_ne!(vault.key_id(), old.key_id(), "the key file seals");
        let acct = AccountId::new();
        let sealed = old.seal(&acct, Platform::X, &tokens());
        assert_eq!(vault.open(&acct, Platform::X, &sealed).unwrap(), tokens());
    }

    #[test]
    fn key_id_is_short_hash() {
        let id = key_id(&[0u8; 32]);
        assert_eq!(id, "66687aad");
    }
}
