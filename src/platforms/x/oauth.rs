//! OAuth 2 with X: the authorize URL (PKCE S256), the code exchange, refresh-token
//! requests, and the user a token belongs to.

use chrono::{DateTime, Utc};

use super::wire::{DataEnvelope, OAuthError, WireToken, WireUser};
use super::{SCOPES, XClient};
use crate::config::Secret;
use crate::platforms::PlatformError;
use crate::platforms::http::{self, CallKind};

/// Tokens from X's token endpoint.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The user a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XUser {
    pub id: String,
    pub username: String,
    pub name: Option<String>,
}

impl XClient {
    /// The authorize URL for the PKCE flow.
    pub fn authorize_url(
        authorize_base: &str,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
    ) -> String {
        let mut url = match reqwest::Url::parse(authorize_base) {
            Ok(u) => u,
            Err(_) => return authorize_base.to_owned(),
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Exchanges an authorization code (PKCE) for tokens.
    #[tracing::instrument(name = "x.exchange_code", skip_all)]
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, PlatformError> {
        let client_id = self.require_client_id()?;
        let form = [
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
            ("client_id", client_id),
        ];
        self.token_request(&form, "exchanging the X authorization code")
            .await
    }

    /// The user the token belongs to (`GET /2/users/me`).
    #[tracing::instrument(name = "x.me", skip_all)]
    pub async fn me(&self, access_token: &Secret) -> Result<XUser, PlatformError> {
        let what = "reading the X user";
        let reply = self
            .call(
                self.http
                    .get(self.url("/2/users/me"))
                    .bearer_auth(access_token.expose()),
                CallKind::Read,
                what,
            )
            .await?;
        let me: DataEnvelope<WireUser> = reply.json(what, CallKind::Read)?;
        Ok(XUser {
            id: me.data.id,
            username: me.data.username,
            name: me.data.name,
        })
    }

    pub(super) fn require_client_id(&self) -> Result<&str, PlatformError> {
        self.client_id.as_deref().ok_or_else(|| PlatformError::Permanent {
            message: "no X client id: set PSN_X_CLIENT_ID (platforms.x.client_id) to your X app's OAuth 2 client id".into(),
        })
    }

    pub(super) async fn token_request(
        &self,
        form: &[(&str, &str)],
        what: &str,
    ) -> Result<TokenSet, PlatformError> {
        let mut req = self.http.post(self.url("/2/oauth2/token")).form(form);
        if let (Some(id), Some(secret)) = (&self.client_id, &self.client_secret) {
            req = req.basic_auth(id, Some(secret.expose()));
        }
        let reply = http::send(req, CallKind::Read, what).await?;
        self.last.record(http::x_rate_limit(&reply.headers));
        if !reply.is_success() {
            let err: OAuthError = serde_json::from_slice(&reply.body).unwrap_or_default();
            let said = err
                .error_description
                .or(err.error)
                .unwrap_or_else(|| format!("HTTP {}", reply.status.as_u16()));
            let message = format!("{what}: X answered {}: {said}", reply.status.as_u16());
            return Err(match reply.status.as_u16() {
                400 | 401 => PlatformError::AuthExpired {
                    message: format!("{message}; run `psn connect x` again"),
                },
                _ => {
                    http::status_error(reply.status, &reply.headers, None, message, CallKind::Read)
                }
            });
        }
        let t: WireToken = reply.json(what, CallKind::Read)?;
        Ok(TokenSet {
            access_token: Secret::new(t.access_token),
            refresh_token: t.refresh_token.map(Secret::new),
            expires_at: t
                .expires_in
                .map(|s| crate::domain::now() + chrono::Duration::seconds(s)),
            scope: t.scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::x::DEFAULT_AUTHORIZE_URL;

    #[test]
    fn authorize_url_has_pkce_parameters() {
        let url = XClient::authorize_url(
            DEFAULT_AUTHORIZE_URL,
            "cid",
            "http://127.0.0.1:5000/callback",
            "st",
            "chal",
        );
        assert!(url.starts_with("https://x.com/i/oauth2/authorize?response_type=code"));
        for p in [
            "client_id=cid",
            "state=st",
            "code_challenge=chal",
            "code_challenge_method=S256",
            "offline.access",
        ] {
            assert!(url.contains(p), "{url} lacks {p}");
        }
    }
}
