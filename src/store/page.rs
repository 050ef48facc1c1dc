//! Keyset pagination: a page of items and an opaque cursor for the next one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;

/// A page of results; `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Which page to read.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    pub fn first(limit: u32) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            after: None,
        }
    }
}

/// The position after the last item of a page: its sort time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.id
        ))
    }

    pub fn decode(input: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD
            .decode(input.trim())
            .map_err(|_| InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        let (at, id) = text.split_once('|').ok_or(InvalidCursor)?;
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|_| InvalidCursor)?
            .with_timezone(&Utc);
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(InvalidCursor);
        }
        Ok(Cursor {
            at,
            id: id.to_owned(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the cursor is not one psn handed out: pass the `next_cursor` of the previous page, or none for the first page"
)]
pub struct InvalidCursor;

impl From<InvalidCursor> for StoreError {
    fn from(e: InvalidCursor) -> Self {
        StoreError::Corrupt {
            what: "cursor",
            detail: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = Cursor {
            at: crate::domain::now(),
            id: "post_abcdefghijkl".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("nope").is_err());
        assert!(Cursor::decode("").is_err());
        let sneaky = URL_SAFE_NO_PAD.encode("2026-01-01T00:00:00Z|x' OR 1=1 --");
        assert!(Cursor::decode(&sneaky).is_err());
    }
}
