//! The idea bank: capture ideas as they come, list them when planning.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::error::{AppError, AppResult};
use super::text::{preview, problems};
use crate::domain::{Idea, IdeaId, IdeaStatus, now};
use crate::store::{Cursor, IdeaFilter, PageRequest};

const MAX_IDEA_CHARS: usize = 10_000;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;

/// What `capture_idea` needs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureIdeaInput {
    /// The idea, in a sentence or a paragraph (at most 10,000 characters).
    pub text: String,
    /// Tags to find it by later (`launch`, `rust`); a leading `#` is dropped, case is folded.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The content pillar it serves, if any (e.g. `education`, `behind-the-scenes`).
    #[serde(default)]
    pub pillar: Option<String>,
    /// Where it came from: a URL, a conversation, a note.
    #[serde(default)]
    pub source: Option<String>,
}

/// The answer of `capture_idea`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CapturedIdea {
    pub idea: Idea,
}

impl CapturedIdea {
    pub fn summary(&self) -> String {
        format!("Captured idea {}: {}", self.idea.id, line(&self.idea))
    }
}

/// What `list_ideas` needs; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListIdeasInput {
    /// Only ideas in this status (default: every status).
    #[serde(default)]
    pub status: Option<IdeaStatus>,
    /// Only ideas with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Only ideas for this pillar.
    #[serde(default)]
    pub pillar: Option<String>,
    /// Page size: default 50, at most 200.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; leave out for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of ideas, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IdeaPage {
    pub ideas: Vec<Idea>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl IdeaPage {
    pub fn summary(&self) -> String {
        if self.ideas.is_empty() {
            return "No ideas match. Capture one with capture_idea.".into();
        }
        let mut s = format!(
            "{} idea{}:",
            self.ideas.len(),
            if self.ideas.len() == 1 { "" } else { "s" }
        );
        for idea in &self.ideas {
            s.push_str(&format!("\n- {} {}", idea.id, line(idea)));
        }
        if let Some(c) = &self.next_cursor {
            s.push_str(&format!("\nMore: call again with cursor {c}"));
        }
        s
    }
}

fn line(idea: &Idea) -> String {
    let mut s = format!("[{}] {}", idea.status.as_str(), preview(&idea.text, 100));
    if !idea.tags.is_empty() {
        let tags: Vec<String> = idea.tags.iter().map(|t| format!("#{t}")).collect();
        s.push_str(&format!(" {}", tags.join(" ")));
    }
    if let Some(p) = &idea.pillar {
        s.push_str(&format!(" (pillar: {p})"));
    }
    s
}

/// A tag as stored: trimmed, without `#`, lower case.
fn normalize_tag(tag: &str) -> String {
    tag.trim().trim_start_matches('#').trim().to_lowercase()
}

/// Saves an idea in the bank.
pub async fn capture_idea(cx: Ctx<'_>, input: CaptureIdeaInput) -> AppResult<CapturedIdea> {
    let mut errors = Vec::new();
    errors.extend(problems(
        "the idea text",
        &input.text,
        MAX_IDEA_CHARS,
        false,
    ));
    if input.tags.len() > MAX_TAGS {
        errors.push(format!(
            "{} tags is more than psn accepts ({MAX_TAGS})",
            input.tags.len()
        ));
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in input.tags.iter().take(MAX_TAGS) {
        if let Some(p) = problems("a tag", tag, MAX_TAG_CHARS, false) {
            errors.push(p);
            continue;
        }
        let t = normalize_tag(tag);
        if t.is_empty() {
            errors.push("a tag is only `#`: drop it".into());
        } else if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let pillar = optional(&mut errors, "the pillar", input.pillar.as_deref(), 100);
    let source = optional(&mut errors, "the source", input.source.as_deref(), 2_000);
    if !errors.is_empty() {
        return Err(AppError::Invalid {
            message: "the idea cannot be saved".into(),
            errors,
        });
    }
    let at = now();
    let idea = Idea {
        id: IdeaId::new(),
        text: input.text.trim().to_owned(),
        tags,
        pillar,
        source,
        status: IdeaStatus::New,
        created_by: cx.actor.to_owned(),
        created_at: at,
        updated_at: at,
    };
    cx.store.insert_idea(&idea).await?;
    Ok(CapturedIdea { idea })
}

/// A trimmed optional field; blank means absent.
fn optional(
    errors: &mut Vec<String>,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    match problems(field, value, max, false) {
        Some(p) => {
            errors.push(p);
            None
        }
        None => Some(value.to_owned()),
    }
}

/// Ideas, newest first, filtered.
pub async fn list_ideas(cx: Ctx<'_>, input: ListIdeasInput) -> AppResult<IdeaPage> {
    let limit = input.limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
    if limit == 0 || limit > PageRequest::MAX_LIMIT {
        return Err(AppError::invalid(format!(
            "limit {limit} is out of range: use 1 to {}",
            PageRequest::MAX_LIMIT
        )));
    }
    let mut errors = Vec::new();
    let tag = optional(&mut errors, "the tag", input.tag.as_deref(), MAX_TAG_CHARS)
        .map(|t| normalize_tag(&t));
    let pillar = optional(&mut errors, "the pillar", input.pillar.as_deref(), 100);
    if !errors.is_empty() {
        return Err(AppError::Invalid {
            message: "invalid filter".into(),
            errors,
        });
    }
    let after = match input.cursor.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(Cursor::decode(c).map_err(|e| AppError::invalid(e.to_string()))?),
    };
    let filter = IdeaFilter {
        status: input.status,
        tag,
        pillar,
    };
    let page = cx
        .store
        .list_ideas(&filter, &PageRequest { limit, after })
        .await?;
    Ok(IdeaPage {
        ideas: page.items,
        next_cursor: page.next_cursor,
    })
}
