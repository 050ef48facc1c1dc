//! X's wire types: what its JSON answers look like. Private to the adapter.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::platforms::PostMetrics;

#[derive(Deserialize, Default)]
pub(super) struct Problem {
    pub(super) title: Option<String>,
    pub(super) detail: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) errors: Option<Vec<ProblemItem>>,
}

#[derive(Deserialize)]
pub(super) struct ProblemItem {
    pub(super) message: Option<String>,
    pub(super) detail: Option<String>,
}

impl Problem {
    /// The problem's detail (or title), followed by the specific errors when X lists them.
    pub(super) fn message(&self) -> Option<String> {
        let specifics: Vec<String> = self
            .errors
            .iter()
            .flatten()
            .filter_map(|e| e.message.clone().or_else(|| e.detail.clone()))
            .collect();
        let head = self.detail.clone().or_else(|| self.title.clone());
        match (head, specifics.is_empty()) {
            (Some(h), true) => Some(h),
            (Some(h), false) => Some(format!("{h} ({})", specifics.join("; "))),
            (None, false) => Some(specifics.join("; ")),
            (None, true) => None,
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct OAuthError {
    pub(super) error: Option<String>,
    pub(super) error_description: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireToken {
    pub(super) access_token: String,
    pub(super) refresh_token: Option<String>,
    pub(super) expires_in: Option<i64>,
    pub(super) scope: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct DataEnvelope<T> {
    pub(super) data: T,
}

#[derive(Deserialize)]
pub(super) struct Tweet {
    pub(super) id: String,
}

#[derive(Deserialize)]
pub(super) struct WireUser {
    pub(super) id: String,
    pub(super) username: String,
    pub(super) name: Option<String>,
    pub(super) public_metrics: Option<UserMetrics>,
}

#[derive(Deserialize)]
pub(super) struct UserMetrics {
    pub(super) followers_count: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct MediaEnvelope {
    pub(super) data: Option<MediaData>,
    /// v1.1-style answers some deployments still give.
    pub(super) media_id_string: Option<String>,
}

impl MediaEnvelope {
    pub(super) fn id(&self) -> Option<String> {
        self.data
            .as_ref()
            .and_then(|d| d.id.clone())
            .or_else(|| self.media_id_string.clone())
    }
}

#[derive(Deserialize)]
pub(super) struct MediaData {
    pub(super) id: Option<String>,
    pub(super) processing_info: Option<ProcessingInfo>,
}

#[derive(Deserialize)]
pub(super) struct ProcessingInfo {
    pub(super) state: String,
    pub(super) check_after_secs: Option<u64>,
    pub(super) error: Option<ProcessingError>,
}

#[derive(Deserialize)]
pub(super) struct ProcessingError {
    pub(super) name: Option<String>,
    pub(super) message: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Timeline {
    pub(super) data: Option<Vec<WireTimelineTweet>>,
    pub(super) meta: Option<Meta>,
}

#[derive(Deserialize)]
pub(super) struct WireTimelineTweet {
    pub(super) id: String,
    pub(super) text: String,
    pub(super) created_at: Option<DateTime<Utc>>,
    pub(super) referenced_tweets: Option<Vec<Reference>>,
}

impl WireTimelineTweet {
    pub(super) fn replied_to(&self) -> Option<&str> {
        self.referenced_tweets
            .as_ref()?
            .iter()
            .find(|r| r.kind == "replied_to")
            .map(|r| r.id.as_str())
    }
}

#[derive(Deserialize)]
pub(super) struct Reference {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) id: String,
}

#[derive(Deserialize)]
pub(super) struct Meta {
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct MetricsPage {
    pub(super) data: Option<Vec<MetricsTweet>>,
    pub(super) errors: Option<Vec<PartialError>>,
}

#[derive(Deserialize)]
pub(super) struct PartialError {
    pub(super) value: Option<String>,
    pub(super) resource_id: Option<String>,
    pub(super) title: Option<String>,
    pub(super) detail: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
}

impl PartialError {
    pub(super) fn id(&self) -> Option<String> {
        self.resource_id.clone().or_else(|| self.value.clone())
    }

    pub(super) fn is_field_authorization(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.contains("not-authorized-for-field"))
    }
}

#[derive(Deserialize)]
pub(super) struct MetricsTweet {
    pub(super) id: String,
    pub(super) public_metrics: Option<PublicMetrics>,
    pub(super) non_public_metrics: Option<NonPublicMetrics>,
}

impl MetricsTweet {
    pub(super) fn into_metrics(self) -> PostMetrics {
        let p = self.public_metrics.unwrap_or_default();
        let n = self.non_public_metrics.unwrap_or_default();
        PostMetrics {
            platform_post_id: self.id,
            impressions: n.impression_count.or(p.impression_count),
            likes: p.like_count,
            reposts: p.retweet_count,
            replies: p.reply_count,
            quotes: p.quote_count,
            bookmarks: p.bookmark_count,
            link_clicks: n.url_link_clicks,
            profile_clicks: n.user_profile_clicks,
            engagements: n.engagements,
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct PublicMetrics {
    pub(super) retweet_count: Option<u64>,
    pub(super) reply_count: Option<u64>,
    pub(super) like_count: Option<u64>,
    pub(super) quote_count: Option<u64>,
    pub(super) bookmark_count: Option<u64>,
    pub(super) impression_count: Option<u64>,
}

#[derive(Deserialize, Default)]
pub(super) struct NonPublicMetrics {
    pub(super) impression_count: Option<u64>,
    pub(super) url_link_clicks: Option<u64>,
    pub(super) user_profile_clicks: Option<u64>,
    pub(super) engagements: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct SearchWire {
    pub(super) data: Option<Vec<SearchTweet>>,
    pub(super) includes: Option<Includes>,
    pub(super) meta: Option<Meta>,
}

#[derive(Deserialize)]
pub(super) struct Includes {
    pub(super) users: Option<Vec<WireUser>>,
}

#[derive(Deserialize)]
pub(super) struct SearchTweet {
    pub(super) id: String,
    pub(super) text: String,
    pub(super) author_id: Option<String>,
    pub(super) created_at: Option<DateTime<Utc>>,
    pub(super) public_metrics: Option<PublicMetrics>,
}
