//! Connecting accounts: X through OAuth 2 with PKCE and a loopback redirect, Bluesky
//! through an app password; and rotating the key that seals their tokens.
//!
//! The tokens are sealed by the vault under the account's id before they are stored, so
//! an existing account (same platform and handle) keeps its id: the seal is bound to it.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{Secret, Settings};
use crate::domain::{Account, AccountId, AccountStatus, Platform};
use crate::platforms::bluesky::BlueskyClient;
use crate::platforms::x::{self, XClient};
use crate::platforms::{Credentials, PlatformError};
use crate::store::{Store, StoreError};
use crate::vault::{self, Tokens, Vault, VaultError};

/// How long `psn connect x` waits for the browser to come back.
pub const AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest request the loopback listener reads.
const MAX_REQUEST: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no X client id: create an app at developer.x.com (OAuth 2, type native/public), add the redirect URI psn prints, and set PSN_X_CLIENT_ID"
    )]
    NoClientId,
    #[error("cannot listen on 127.0.0.1:{port} for the redirect: {reason}")]
    Listen { port: u16, reason: String },
    #[error("nobody came back from the X authorize page within {0:?}: run `psn connect x` again")]
    TimedOut(Duration),
    #[error("X did not authorize psn: {0}")]
    Denied(String),
    #[error(
        "the redirect carried a different state than psn sent: it did not come from this login; run `psn connect x` again"
    )]
    StateMismatch,
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a connect did.
#[derive(Debug, Clone)]
pub struct Connected {
    pub account: Account,
    /// Whether the account was already known (its tokens were replaced).
    pub reconnected: bool,
    /// Where a new key file was created, if one was.
    pub created_key_file: Option<std::path::PathBuf>,
}

/// Opens the vault, creating the key file first when no key is configured anywhere.
pub fn open_or_create_vault(
    settings: &Settings,
) -> Result<(Vault, Option<std::path::PathBuf>), VaultError> {
    let mut created = None;
    if settings.vault.key.is_none() && vault::ensure_key_file(&settings.vault.key_file)? {
        created = Some(settings.vault.key_file.clone());
    }
    Ok((Vault::from_settings(&settings.vault)?, created))
}

/// An X authorization in progress: the URL to open, and the listener waiting for the
/// redirect.
pub struct XAuthorization {
    listener: TcpListener,
    pub authorize_url: String,
    pub redirect_uri: String,
    state: String,
    verifier: Secret,
}

impl std::fmt::Debug for XAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XAuthorization")
            .field("authorize_url", &self.authorize_url)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Starts `psn connect x`: binds the loopback listener (port 0 = any free port) and
/// builds the authorize URL with a fresh state and PKCE S256 challenge.
pub async fn start_x(settings: &Settings, port: u16) -> Result<XAuthorization, ConnectError> {
    let client_id = settings
        .platforms
        .x_client_id
        .clone()
        .ok_or(ConnectError::NoClientId)?;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| ConnectError::Listen {
            port,
            reason: e.to_string(),
        })?;
    let bound = listener
        .local_addr()
        .map_err(|e| ConnectError::Listen {
            port,
            reason: e.to_string(),
        })?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{bound}/callback");
    let state = random_url_safe(24);
    let verifier = Secret::new(random_url_safe(48));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()));
    let authorize_base = settings
        .platforms
        .x_auth_url
        .as_deref()
        .unwrap_or(x::DEFAULT_AUTHORIZE_URL);
    let authorize_url = XClient::authorize_url(
        authorize_base,
        &client_id,
        &redirect_uri,
        &state,
        &challenge,
    );
    Ok(XAuthorization {
        listener,
        authorize_url,
        redirect_uri,
        state,
        verifier,
    })
}

impl XAuthorization {
    /// Waits for the redirect, exchanges the code, reads the user and stores the sealed
    /// tokens.
    pub async fn finish(
        self,
        settings: &Settings,
        store: &dyn Store,
        timeout: Duration,
    ) -> Result<Connected, ConnectError> {
        // The vault first: a key problem should stop us before the user signs in.
        let (vault, created) = open_or_create_vault(settings)?;
        let code = tokio::time::timeout(timeout, self.wait_for_code())
            .await
            .map_err(|_| ConnectError::TimedOut(timeout))??;
        let client = XClient::from_settings(&settings.platforms);
        let tokens = client
            .exchange_code(code.expose(), self.verifier.expose(), &self.redirect_uri)
            .await?;
        let user = client.me(&tokens.access_token).await?;
        let creds = Credentials {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
            user_id: Some(user.id.clone()),
            handle: user.username.clone(),
            server_url: None,
        };
        let mut connected =
            save(store, &vault, Platform::X, &creds, user.name, tokens.scope).await?;
        connected.created_key_file = created;
        Ok(connected)
    }

    /// Serves the loopback listener until a request for `/callback` arrives.
    async fn wait_for_code(&self) -> Result<Secret, ConnectError> {
        loop {
            let Ok((mut stream, _)) = self.listener.accept().await else {
                // Out of file descriptors or similar: do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Some(target) = read_request_target(&mut stream).await else {
                continue;
            };
            let Ok(url) = reqwest::Url::parse(&format!("http://127.0.0.1{target}")) else {
                respond(
                    &mut stream,
                    400,
                    "psn: that was not a redirect it understands.",
                )
                .await;
                continue;
            };
            if url.path() != "/callback" {
                respond(&mut stream, 404, "psn: not here.").await;
                continue;
            }
            let param = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            if param("state").as_deref() != Some(self.state.as_str()) {
                respond(
                    &mut stream,
                    400,
                    "psn: this redirect does not belong to the login in progress.",
                )
                .await;
                return Err(ConnectError::StateMismatch);
            }
            if let Some(error) = param("error") {
                let why = param("error_description").unwrap_or_else(|| error.clone());
                respond(
                    &mut stream,
                    400,
                    &format!("psn: X said no ({why}). You can close this tab."),
                )
                .await;
                return Err(ConnectError::Denied(why));
            }
            let Some(code) = param("code") else {
                respond(&mut stream, 400, "psn: the redirect carried no code.").await;
                return Err(ConnectError::Denied("the redirect carried no code".into()));
            };
            respond(
                &mut stream,
                200,
                "psn: X is connected. You can close this tab.",
            )
            .await;
            return Ok(Secret::new(code));
        }
    }
}

/// `psn connect bluesky`: logs in with an app password and stores the session sealed.
/// The app password itself is not kept: the session's refresh token renews it.
pub async fn connect_bluesky(
    settings: &Settings,
    store: &dyn Store,
    handle: &str,
    app_password: &Secret,
    pds: Option<&str>,
) -> Result<Connected, ConnectError> {
    let (vault, created) = open_or_create_vault(settings)?;
    let client = BlueskyClient::from_settings(&settings.platforms);
    let handle = handle.trim().trim_start_matches('@');
    let mut creds = client.create_session(pds, handle, app_password).await?;
    if creds.handle.is_empty() {
        creds.handle = handle.to_owned();
    }
    let mut connected = save(store, &vault, Platform::Bluesky, &creds, None, None).await?;
    connected.created_key_file = created;
    Ok(connected)
}

/// Seals `creds` under the account's id (the existing one for a known handle) and stores it.
async fn save(
    store: &dyn Store,
    vault: &Vault,
    platform: Platform,
    creds: &Credentials,
    display_name: Option<String>,
    scopes: Option<String>,
) -> Result<Connected, ConnectError> {
    let existing = store.find_account(platform, &creds.handle).await?;
    let now = crate::domain::now();
    let id = existing
        .as_ref()
        .map(|a| a.id.clone())
        .unwrap_or_else(AccountId::new);
    let sealed = vault.seal(&id, platform, &Tokens::from(creds));
    let account = Account {
        id,
        platform,
        handle: creds.handle.clone(),
        display_name: display_name
            .or_else(|| existing.as_ref().and_then(|a| a.display_name.clone())),
        platform_user_id: creds.user_id.clone(),
        server_url: creds.server_url.clone(),
        credentials: Some(sealed),
        token_expires_at: creds.expires_at,
        scopes,
        status: AccountStatus::Active,
        last_error: None,
        created_at: existing.as_ref().map_or(now, |a| a.created_at),
        updated_at: now,
    };
    let stored = store.upsert_account(&account).await?;
    tracing::info!(account = %stored.id, %platform, handle = %stored.handle, "account connected");
    Ok(Connected {
        account: stored,
        reconnected: existing.is_some(),
        created_key_file: None,
    })
}

/// `psn keys rotate`: see [`vault::rotate`].
pub async fn rotate_keys(
    settings: &Settings,
    store: &dyn Store,
) -> Result<vault::Rotation, VaultError> {
    vault::rotate(&settings.vault, store).await
}

fn random_url_safe(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// Reads an HTTP request head and returns its target (`/callback?code=…`).
async fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 || buf.len() + n > MAX_REQUEST {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    (method == "GET" && target.starts_with('/')).then(|| target.to_owned())
}

async fn respond(stream: &mut TcpStream, status: u16, message: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>psn</title><p>{}</p>",
        message.replace('&', "&amp;").replace('<', "&lt;")
    );
    let reply = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn authorize_url_binds_loopback_and_pkce() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults(dir.path().to_owned());
        assert!(matches!(
            start_x(&settings, 0).await.unwrap_err(),
            ConnectError::NoClientId
        ));
        settings.platforms.x_client_id = Some("cid".into());
        let auth = start_x(&settings, 0).await.unwrap();
        assert!(auth.redirect_uri.starts_with("http://127.0.0.1:"));
        assert!(auth.authorize_url.contains("code_challenge_method=S256"));
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(auth.verifier.expose().as_bytes()));
        assert!(auth.authorize_url.contains(&challenge));
        assert!(!auth.authorize_url.contains(auth.verifier.expose()));
        assert!(!format!("{auth:?}").contains(auth.verifier.expose()));
    }

    #[tokio::test]
    async fn a_foreign_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults(dir.path().to_owned());
        settings.platforms.x_client_id = Some("cid".into());
        let auth = start_x(&settings, 0).await.unwrap();
        let target = format!("{}?state=forged&code=abc", auth.redirect_uri);
        let visit = tokio::spawn(async move {
            let c = crate::platforms::http::client();
            c.get(target).send().await.map(|r| r.status())
        });
        let err = auth.wait_for_code().await.unwrap_err();
        assert!(matches!(err, ConnectError::StateMismatch), "{err}");
        assert_eq!(visit.await.unwrap().unwrap().as_u16(), 400);
    }

    #[tokio::test]
    async fn stray_requests_are_ignored_and_a_refusal_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults(dir.path().to_owned());
        settings.platforms.x_client_id = Some("cid".into());
        let auth = start_x(&settings, 0).await.unwrap();
        let base = auth.redirect_uri.trim_end_matches("/callback").to_owned();
        let state = auth.state.clone();
        let visit = tokio::spawn(async move {
            let c = crate::platforms::http::client();
            let favicon = c.get(format!("{base}/favicon.ico")).send().await.unwrap();
            let denied = c
                .get(format!(
                    "{base}/callback?state={state}&error=access_denied&error_description=The+user+said+no"
                ))
                .send()
                .await
                .unwrap();
            (favicon.status().as_u16(), denied.status().as_u16())
        });
        let err = auth.wait_for_code().await.unwrap_err();
        assert!(
            matches!(&err, ConnectError::Denied(why) if why == "The user said no"),
            "{err}"
        );
        assert_eq!(visit.await.unwrap(), (404, 400));
    }

    #[tokio::test]
    async fn the_code_is_taken_from_the_callback() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults(dir.path().to_owned());
        settings.platforms.x_client_id = Some("cid".into());
        let auth = start_x(&settings, 0).await.unwrap();
        let target = format!("{}?state={}&code=the-code", auth.redirect_uri, auth.state);
        let visit = tokio::spawn(async move {
            let c = crate::platforms::http::client();
            c.get(target).send().await.map(|r| r.status().as_u16())
        });
        assert_eq!(auth.wait_for_code().await.unwrap().expose(), "the-code");
        assert_eq!(visit.await.unwrap().unwrap(), 200);
    }
}
