//! `create_post`: drafts for one or more targets, validated by each platform's rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::accounts::{connect_advice, resolve_target};
use super::super::ctx::Ctx;
use super::super::error::{AppError, AppResult};
use super::super::text::problems;

use crate::domain::media;
use crate::domain::validate::{self, Limits, PartMeasure};
use crate::domain::{
    AccountId, GroupId, Media, NewPost, Platform, Post, PostContent, PostId, PostPart, PostStatus,
    now,
};

/// Most targets one call may name (every platform, a few accounts each).
pub const MAX_TARGETS: usize = 20;
/// Most parts in a thread.
pub const MAX_PARTS: usize = 50;
/// Most media per part (platforms allow 4 to 20).
pub const MAX_MEDIA: usize = 20;
/// A hard ceiling on one part's text, far above every platform's limit, so absurd input
/// is refused before any work is done on it.
pub const MAX_PART_CHARS: usize = 100_000;

/// Where a post goes: a platform, and optionally which of your accounts on it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    pub platform: Platform,
    /// The account to post from: its id (`acct_…`) or handle (`@name`). Leave it out to
    /// use the platform's only connected account (or none yet: the post stays a draft
    /// until one is connected).
    #[serde(default)]
    pub account: Option<String>,
}

/// One part of a post; several parts make a thread (X, Bluesky, Threads, Mastodon).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartInput {
    /// The text of this part, exactly as it should appear.
    pub text: String,
    /// Pictures or videos attached to this part.
    #[serde(default)]
    pub media: Vec<MediaInput>,
}

/// A picture or video to attach.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaInput {
    /// An absolute local file path or an https URL.
    pub source: String,
    /// Alt text for screen readers; strongly recommended for images.
    #[serde(default)]
    pub alt: Option<String>,
}

/// What `create_post` needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePostInput {
    /// One target per platform/account; one post is created for each, sharing a group id.
    pub targets: Vec<TargetInput>,
    /// The post's parts in order: one for a single post, several for a thread.
    pub parts: Vec<PartInput>,
}

/// One created post.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CreatedPost {
    pub post_id: PostId,
    pub platform: Platform,
    pub account_id: Option<AccountId>,
    /// The account's handle, when one was chosen.
    pub account_handle: Option<String>,
    pub status: PostStatus,
    /// Each part's measured length against the platform's limit.
    pub measures: Vec<PartMeasure>,
}

/// The answer of `create_post`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CreatedPosts {
    /// Shared by every post created in this call; `schedule_post` accepts it to schedule them all.
    pub group_id: GroupId,
    pub posts: Vec<CreatedPost>,
    /// Things worth fixing that do not block the post (missing alt text, no account yet…).
    pub warnings: Vec<String>,
}

impl CreatedPosts {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Created {} draft{} in group {}:",
            self.posts.len(),
            if self.posts.len() == 1 { "" } else { "s" },
            self.group_id
        );
        for p in &self.posts {
            let lengths: Vec<String> = p
                .measures
                .iter()
                .map(|m| format!("{}/{} {}", m.length, m.limit, m.unit))
                .collect();
            s.push_str(&format!(
                "\n- {} {}{} ({})",
                p.post_id,
                p.platform,
                p.account_handle
                    .as_ref()
                    .map_or_else(String::new, |h| format!(" from {h}")),
                lengths.join(", ")
            ));
        }
        for w in &self.warnings {
            s.push_str(&format!("\nwarning: {w}"));
        }
        s
    }
}

/// Turns the parts into content, inspecting every media file; collects every problem.
pub(crate) fn build_content(parts: &[PartInput]) -> AppResult<PostContent> {
    let mut errors = Vec::new();
    if parts.is_empty() {
        errors.push("a post needs at least one part: pass parts: [{\"text\": \"…\"}]".into());
    }
    if parts.len() > MAX_PARTS {
        errors.push(format!(
            "{} parts is more than psn accepts ({MAX_PARTS}): split the thread",
            parts.len()
        ));
    }
    let mut built = Vec::with_capacity(parts.len().min(MAX_PARTS));
    for (i, part) in parts.iter().take(MAX_PARTS).enumerate() {
        let n = i + 1;
        let field = format!("part {n} text");
        if let Some(p) = problems(&field, &part.text, MAX_PART_CHARS, true) {
            errors.push(p);
        } else if part.text.trim().is_empty() && part.media.is_empty() {
            errors.push(format!(
                "part {n} has neither text nor media: write something"
            ));
        }
        if part.media.len() > MAX_MEDIA {
            errors.push(format!(
                "part {n} has {} media, more than psn accepts ({MAX_MEDIA})",
                part.media.len()
            ));
        }
        let mut media: Vec<Media> = Vec::new();
        for (j, m) in part.media.iter().take(MAX_MEDIA).enumerate() {
            let what = format!("part {n} media {}", j + 1);
            if let Some(p) = problems(&format!("{what} source"), &m.source, 4096, false) {
                errors.push(p);
                continue;
            }
            if let Some(p) = m
                .alt
                .as_deref()
                .and_then(|alt| problems(&format!("{what} alt text"), alt, 5_000, true))
            {
                errors.push(p);
                continue;
            }
            match media::inspect(m.source.trim(), m.alt.clone()) {
                Ok(found) => media.push(found),
                Err(e) => errors.push(format!("{what}: {e}")),
            }
        }
        built.push(PostPart {
            text: part.text.clone(),
            media,
        });
    }
    if errors.is_empty() {
        Ok(PostContent { parts: built })
    } else {
        Err(AppError::Invalid {
            message: "the post cannot be created".into(),
            errors,
        })
    }
}

pub(crate) fn limits(cx: Ctx<'_>) -> Limits {
    Limits {
        mastodon_max_chars: cx.settings.platforms.mastodon_max_chars,
    }
}

/// Creates one draft per target, all or none.
pub async fn create_post(cx: Ctx<'_>, input: CreatePostInput) -> AppResult<CreatedPosts> {
    if input.targets.is_empty() {
        return Err(AppError::invalid(
            "no targets: pass at least one, e.g. targets: [{\"platform\": \"bluesky\"}]",
        ));
    }
    if input.targets.len() > MAX_TARGETS {
        return Err(AppError::invalid(format!(
            "{} targets is more than psn accepts ({MAX_TARGETS})",
            input.targets.len()
        )));
    }
    let content = build_content(&input.parts)?;
    let limits = limits(cx);

    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut planned: Vec<(Platform, Option<crate::domain::Account>, Vec<PartMeasure>)> = Vec::new();
    for target in &input.targets {
        let account = match resolve_target(cx, target.platform, target.account.as_deref()).await {
            Ok(a) => a,
            Err(e @ (AppError::Unavailable(_) | AppError::Internal(_))) => return Err(e),
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let same = planned.iter().any(|(p, a, _)| {
            *p == target.platform && a.as_ref().map(|a| &a.id) == account.as_ref().map(|a| &a.id)
        });
        if same {
            errors.push(format!(
                "{} is named twice as a target: name each platform/account once",
                target.platform
            ));
            continue;
        }
        let report = validate::validate(target.platform, &content, &limits);
        errors.extend(
            report
                .errors
                .iter()
                .map(|e| format!("{}: {e}", target.platform)),
        );
        warnings.extend(
            report
                .warnings
                .iter()
                .map(|w| format!("{}: {w}", target.platform)),
        );
        if account.is_none() {
            warnings.push(format!(
                "no {p} account connected yet: the post is saved without one and cannot publish until one is ({})",
                connect_advice(target.platform, None),
                p = target.platform
            ));
        }
        planned.push((target.platform, account, report.measures));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid {
            message: "the post cannot be created".into(),
            errors,
        });
    }

    let group_id = GroupId::new();
    let at = now();
    let mut posts: Vec<Post> = Vec::with_capacity(planned.len());
    let mut created = Vec::with_capacity(planned.len());
    for (platform, account, measures) in planned {
        let post = NewPost {
            group_id: group_id.clone(),
            platform,
            account_id: account.as_ref().map(|a| a.id.clone()),
            content: content.clone(),
            max_attempts: i64::from(cx.settings.scheduler.max_attempts),
            created_by: cx.actor.to_owned(),
        }
        .into_post(at);
        created.push(CreatedPost {
            post_id: post.id.clone(),
            platform,
            account_id: post.account_id.clone(),
            account_handle: account.map(|a| a.handle),
            status: post.status,
            measures,
        });
        posts.push(post);
    }
    cx.store.insert_posts(&posts, cx.actor).await?;
    tracing::info!(group = %group_id, posts = posts.len(), "created posts");
    Ok(CreatedPosts {
        group_id,
        posts: created,
        warnings,
    })
}
