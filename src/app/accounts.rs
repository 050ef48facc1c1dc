//! Connected accounts: listing them with their health, and finding the one a post targets.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::ctx::Ctx;
use super::error::{AppError, AppResult};
use super::text::check_text;
use crate::domain::{Account, AccountId, AccountStatus, Platform, now};

/// A token expiring sooner than this is reported as `expiring`.
const EXPIRY_WARNING: Duration = Duration::days(3);

/// Whether an account can publish now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountHealth {
    /// Can publish.
    Ok,
    /// Can publish, but its token expires within three days and may not refresh.
    Expiring,
    /// Its token has expired.
    Expired,
    /// The platform refused the stored credentials.
    NeedsReauth,
    /// Switched off by a person.
    Disabled,
}

/// One connected account as the tools show it. Credentials are never included.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccountView {
    pub id: AccountId,
    pub platform: Platform,
    pub handle: String,
    pub display_name: Option<String>,
    pub status: AccountStatus,
    /// When the access token expires (UTC), if the platform says.
    pub token_expires_at: Option<DateTime<Utc>>,
    pub health: AccountHealth,
    /// What the platform last said was wrong.
    pub last_error: Option<String>,
    /// The command that fixes an unhealthy account, e.g. `psn connect x`.
    pub fix: Option<String>,
}

/// A platform with no connected account.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MissingPlatform {
    pub platform: Platform,
    /// The command that connects one; `null` when this psn cannot connect the platform yet.
    pub connect_with: Option<String>,
}

/// The answer of `list_accounts`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
    /// Platforms without any account, and how to connect one.
    pub not_connected: Vec<MissingPlatform>,
}

impl AccountList {
    pub fn summary(&self) -> String {
        let mut s = if self.accounts.is_empty() {
            "No accounts are connected yet.".to_owned()
        } else {
            format!(
                "{} connected account{}:",
                self.accounts.len(),
                if self.accounts.len() == 1 { "" } else { "s" }
            )
        };
        for a in &self.accounts {
            let health = serde_json::to_value(a.health)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            s.push_str(&format!(
                "\n- {} {} {} ({health})",
                a.id, a.platform, a.handle
            ));
            if let Some(t) = a.token_expires_at {
                s.push_str(&format!(
                    ", token expires {}",
                    t.format("%Y-%m-%d %H:%M UTC")
                ));
            }
            if let Some(fix) = &a.fix {
                s.push_str(&format!(" — fix: {fix}"));
            }
        }
        if !self.not_connected.is_empty() {
            s.push_str("\nNot connected (the person runs the command in a terminal):");
            for m in &self.not_connected {
                match &m.connect_with {
                    Some(c) => s.push_str(&format!("\n- {}: `{c}`", m.platform)),
                    None => s.push_str(&format!(
                        "\n- {}: not supported by this psn yet",
                        m.platform
                    )),
                }
            }
        }
        s
    }
}

/// The command that connects (or reconnects) an account on `platform`, when `psn connect`
/// supports it (X with OAuth, Bluesky with an app password for a handle).
pub fn connect_command(platform: Platform, handle: Option<&str>) -> Option<String> {
    match platform {
        Platform::X => Some("psn connect x".into()),
        Platform::Bluesky => Some(format!(
            "psn connect bluesky --handle {}",
            handle.map_or("<handle>", |h| h.trim().trim_start_matches('@'))
        )),
        _ => None,
    }
}

/// What a person does to connect an account: "run `psn connect x`", or why they cannot yet.
pub fn connect_advice(platform: Platform, handle: Option<&str>) -> String {
    match connect_command(platform, handle) {
        Some(command) => format!("run `{command}`"),
        None => format!(
            "psn cannot connect {platform} accounts yet (this version connects x and bluesky)"
        ),
    }
}

pub fn health(account: &Account, at: DateTime<Utc>) -> AccountHealth {
    match account.status {
        AccountStatus::Disabled => AccountHealth::Disabled,
        AccountStatus::NeedsReauth => AccountHealth::NeedsReauth,
        AccountStatus::Active => match account.token_expires_at {
            Some(t) if t <= at => AccountHealth::Expired,
            Some(t) if t - at <= EXPIRY_WARNING => AccountHealth::Expiring,
            _ => AccountHealth::Ok,
        },
    }
}

pub fn view(account: &Account, at: DateTime<Utc>) -> AccountView {
    let health = health(account, at);
    let command = connect_command(account.platform, Some(&account.handle));
    let fix = match health {
        AccountHealth::Ok => None,
        AccountHealth::Disabled => Some(format!(
            "the account is disabled; {} to connect it again",
            connect_advice(account.platform, Some(&account.handle))
        )),
        _ => Some(command.unwrap_or_else(|| connect_advice(account.platform, None))),
    };
    AccountView {
        id: account.id.clone(),
        platform: account.platform,
        handle: account.handle.clone(),
        display_name: account.display_name.clone(),
        status: account.status,
        token_expires_at: account.token_expires_at,
        health,
        last_error: account.last_error.clone(),
        fix,
    }
}

/// Every account with its health, and the platforms still to connect.
pub async fn list_accounts(cx: Ctx<'_>) -> AppResult<AccountList> {
    let at = now();
    let accounts = cx.store.list_accounts().await?;
    let not_connected = Platform::ALL
        .into_iter()
        .filter(|p| !accounts.iter().any(|a| a.platform == *p))
        .map(|platform| MissingPlatform {
            platform,
            connect_with: connect_command(platform, None),
        })
        .collect();
    Ok(AccountList {
        accounts: accounts.iter().map(|a| view(a, at)).collect(),
        not_connected,
    })
}

/// Finds an account by id (`acct_…`) or handle (with or without `@`), on `platform` if given.
pub async fn find(
    cx: Ctx<'_>,
    platform: Option<Platform>,
    reference: &str,
) -> AppResult<Option<Account>> {
    check_text("account", reference, 200, false)?;
    let reference = reference.trim();
    if reference.starts_with(AccountId::PREFIX) && reference.contains('_') {
        let id = AccountId::parse(reference).map_err(|e| AppError::invalid(e.to_string()))?;
        return match cx.store.get_account(&id).await {
            Ok(a) if platform.is_none_or(|p| p == a.platform) => Ok(Some(a)),
            Ok(a) => Err(AppError::invalid(format!(
                "account {id} is a {} account, not a {} one",
                a.platform,
                platform.map_or("", Platform::as_str)
            ))),
            Err(crate::store::StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    let bare = reference.trim_start_matches('@');
    let candidates = [bare.to_owned(), format!("@{bare}")];
    match platform {
        Some(p) => {
            for handle in &candidates {
                if let Some(a) = cx.store.find_account(p, handle).await? {
                    return Ok(Some(a));
                }
            }
            Ok(None)
        }
        None => {
            let all = cx.store.list_accounts().await?;
            let mut found: Vec<Account> = all
                .into_iter()
                .filter(|a| a.handle.trim_start_matches('@').eq_ignore_ascii_case(bare))
                .collect();
            if found.len() > 1 {
                let names: Vec<String> = found.iter().map(|a| a.platform.to_string()).collect();
                return Err(AppError::invalid(format!(
                    "@{bare} is connected on several platforms ({}): pass the platform too, or the account id",
                    names.join(", ")
                )));
            }
            Ok(found.pop())
        }
    }
}

/// The account a new post for `platform` goes out from.
///
/// With a reference, that account must exist and be able to publish. Without one, the
/// platform's only active account is used; with none the post stays without an
/// account (a draft may be written before connecting), and with several the caller
/// must choose.
pub async fn resolve_target(
    cx: Ctx<'_>,
    platform: Platform,
    reference: Option<&str>,
) -> AppResult<Option<Account>> {
    if let Some(reference) = reference.filter(|r| !r.trim().is_empty()) {
        let shown = if reference.starts_with(AccountId::PREFIX) {
            reference.to_owned()
        } else {
            format!("@{}", reference.trim().trim_start_matches('@'))
        };
        let handle = (!reference.starts_with(AccountId::PREFIX)).then_some(reference);
        let Some(account) = find(cx, Some(platform), reference).await? else {
            return Err(AppError::NotConnected(format!(
                "{platform} account {shown} is not connected: {}",
                connect_advice(platform, handle)
            )));
        };
        if account.status != AccountStatus::Active {
            return Err(AppError::NotConnected(format!(
                "{platform} account {shown} is {} and cannot publish: {}",
                account.status.as_str(),
                connect_advice(platform, Some(&account.handle))
            )));
        }
        return Ok(Some(account));
    }
    let mut active: Vec<Account> = cx
        .store
        .list_accounts()
        .await?
        .into_iter()
        .filter(|a| a.platform == platform && a.status == AccountStatus::Active)
        .collect();
    if active.len() > 1 {
        let handles: Vec<&str> = active.iter().map(|a| a.handle.as_str()).collect();
        return Err(AppError::invalid(format!(
            "several {platform} accounts are connected ({}): name one in the target's `account`",
            handles.join(", ")
        )));
    }
    Ok(active.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(status: AccountStatus, expires: Option<DateTime<Utc>>) -> Account {
        let t = now();
        Account {
            id: AccountId::new(),
            platform: Platform::X,
            handle: "psn_app".into(),
            display_name: None,
            platform_user_id: None,
            server_url: None,
            credentials: None,
            token_expires_at: expires,
            scopes: None,
            status,
            last_error: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn health_follows_status_and_expiry() {
        let t = now();
        assert_eq!(
            health(&account(AccountStatus::Active, None), t),
            AccountHealth::Ok
        );
        let soon = account(AccountStatus::Active, Some(t + Duration::hours(5)));
        assert_eq!(health(&soon, t), AccountHealth::Expiring);
        let gone = account(AccountStatus::Active, Some(t - Duration::hours(1)));
        assert_eq!(health(&gone, t), AccountHealth::Expired);
        let v = view(&gone, t);
        assert_eq!(v.fix.as_deref(), Some("psn connect x"));
        assert_eq!(
            connect_command(Platform::Bluesky, Some("@me.bsky.social")).as_deref(),
            Some("psn connect bluesky --handle me.bsky.social")
        );
        assert!(connect_command(Platform::Linkedin, None).is_none());
        assert!(connect_advice(Platform::Tiktok, None).contains("cannot connect tiktok"));
        assert_eq!(
            health(&account(AccountStatus::NeedsReauth, None), t),
            AccountHealth::NeedsReauth
        );
    }
}
