//! Periodic jobs: named jobs with a cron expression in a time zone. Every instance
//! computes the latest tick; only the instance whose insert of `(job, tick)` into
//! `cron_runs` wins runs it. No leader election. A tick missed by less than the grace
//! window (a restart, a slow loop) still runs, once.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use futures::future::BoxFuture;

use crate::store::DynStore;

/// What a job body gets.
#[derive(Clone)]
pub struct JobContext {
    pub store: DynStore,
    pub tick: DateTime<Utc>,
}

pub type JobBody = Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A named periodic job.
#[derive(Clone)]
pub struct Job {
    pub name: String,
    pub cron: Cron,
    pub tz: chrono_tz::Tz,
    pub body: JobBody,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.name)
            .field("cron", &self.cron.as_str())
            .field("tz", &self.tz)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "job `{job}`: `{expr}` is not a cron expression ({message}); use five fields, e.g. `0 9 * * *` for 09:00 daily"
)]
pub struct BadCron {
    pub job: String,
    pub expr: String,
    pub message: String,
}

impl Job {
    pub fn new(name: &str, expr: &str, tz: chrono_tz::Tz, body: JobBody) -> Result<Self, BadCron> {
        let cron = Cron::from_str(expr).map_err(|e| BadCron {
            job: name.into(),
            expr: expr.into(),
            message: e.to_string(),
        })?;
        Ok(Job {
            name: name.into(),
            cron,
            tz,
            body,
        })
    }

    /// The latest tick at or before `now`, if it is within `grace` of `now`.
    pub fn due_tick(&self, now: DateTime<Utc>, grace: Duration) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.tz);
        let tick = self
            .cron
            .find_previous_occurrence(&local, true)
            .ok()?
            .with_timezone(&Utc);
        (now - tick <= chrono::Duration::from_std(grace).ok()?).then_some(tick)
    }

    /// The first tick after `now`.
    pub fn next_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The jobs this process runs.
#[derive(Clone, Default, Debug)]
pub struct Registry {
    pub jobs: Vec<Job>,
}

impl Registry {
    pub fn with(mut self, job: Job) -> Self {
        self.jobs.push(job);
        self
    }

    /// The earliest next tick of any job.
    pub fn next_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.jobs.iter().filter_map(|j| j.next_tick(now)).min()
    }
}

/// Runs every job whose tick is due and that this instance wins; returns how many ran.
pub async fn run_due(
    registry: &Registry,
    store: &DynStore,
    instance: &str,
    now: DateTime<Utc>,
    grace: Duration,
) -> usize {
    let mut ran = 0;
    for job in &registry.jobs {
        let Some(tick) = job.due_tick(now, grace) else {
            continue;
        };
        match store.try_start_cron(&job.name, tick, instance, now).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(job = %job.name, error = %e, "could not record the cron tick");
                continue;
            }
        }
        ran += 1;
        let result = (job.body)(JobContext {
            store: store.clone(),
            tick,
        })
        .await;
        if let Err(e) = &result {
            tracing::warn!(job = %job.name, %tick, error = %e, "periodic job failed");
        } else {
            tracing::info!(job = %job.name, %tick, "periodic job finished");
        }
        if let Err(e) = store
            .finish_cron(&job.name, tick, result, crate::domain::now())
            .await
        {
            tracing::warn!(job = %job.name, error = %e, "could not record the job's result");
        }
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> JobBody {
        Arc::new(|_| Box::pin(async { Ok(()) }))
    }

    #[test]
    fn ticks_respect_the_zone_and_the_grace_window() {
        let job = Job::new("daily", "0 9 * * *", chrono_tz::Europe::Berlin, noop()).unwrap();
        // 08:05 UTC = 09:05 in Berlin (winter): the 09:00 tick is 5 minutes old.
        let now: DateTime<Utc> = "2026-12-01T08:05:00Z".parse().unwrap();
        let tick = job.due_tick(now, Duration::from_secs(600)).unwrap();
        assert_eq!(
            tick,
            "2026-12-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            job.due_tick(now, Duration::from_secs(60)),
            None,
            "outside the grace window"
        );
        assert_eq!(
            job.next_tick(now).unwrap(),
            "2026-12-02T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn bad_expressions_say_what_to_write() {
        let err = Job::new("x", "every day", chrono_tz::UTC, noop())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`every day`") && err.contains("0 9 * * *"),
            "{err}"
        );
    }
}
