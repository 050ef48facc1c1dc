//! The key: parsing it, the key file (created with mode 0600, refused when others can read
//! it), and the `key.old-<id>` files rotation leaves beside it.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use super::{KEY_LEN, VaultError};

/// Creates the key file with a fresh key (mode 0600) unless it exists. Returns whether it
/// was created. An existing file is checked: readable, private, a valid key.
pub fn ensure_key_file(path: &Path) -> Result<bool, VaultError> {
    if path.exists() {
        read_key_file(path)?;
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    write_key_file(path, &fresh_key())?;
    Ok(true)
}

/// The short id of a key: the first 8 hex digits of SHA-256 of its bytes.
pub fn key_id(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn fresh_key() -> [u8; KEY_LEN] {
    rand::random()
}

pub(super) fn parse_key(text: &str, origin: &str) -> Result<[u8; KEY_LEN], VaultError> {
    let bad = |reason: &str| VaultError::BadKey {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let bytes = B64
        .decode(text.trim())
        .map_err(|_| bad("expected base64 of 32 random bytes (`openssl rand -base64 32`)"))?;
    bytes.as_slice().try_into().map_err(|_| {
        bad(&format!(
            "it decodes to {} bytes, expected 32 (`openssl rand -base64 32`)",
            bytes.len()
        ))
    })
}

pub(super) fn read_key_file(path: &Path) -> Result<[u8; KEY_LEN], VaultError> {
    check_private(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    parse_key(&text, &format!("the key file {}", path.display()))
}

#[cfg(unix)]
pub(super) fn check_private(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| io_err(path, e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::KeyFileTooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn check_private(_path: &Path) -> Result<(), VaultError> {
    Ok(())
}

pub(super) fn write_key_file(path: &Path, bytes: &[u8; KEY_LEN]) -> Result<(), VaultError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io_err(path, e))?;
    // A file that already existed keeps its mode on open: make sure it is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_err(path, e))?;
    }
    writeln!(file, "{}", B64.encode(bytes)).map_err(|e| io_err(path, e))?;
    file.sync_all().map_err(|e| io_err(path, e))
}

/// `key` → `key.<suffix>` in the same directory.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// The `key.old-<id>` files beside the key file, in name order.
pub(super) fn old_key_files(path: &Path) -> Vec<PathBuf> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let prefix = format!("{name}.old-");
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    found.sort();
    found
}

pub(super) fn io_err(path: &Path, e: std::io::Error) -> VaultError {
    VaultError::KeyFileIo {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}
