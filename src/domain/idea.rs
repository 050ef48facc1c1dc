//! The idea bank: things worth posting about one day.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ids::IdeaId;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Idea {
    pub id: IdeaId,
    pub text: String,
    pub tags: Vec<String>,
    /// The content pillar it serves, if any.
    pub pillar: Option<String>,
    /// Where it came from: a URL, a conversation, "shower thought".
    pub source: Option<String>,
    pub status: IdeaStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdeaStatus {
    New,
    Used,
    Archived,
}

impl IdeaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdeaStatus::New => "new",
            IdeaStatus::Used => "used",
            IdeaStatus::Archived => "archived",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        [IdeaStatus::New, IdeaStatus::Used, IdeaStatus::Archived]
            .into_iter()
            .find(|s| s.as_str() == input)
    }
}
