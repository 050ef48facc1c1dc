//! Prefixed short ids (`post_V1StGXR8abcd`) held in newtypes, so a post id can never be
//! passed where an account id is expected and every id is checked once, at the boundary.

use std::fmt;

/// Characters an id body is drawn from: URL-safe and unambiguous to copy from a terminal.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the random part: 62^12 ≈ 3.2e21, so collisions are not a practical concern.
const BODY_LEN: usize = 12;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a {kind} id: expected `{prefix}_` followed by {BODY_LEN} letters or digits"
)]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub input: String,
}

fn random_body() -> String {
    (0..BODY_LEN)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn check(input: &str, kind: &'static str, prefix: &'static str) -> Result<(), IdError> {
    let ok = input
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| {
            body.len() == BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(())
    } else {
        Err(IdError {
            kind,
            prefix,
            input: truncate_for_message(input),
        })
    }
}

/// Keeps error messages short when someone passes a megabyte where an id belongs.
fn truncate_for_message(input: &str) -> String {
    const MAX: usize = 64;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let head: String = input.chars().take(MAX).collect();
        format!("{head}…")
    }
}

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn new() -> Self {
                Self(format!("{}_{}", $prefix, random_body()))
            }

            /// Parses an id given by a user or read from the database.
            pub fn parse(input: &str) -> Result<Self, IdError> {
                check(input, $kind, $prefix).map(|()| Self(input.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "_[0-9A-Za-z]{12}$"),
                    "description": concat!("A ", $kind, " id, like `", $prefix, "_V1StGXR8abcd`"),
                })
            }
        }
    };
}

define_id!(
    /// One post for one target (platform + account).
    PostId, "post", "post"
);
define_id!(
    /// The posts created together by one `create_post` call, one per target.
    GroupId, "grp", "post group"
);
define_id!(
    /// A connected social account.
    AccountId, "acct", "account"
);
define_id!(
    /// An entry in the idea bank.
    IdeaId, "idea", "idea"
);
define_id!(
    /// One attempt to publish a post.
    AttemptId, "att", "publish attempt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_parse_back() {
        let id = PostId::new();
        assert!(id.as_str().starts_with("post_"));
        assert_eq!(PostId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn wrong_prefix_or_body_is_refused() {
        let acct = AccountId::new();
        let err = PostId::parse(acct.as_str()).unwrap_err();
        assert!(err.to_string().contains("is not a post id"), "{err}");
        assert!(PostId::parse("post_short").is_err());
        assert!(PostId::parse("post_abcdefghijk!").is_err());
        assert!(PostId::parse("post_abcdéfghijk").is_err());
        assert!(PostId::parse("").is_err());
    }

    #[test]
    fn huge_input_is_truncated_in_the_message() {
        let huge = "x".repeat(100_000);
        let msg = PostId::parse(&huge).unwrap_err().to_string();
        assert!(msg.len() < 300, "{}", msg.len());
    }
}
