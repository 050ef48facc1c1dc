//! The domain: ids, posts and their status machine, accounts, ideas. No I/O lives here.

pub mod account;
pub mod audit;
pub mod idea;
pub mod ids;
pub mod media;
pub mod platform;
pub mod post;
pub mod relevance;
pub mod schedule;
pub mod score;
pub mod status;
pub mod validate;

pub use account::{Account, AccountStatus, Sealed};
pub use audit::AuditEntry;
pub use idea::{Idea, IdeaStatus};
pub use ids::{AccountId, AttemptId, GroupId, IdError, IdeaId, PostId};
pub use platform::{Platform, UnknownPlatform};
pub use post::{Media, MediaKind, NewPost, Post, PostContent, PostPart, content_hash, now};
pub use status::{PostEvent, PostStatus, TransitionError, transition};
pub use validate::{Limits, PartMeasure, ValidationReport};
