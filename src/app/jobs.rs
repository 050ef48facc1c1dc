//! The analytics periodic jobs, run by the scheduler's cron registry
//! (`scheduler::runtime::jobs`): daily metrics collection for recently published posts,
//! and the engagement monitor, which scores opportunities during the active hours.

use chrono::{DateTime, Duration, Timelike, Utc};

use super::access::Access;
use super::metrics::{self, FetchMetricsInput, MAX_POSTS};
use super::opportunities::{self, ScoreOpportunitiesInput, Strategy, strategy};
use super::{AppError, Ctx};
use crate::config::Settings;
use crate::domain::now;
use crate::store::Store;

/// Who the audit log names for the jobs' writes.
const ACTOR: &str = "scheduler:analytics";

/// The analytics jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticsJob {
    /// `jobs.metrics.cron`: collect metrics for posts published within the window.
    Metrics,
    /// `jobs.engagement.cron`: score opportunities within the active hours.
    Engagement,
}

impl AnalyticsJob {
    pub fn name(self) -> &'static str {
        match self {
            AnalyticsJob::Metrics => "metrics",
            AnalyticsJob::Engagement => "engagement",
        }
    }

    /// The job's cron expression, or `None` when it is turned off.
    pub fn cron(self, settings: &Settings) -> Option<&str> {
        match self {
            AnalyticsJob::Metrics => settings.jobs.metrics_cron.as_deref(),
            AnalyticsJob::Engagement => settings.jobs.engagement_cron.as_deref(),
        }
    }
}

/// Runs one job; `Err` is recorded in `cron_runs` and logged.
pub async fn run(
    job: AnalyticsJob,
    settings: &Settings,
    store: &dyn Store,
    access: &Access,
) -> Result<(), String> {
    let cx = Ctx::new(store, settings, ACTOR);
    match job {
        AnalyticsJob::Metrics => collect_recent(cx, access).await,
        AnalyticsJob::Engagement => monitor(cx, access, now()).await,
    }
}

async fn collect_recent(cx: Ctx<'_>, access: &Access) -> Result<(), String> {
    let jobs = &cx.settings.jobs;
    let input = FetchMetricsInput {
        since: Some(now() - Duration::days(i64::from(jobs.metrics_window_days))),
        max_age_secs: Some(jobs.metrics_max_age.as_secs()),
        limit: Some(MAX_POSTS),
        ..FetchMetricsInput::default()
    };
    let out = metrics::fetch_metrics(cx, access, &input, &|_| {})
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        collected = out.collected,
        fresh = out.fresh,
        not_collected = out.not_collected.len(),
        outliers = out.outliers.len(),
        "metrics collected"
    );
    if out.collected == 0 && !out.not_collected.is_empty() {
        return Err(format!(
            "no metrics collected; first problem: {}",
            out.not_collected[0].reason
        ));
    }
    Ok(())
}

/// Whether `at` falls within the active hours `[start, end)` in `zone` (an end before
/// the start wraps past midnight).
pub fn within_active_hours(
    at: DateTime<Utc>,
    zone: chrono_tz::Tz,
    (start, end): (u32, u32),
) -> bool {
    let hour = at.with_timezone(&zone).hour();
    if start < end {
        (start..end).contains(&hour)
    } else {
        hour >= start || hour < end
    }
}

async fn monitor(cx: Ctx<'_>, access: &Access, at: DateTime<Utc>) -> Result<(), String> {
    let settings = cx.settings;
    if !within_active_hours(at, settings.timezone, settings.jobs.active_hours) {
        tracing::debug!("outside the engagement monitor's active hours");
        return Ok(());
    }
    let path = strategy::path(settings);
    if !path.is_file() {
        tracing::debug!(path = %path.display(), "no strategy file: the engagement monitor is idle");
        return Ok(());
    }
    let strategy = Strategy::load(settings).map_err(|e: AppError| e.to_string())?;
    let out = opportunities::run(
        cx,
        access,
        &strategy,
        &ScoreOpportunitiesInput::default(),
        &|_| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    tracing::info!(
        new = out.opportunities.len(),
        act_now = out
            .opportunities
            .iter()
            .filter(|o| o.tier == crate::domain::score::Tier::ActNow)
            .count(),
        skipped = out.skipped.len(),
        "engagement monitor scored opportunities"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_hours_respect_the_zone_and_wrap_midnight() {
        let berlin = chrono_tz::Europe::Berlin;
        // 07:30 UTC = 08:30 in Berlin (winter).
        let at: DateTime<Utc> = "2026-12-01T07:30:00Z".parse().unwrap();
        assert!(within_active_hours(at, berlin, (8, 20)));
        assert!(!within_active_hours(at, chrono_tz::UTC, (8, 20)));
        assert!(
            within_active_hours(at, chrono_tz::UTC, (22, 8)),
            "wraps midnight"
        );
        let late: DateTime<Utc> = "2026-12-01T19:00:00Z".parse().unwrap(); // 20:00 Berlin
        assert!(
            !within_active_hours(late, berlin, (8, 20)),
            "the end hour is excluded"
        );
        assert!(within_active_hours(late, berlin, (0, 24)));
    }
}
