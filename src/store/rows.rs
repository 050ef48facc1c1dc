//! Rows as the database returns them, and their conversion into domain types. A value
//! this psn cannot read becomes [`StoreError::Corrupt`], never a panic.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{StoreError, StoreResult};
use crate::domain::{
    Account, AccountId, AccountStatus, AuditEntry, GroupId, Idea, IdeaId, IdeaStatus, Platform,
    Post, PostContent, PostId, PostStatus, Sealed,
};

/// The columns of `posts` in the order [`PostRow`] reads them.
pub const POST_COLUMNS: &str = "id, group_id, platform, account_id, status, content, content_hash, \
    scheduled_at, schedule_tz, run_at, attempts, max_attempts, locked_by, lease_until, publish_key, \
    platform_post_id, platform_url, published_at, last_error, approval_hash, approved_by, approved_at, \
    engagement_score, is_outlier, created_by, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct PostRow {
    id: String,
    group_id: String,
    platform: String,
    account_id: Option<String>,
    status: String,
    content: Json<PostContent>,
    content_hash: String,
    scheduled_at: Option<DateTime<Utc>>,
    schedule_tz: Option<String>,
    run_at: Option<DateTime<Utc>>,
    attempts: i64,
    max_attempts: i64,
    locked_by: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    publish_key: Option<String>,
    platform_post_id: Option<String>,
    platform_url: Option<String>,
    published_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    approval_hash: Option<String>,
    approved_by: Option<String>,
    approved_at: Option<DateTime<Utc>>,
    engagement_score: Option<f64>,
    is_outlier: bool,
    created_by: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

pub fn platform(s: &str) -> StoreResult<Platform> {
    Platform::parse(s).map_err(|e| corrupt("platform", e))
}

impl TryFrom<PostRow> for Post {
    type Error = StoreError;

    fn try_from(r: PostRow) -> StoreResult<Post> {
        Ok(Post {
            id: PostId::parse(&r.id).map_err(|e| corrupt("post id", e))?,
            group_id: GroupId::parse(&r.group_id).map_err(|e| corrupt("group id", e))?,
            platform: platform(&r.platform)?,
            account_id: r
                .account_id
                .as_deref()
                .map(AccountId::parse)
                .transpose()
                .map_err(|e| corrupt("account id", e))?,
            status: PostStatus::parse(&r.status)
                .ok_or_else(|| corrupt("post status", &r.status))?,
            content: r.content.0,
            content_hash: r.content_hash,
            scheduled_at: r.scheduled_at,
            schedule_tz: r.schedule_tz,
            run_at: r.run_at,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            locked_by: r.locked_by,
            lease_until: r.lease_until,
            publish_key: r.publish_key,
            platform_post_id: r.platform_post_id,
            platform_url: r.platform_url,
            published_at: r.published_at,
            last_error: r.last_error,
            approval_hash: r.approval_hash,
            approved_by: r.approved_by,
            approved_at: r.approved_at,
            engagement_score: r.engagement_score,
            is_outlier: r.is_outlier,
            created_by: r.created_by,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub const ACCOUNT_COLUMNS: &str = "id, platform, handle, display_name, platform_user_id, server_url, \
    credentials, key_id, token_expires_at, scopes, status, last_error, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct AccountRow {
    id: String,
    platform: String,
    handle: String,
    display_name: Option<String>,
    platform_user_id: Option<String>,
    server_url: Option<String>,
    credentials: Option<Vec<u8>>,
    key_id: Option<String>,
    token_expires_at: Option<DateTime<Utc>>,
    scopes: Option<String>,
    status: String,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(r: AccountRow) -> StoreResult<Account> {
        let credentials = match (r.credentials, r.key_id) {
            (Some(ciphertext), Some(key_id)) => Some(Sealed { key_id, ciphertext }),
            (None, _) => None,
            (Some(_), None) => {
                return Err(corrupt(
                    "account credentials",
                    "sealed credentials without a key id",
                ));
            }
        };
        Ok(Account {
            id: AccountId::parse(&r.id).map_err(|e| corrupt("account id", e))?,
            platform: platform(&r.platform)?,
            handle: r.handle,
            display_name: r.display_name,
            platform_user_id: r.platform_user_id,
            server_url: r.server_url,
            credentials,
            token_expires_at: r.token_expires_at,
            scopes: r.scopes,
            status: AccountStatus::parse(&r.status)
                .ok_or_else(|| corrupt("account status", &r.status))?,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub const IDEA_COLUMNS: &str =
    "id, text, tags, pillar, source, status, created_by, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct IdeaRow {
    id: String,
    text: String,
    tags: Json<Vec<String>>,
    pillar: Option<String>,
    source: Option<String>,
    status: String,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<IdeaRow> for Idea {
    type Error = StoreError;

    fn try_from(r: IdeaRow) -> StoreResult<Idea> {
        Ok(Idea {
            id: IdeaId::parse(&r.id).map_err(|e| corrupt("idea id", e))?,
            text: r.text,
            tags: r.tags.0,
            pillar: r.pillar,
            source: r.source,
            status: IdeaStatus::parse(&r.status)
                .ok_or_else(|| corrupt("idea status", &r.status))?,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    subject: String,
    detail: Json<serde_json::Value>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            detail: r.detail.0,
        }
    }
}
