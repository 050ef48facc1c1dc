//! `score_opportunities`: conversations worth joining. Searches the platforms that offer
//! search (X recent search, Bluesky searchPosts) for each keyword and phrase of the
//! strategy's pillars, scores every hit with [`crate::domain::score::opportunity_score`],
//! drops what scores below 40, and returns the rest ranked with a factor breakdown and
//! a one-line reason. Every opportunity returned is stored, so it is never returned as
//! new again; at most `daily_cap` new ones are returned per UTC day.

mod search;
pub mod strategy;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::access::Access;
use super::metrics::OnProgress;
use super::{AppError, AppResult, Ctx};
use crate::domain::Platform;
use crate::domain::score::{Factors, Tier};
pub use strategy::Strategy;

/// What to search for. With nothing set: every pillar on the strategy's platforms.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreOpportunitiesInput {
    /// Only this pillar (its name in the strategy file).
    #[serde(default)]
    pub pillar: Option<String>,
    /// Only these platforms (default: the strategy's; X and Bluesky can be searched).
    #[serde(default)]
    pub platforms: Option<Vec<Platform>>,
    /// Return at most this many (default 20, at most 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Also return opportunities returned by an earlier call (marked `seen_before`).
    #[serde(default)]
    pub include_seen: bool,
}

/// Who wrote the post.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Author {
    pub handle: Option<String>,
    pub id: Option<String>,
    pub followers: Option<u64>,
}

/// One conversation worth joining.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Opportunity {
    /// psn's id for it (`opp_…`).
    pub id: String,
    pub platform: Platform,
    /// The platform's id of the post (X tweet id, Bluesky at-uri): reply to this.
    pub platform_post_id: String,
    pub url: Option<String>,
    pub text: String,
    pub author: Author,
    pub created_at: Option<DateTime<Utc>>,
    /// 0–100.
    pub score: f64,
    /// act_now (≥ 70), digest (60–69.9) or low (40–59.9).
    pub tier: Tier,
    pub factors: Factors,
    /// The best-matching pillar.
    pub pillar: String,
    /// The pillar's keywords and phrases found in the post.
    pub matched: Vec<String>,
    /// Why, in one line.
    pub reason: String,
    /// Returned by an earlier call already.
    pub seen_before: bool,
}

/// A platform that was not (fully) searched.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Skipped {
    pub platform: Platform,
    pub reason: String,
    /// When to try again (rate-limit reset), if known.
    pub retry_at: Option<DateTime<Utc>>,
}

/// What `score_opportunities` returns.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ScoreOpportunitiesOutput {
    /// Best first.
    pub opportunities: Vec<Opportunity>,
    /// Searches made.
    pub searches: u32,
    /// Distinct posts found.
    pub found: u32,
    /// Posts scoring below 40.
    pub dropped: u32,
    /// Posts returned by an earlier call and left out (`include_seen` returns them).
    pub already_seen: u32,
    /// New opportunities held back because today's cap was reached (they may come back).
    pub over_daily_cap: u32,
    pub daily_cap: u32,
    pub skipped: Vec<Skipped>,
}

impl ScoreOpportunitiesOutput {
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} opportunit{} ({} searches, {} posts found, {} dropped below 40, {} seen before, {} over the daily cap of {})",
            self.opportunities.len(),
            if self.opportunities.len() == 1 {
                "y"
            } else {
                "ies"
            },
            self.searches,
            self.found,
            self.dropped,
            self.already_seen,
            self.over_daily_cap,
            self.daily_cap
        );
        for o in &self.opportunities {
            out.push_str(&format!(
                "\n{:.1} {} {} {}: {}",
                o.score,
                o.tier.as_str(),
                o.platform,
                o.url.as_deref().unwrap_or(&o.platform_post_id),
                o.reason
            ));
        }
        for s in &self.skipped {
            out.push_str(&format!("\nskipped {}: {}", s.platform, s.reason));
        }
        out
    }
}

/// The use case.
pub async fn score_opportunities(
    cx: Ctx<'_>,
    access: &Access,
    input: &ScoreOpportunitiesInput,
    progress: OnProgress<'_>,
) -> AppResult<ScoreOpportunitiesOutput> {
    let strategy = Strategy::load(cx.settings)?;
    run(cx, access, &strategy, input, progress).await
}

/// The use case with the strategy already read (tests and the monitor job).
pub async fn run(
    cx: Ctx<'_>,
    access: &Access,
    strategy: &Strategy,
    input: &ScoreOpportunitiesInput,
    progress: OnProgress<'_>,
) -> AppResult<ScoreOpportunitiesOutput> {
    let limit = input.limit.unwrap_or(20);
    if limit == 0 || limit > 100 {
        return Err(AppError::invalid("limit must be from 1 to 100"));
    }
    let mut strategy = strategy.clone();
    if let Some(name) = input.pillar.as_deref().filter(|n| !n.trim().is_empty()) {
        strategy
            .pillars
            .retain(|p| p.name.eq_ignore_ascii_case(name.trim()));
        if strategy.pillars.is_empty() {
            return Err(AppError::invalid(format!(
                "no pillar named `{}` in the strategy",
                super::text::preview(name, 60)
            )));
        }
    }
    if let Some(only) = &input.platforms {
        strategy.platforms.retain(|p| only.contains(p));
    }
    search::run(cx, access, &strategy, limit, input.include_seen, progress).await
}
