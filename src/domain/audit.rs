//! The audit log: who did what to which thing, and when.

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// A person (`cli:alice`, `mcp`) or a scheduler instance (`scheduler:host-1234`).
    pub actor: String,
    /// What happened: a post event name (`schedule`, `claim`), or another verb.
    pub action: String,
    /// The id of the thing it happened to.
    pub subject: String,
    pub detail: serde_json::Value,
}
