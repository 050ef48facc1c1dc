//! The social platforms psn publishes to.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A social platform psn can publish to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    X,
    Bluesky,
    Linkedin,
    Instagram,
    Tiktok,
    Threads,
    Mastodon,
}

impl Platform {
    pub const ALL: [Platform; 7] = [
        Platform::X,
        Platform::Bluesky,
        Platform::Linkedin,
        Platform::Instagram,
        Platform::Tiktok,
        Platform::Threads,
        Platform::Mastodon,
    ];

    /// The lowercase name used in the database, the CLI and the MCP schema.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::X => "x",
            Platform::Bluesky => "bluesky",
            Platform::Linkedin => "linkedin",
            Platform::Instagram => "instagram",
            Platform::Tiktok => "tiktok",
            Platform::Threads => "threads",
            Platform::Mastodon => "mastodon",
        }
    }

    /// Parses a platform name; a few common spellings are accepted.
    pub fn parse(input: &str) -> Result<Self, UnknownPlatform> {
        let lower = input.trim().to_ascii_lowercase();
        let found = match lower.as_str() {
            "x" | "twitter" => Platform::X,
            "bluesky" | "bsky" => Platform::Bluesky,
            "linkedin" => Platform::Linkedin,
            "instagram" | "ig" => Platform::Instagram,
            "tiktok" => Platform::Tiktok,
            "threads" => Platform::Threads,
            "mastodon" => Platform::Mastodon,
            _ => return Err(UnknownPlatform(input.chars().take(40).collect())),
        };
        Ok(found)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown platform `{0}`: use one of x, bluesky, linkedin, instagram, tiktok, threads, mastodon"
)]
pub struct UnknownPlatform(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()).unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert_eq!(Platform::parse("Twitter").unwrap(), Platform::X);
        assert!(Platform::parse("myspace").is_err());
    }
}
