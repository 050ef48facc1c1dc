//! The two scores psn computes, each one formula used everywhere (tools, CLI, jobs).
//!
//! **Engagement score** (0–100) of a published post. Deeper actions weigh more:
//! `W = 1·likes + 1·link_clicks + 2·bookmarks + 3·reposts + 4·replies + 4·quotes`.
//! - When the platform reports reach (`impressions > 0`, X): the weighted engagement
//!   rate `r = W / impressions`, and `score = 100·(1 − e^(−r / 0.05))`, so a weighted rate
//!   of 1 % scores 18, 5 % scores 63, 10 % scores 86.
//! - Otherwise (Bluesky reports no views): `score = 100·W / (W + 50)`, so 50 weighted
//!   actions score 50 and 150 score 75.
//!
//! Both branches are 0 with no engagement, rise with every action and stay below 100.
//! A post is an **outlier** when its score is at least [`OUTLIER_FACTOR`] times the
//! account's trailing average (over at least [`OUTLIER_MIN_POSTS`] other posts).
//!
//! **Opportunity score** (0–100) of someone else's post, a weighted geometric mean, that
//! is, a product of the four factors, each in [0, 1]:
//! `score = 100 · R^0.4 · I^0.2 · V^0.2 · T^0.2`
//! - `R` relevance to the best-matching pillar ([`super::relevance`]): stemmed keyword
//!   and phrase coverage plus the cosine similarity of the texts. `R = 0` scores 0.
//! - `I` author influence, log-scaled followers: `0.1 + 0.9·min(1, log10(1 + followers) / 6)`
//!   (none → 0.1, 1,000 → 0.55, 1,000,000 → 1). An unknown count (Bluesky's search results
//!   carry none) counts as [`UNKNOWN_FOLLOWERS`], a typical account, so a platform that
//!   does not say is not ranked below every one that does.
//! - `V` velocity, weighted engagement per hour since posting
//!   `e = (likes + 2·reposts + 2·replies + 2·quotes) / max(hours, 0.25)`:
//!   `0.1 + 0.9·(1 − e^(−e / 20))`.
//! - `T` time window, halving every [`WINDOW_HALF_LIFE_HOURS`] hours of age: `2^(−hours / 6)`
//!   (an unknown age counts as 24 hours).
//!
//! Tiers on the score rounded to one decimal: ≥ 70 act now, 60–69.9 digest, 40–59.9 low,
//! below 40 dropped.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A post is an outlier at this multiple of its account's trailing average.
pub const OUTLIER_FACTOR: f64 = 5.0;
/// The trailing average needs at least this many other scored posts.
pub const OUTLIER_MIN_POSTS: u64 = 3;
/// The follower count assumed when a platform does not report one.
pub const UNKNOWN_FOLLOWERS: u64 = 1000;
/// The opportunity time window halves every this many hours.
pub const WINDOW_HALF_LIFE_HOURS: f64 = 6.0;

/// Counters the engagement score reads; `None` = not reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub impressions: Option<u64>,
    pub likes: Option<u64>,
    pub replies: Option<u64>,
    pub reposts: Option<u64>,
    pub quotes: Option<u64>,
    pub bookmarks: Option<u64>,
    pub link_clicks: Option<u64>,
}

impl Counts {
    /// The weighted engagement `W`.
    pub fn weighted(&self) -> f64 {
        let f = |v: Option<u64>| v.unwrap_or(0) as f64;
        f(self.likes)
            + f(self.link_clicks)
            + 2.0 * f(self.bookmarks)
            + 3.0 * f(self.reposts)
            + 4.0 * f(self.replies)
            + 4.0 * f(self.quotes)
    }
}

/// The composite engagement score, 0–100, rounded to two decimals.
pub fn engagement_score(c: &Counts) -> f64 {
    let w = c.weighted();
    let raw = match c.impressions {
        Some(reach) if reach > 0 => 100.0 * (1.0 - (-(w / reach as f64) / 0.05).exp()),
        _ => 100.0 * w / (w + 50.0),
    };
    round2(raw.clamp(0.0, 100.0))
}

/// Whether `score` stands out against the account's trailing average of `n` posts.
pub fn is_outlier(score: f64, trailing_average: Option<f64>, n: u64) -> bool {
    match trailing_average {
        Some(avg) if n >= OUTLIER_MIN_POSTS && avg > 0.0 => score >= OUTLIER_FACTOR * avg,
        _ => false,
    }
}

/// What the opportunity score is computed from (relevance already measured).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpportunityInput {
    pub relevance: f64,
    pub followers: Option<u64>,
    pub likes: u64,
    pub reposts: u64,
    pub replies: u64,
    pub quotes: u64,
    /// Hours since the post was made; `None` if the platform did not say.
    pub age_hours: Option<f64>,
}

/// The four factors and the score they make.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Factors {
    /// Match against the best pillar, 0–1.
    pub relevance: f64,
    /// Author reach on a log scale, 0.1–1.
    pub influence: f64,
    /// Engagement per hour since posting, 0.1–1.
    pub velocity: f64,
    /// Freshness, halving every 6 hours, 0–1.
    pub window: f64,
    /// Weighted engagement per hour that `velocity` came from.
    pub engagement_per_hour: f64,
}

/// What to do about an opportunity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Below 40: not worth it.
    Dropped,
    /// 40–59.9: kept, low priority.
    Low,
    /// 60–69.9: for the daily digest.
    Digest,
    /// 70 and above: reply now.
    ActNow,
}

impl Tier {
    pub fn of(score: f64) -> Tier {
        if score >= 70.0 {
            Tier::ActNow
        } else if score >= 60.0 {
            Tier::Digest
        } else if score >= 40.0 {
            Tier::Low
        } else {
            Tier::Dropped
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::ActNow => "act_now",
            Tier::Digest => "digest",
            Tier::Low => "low",
            Tier::Dropped => "dropped",
        }
    }
}

pub fn influence(followers: Option<u64>) -> f64 {
    let f = followers.unwrap_or(UNKNOWN_FOLLOWERS) as f64;
    0.1 + 0.9 * ((1.0 + f).log10() / 6.0).min(1.0)
}

pub fn engagement_per_hour(i: &OpportunityInput) -> f64 {
    let weighted = i.likes as f64 + 2.0 * (i.reposts + i.replies + i.quotes) as f64;
    let hours = i.age_hours.unwrap_or(24.0).max(0.25);
    weighted / hours
}

pub fn velocity(per_hour: f64) -> f64 {
    0.1 + 0.9 * (1.0 - (-per_hour.max(0.0) / 20.0).exp())
}

pub fn window(age_hours: Option<f64>) -> f64 {
    let age = age_hours.unwrap_or(24.0).max(0.0);
    (-age / WINDOW_HALF_LIFE_HOURS).exp2().clamp(0.0, 1.0)
}

/// The factors and the score (0–100, one decimal) of an opportunity.
pub fn opportunity_score(i: &OpportunityInput) -> (Factors, f64) {
    let per_hour = engagement_per_hour(i);
    let f = Factors {
        relevance: finite01(i.relevance),
        influence: influence(i.followers),
        velocity: velocity(per_hour),
        window: window(i.age_hours),
        engagement_per_hour: round2(per_hour),
    };
    let raw = 100.0
        * f.relevance.powf(0.4)
        * f.influence.powf(0.2)
        * f.velocity.powf(0.2)
        * f.window.powf(0.2);
    (f, round1(raw.clamp(0.0, 100.0)))
}

fn finite01(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
