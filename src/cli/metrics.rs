//! `psn metrics`: what published posts earned, collected fresh when the stored numbers
//! are older than `--max-age`; `--chart FILE.svg|.png` draws engagement over time.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use clap::Args;

use super::post::{actor, open, show};
use crate::app::access::Access;
use crate::app::metrics::{self, FetchMetricsInput, Progress};
use crate::app::{AppError, Ctx, chart};
use crate::config::Settings;
use crate::domain::{Platform, now};

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// One post (`post_…`).
    #[arg(long, conflicts_with = "group")]
    pub post: Option<String>,
    /// Every post of a group (`grp_…`).
    #[arg(long)]
    pub group: Option<String>,
    /// An account id or handle.
    #[arg(long)]
    pub account: Option<String>,
    /// Only this platform.
    #[arg(long)]
    pub platform: Option<String>,
    /// Posts published since: RFC 3339, or an age such as `7d` or `12h` (default 30d).
    #[arg(long)]
    pub since: Option<String>,
    /// Collect fresh numbers when the stored ones are older than this many seconds (0: always).
    #[arg(long, value_name = "SECS")]
    pub max_age: Option<u64>,
    /// At most this many posts.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Draw engagement over time into FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// The adapters and the vault for reading platforms from the command line.
pub(super) fn access(settings: &Settings) -> Access {
    Access::with_vault_from(crate::scheduler::runtime::platforms(settings), settings)
}

/// `2026-11-01T00:00:00Z`, or `7d` / `12h` / `30m` ago.
pub(super) fn parse_since(input: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    let s = input.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        AppError::invalid(format!(
            "`{}` is neither an RFC 3339 time nor an age such as 7d, 12h or 30m",
            crate::app::text::preview(s, 40)
        ))
    };
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    if !(0..=3650 * 24 * 60).contains(&n) {
        return Err(bad());
    }
    let ago = match unit {
        'd' => Duration::days(n),
        'h' => Duration::hours(n),
        'm' => Duration::minutes(n),
        _ => return Err(bad()),
    };
    Ok(at - ago)
}

pub async fn run(settings: &Settings, a: MetricsArgs) -> anyhow::Result<ExitCode> {
    let actor = actor();
    let store = open(settings).await?;
    let cx = Ctx::new(store.as_ref(), settings, &actor);
    let platform = a
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let input = FetchMetricsInput {
        post: a.post.or(a.group),
        account: a.account,
        platform,
        since: a
            .since
            .as_deref()
            .map(|s| parse_since(s, now()))
            .transpose()?,
        until: None,
        max_age_secs: a.max_age,
        limit: Some(a.limit),
        chart: a.chart.is_some(),
    };
    // A bad chart name is refused before anything is collected.
    let chart_format = a
        .chart
        .as_deref()
        .map(chart::Format::from_path)
        .transpose()?;
    let quiet = a.json;
    let progress = move |p: Progress| {
        if !quiet {
            eprintln!("[{}/{}] {}", p.done, p.total, p.message);
        }
    };
    let out = metrics::fetch_metrics(cx, &access(settings), &input, &progress).await?;
    if let (Some(path), Some(format)) = (&a.chart, chart_format) {
        let series = chart::series_for(cx, &out).await?;
        let bytes = chart::render(&series, format)?;
        std::fs::write(path, bytes).map_err(|e| {
            AppError::invalid(format!("cannot write the chart to {}: {e}", path.display()))
        })?;
        eprintln!("chart written to {}", path.display());
    }
    show(&out, a.json, |o| o.summary());
    Ok(if out.not_collected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::exit::FAILED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_times_and_ages() {
        let at: DateTime<Utc> = "2026-11-20T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_since("7d", at).unwrap(),
            "2026-11-13T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(parse_since("2h", at).unwrap(), at - Duration::hours(2));
        assert_eq!(
            parse_since("2026-11-01T00:00:00+01:00", at).unwrap(),
            "2026-10-31T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        for bad in ["", "7", "d", "7w", "-1d", "99999999999d", "ü"] {
            assert!(parse_since(bad, at).is_err(), "{bad}");
        }
    }
}
