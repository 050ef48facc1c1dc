//! A post: what is said, where, when, and where it is in its life.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::{AccountId, GroupId, PostId};
use super::platform::Platform;
use super::status::{PostEvent, PostStatus, TransitionError, transition};

/// What a post says: one part, or several for a thread (each part replies to the one before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PostContent {
    pub parts: Vec<PostPart>,
}

/// One part of a post or thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PostPart {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
}

/// A picture or video attached to a part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Media {
    /// A local file path or an https URL.
    pub source: String,
    pub kind: MediaKind,
    /// The MIME type, e.g. `image/png`.
    pub mime: String,
    /// Size in bytes when known (always known for local files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Alt text read by screen readers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Gif,
    Video,
}

/// One post for one target, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Post {
    pub id: PostId,
    pub group_id: GroupId,
    pub platform: Platform,
    pub account_id: Option<AccountId>,
    pub status: PostStatus,
    pub content: PostContent,
    /// Hash of the content, media and target: what an approval is bound to.
    pub content_hash: String,
    /// The time the user asked for, in UTC.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The user's IANA time zone for `scheduled_at`.
    pub schedule_tz: Option<String>,
    /// When the scheduler should next try: `scheduled_at`, or later after a retryable failure.
    pub run_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub locked_by: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// Chosen once before the first publish request and reused, so a lost answer can be
    /// reconciled (Bluesky rkey, Mastodon Idempotency-Key).
    pub publish_key: Option<String>,
    pub platform_post_id: Option<String>,
    pub platform_url: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub approval_hash: Option<String>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub engagement_score: Option<f64>,
    pub is_outlier: bool,
    pub created_by: String,
    /// Bumped on every write; an update names the version it read (optimistic concurrency).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is needed to create a post.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub group_id: GroupId,
    pub platform: Platform,
    pub account_id: Option<AccountId>,
    pub content: PostContent,
    pub max_attempts: i64,
    pub created_by: String,
}

impl NewPost {
    /// The post as it is first stored: a draft.
    pub fn into_post(self, now: DateTime<Utc>) -> Post {
        let content_hash = content_hash(self.platform, self.account_id.as_ref(), &self.content);
        Post {
            id: PostId::new(),
            group_id: self.group_id,
            platform: self.platform,
            account_id: self.account_id,
            status: PostStatus::Draft,
            content: self.content,
            content_hash,
            scheduled_at: None,
            schedule_tz: None,
            run_at: None,
            attempts: 0,
            max_attempts: self.max_attempts,
            locked_by: None,
            lease_until: None,
            publish_key: None,
            platform_post_id: None,
            platform_url: None,
            published_at: None,
            last_error: None,
            approval_hash: None,
            approved_by: None,
            approved_at: None,
            engagement_score: None,
            is_outlier: false,
            created_by: self.created_by,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Post {
    /// Applies an event: the new status comes from the status machine, and the caller
    /// then changes the fields that go with it before handing the result to the store.
    pub fn apply(&self, event: PostEvent) -> Result<Post, TransitionError> {
        let mut next = self.clone();
        next.status = transition(self.status, event)?;
        Ok(next)
    }

    /// Replaces the content (and target account) and recomputes the hash. An approval
    /// bound to the old hash no longer matches, so it is dropped.
    pub fn set_content(&mut self, content: PostContent) {
        self.content = content;
        self.content_hash = content_hash(self.platform, self.account_id.as_ref(), &self.content);
        if self.approval_hash.as_deref() != Some(self.content_hash.as_str()) {
            self.approval_hash = None;
            self.approved_by = None;
            self.approved_at = None;
        }
    }

    /// The time this post is listed under: its run time once it has one.
    pub fn sort_at(&self) -> DateTime<Utc> {
        self.run_at.unwrap_or(self.created_at)
    }
}

/// SHA-256 over the target and the canonical JSON of the content, hex encoded.
pub fn content_hash(
    platform: Platform,
    account: Option<&AccountId>,
    content: &PostContent,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(platform.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(account.map(AccountId::as_str).unwrap_or("").as_bytes());
    hasher.update([0]);
    // serde_json writes struct fields in declaration order, so this is canonical.
    hasher.update(serde_json::to_vec(content).expect("post content always serializes"));
    let digest = hasher.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Truncates a time to whole microseconds, the precision both stores keep, so a value
/// read back equals the value written.
pub fn to_store_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// The current time at store precision.
pub fn now() -> DateTime<Utc> {
    to_store_precision(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> PostContent {
        PostContent {
            parts: vec![PostPart {
                text: s.into(),
                media: vec![],
            }],
        }
    }

    #[test]
    fn hash_binds_content_and_target() {
        let a = AccountId::new();
        let h = content_hash(Platform::X, Some(&a), &text("hi"));
        assert_eq!(h.len(), 64);
        assert_eq!(h, content_hash(Platform::X, Some(&a), &text("hi")));
        assert_ne!(h, content_hash(Platform::X, Some(&a), &text("hi!")));
        assert_ne!(h, content_hash(Platform::Bluesky, Some(&a), &text("hi")));
        assert_ne!(
            h,
            content_hash(Platform::X, Some(&AccountId::new()), &text("hi"))
        );
    }

    #[test]
    fn editing_voids_an_approval() {
        let mut post = NewPost {
            group_id: GroupId::new(),
            platform: Platform::X,
            account_id: None,
            content: text("hello"),
            max_attempts: 5,
            created_by: "test".into(),
        }
        .into_post(now());
        post.approval_hash = Some(post.content_hash.clone());
        post.approved_by = Some("boss".into());
        post.set_content(text("hello"));
        assert!(
            post.approved_by.is_some(),
            "same content keeps the approval"
        );
        post.set_content(text("hello, world"));
        assert!(post.approval_hash.is_none() && post.approved_by.is_none());
    }
}
