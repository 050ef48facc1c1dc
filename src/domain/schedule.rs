//! When a post should go out: parses what the user typed (`now`, RFC 3339 with an offset,
//! or a local date-time read in an IANA zone) into one UTC instant, refusing times in the
//! past, local times a DST gap skips, and local times a DST fold repeats.

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDateTime, SecondsFormat, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

use super::post::to_store_precision;

/// A schedule time resolved to UTC, with the zone it is shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTime {
    /// The instant, truncated to whole microseconds.
    pub utc: DateTime<Utc>,
    pub tz: Tz,
    /// The same instant in `tz`, RFC 3339 with the zone's offset.
    pub local: String,
    /// The IANA name of `tz`, e.g. `Europe/Berlin`.
    pub zone_name: String,
}

/// Why a schedule time was refused; each message says what to pass instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{}", past_message(.utc, .now, .zone))]
    Past {
        utc: DateTime<Utc>,
        now: DateTime<Utc>,
        /// The zone the times are shown in.
        zone: Tz,
    },
    #[error(
        "{local} does not exist in {zone}: the clocks skip it for daylight saving time; pass \
         {suggestion} (the first valid time after the gap) or another time"
    )]
    Nonexistent {
        local: String,
        zone: String,
        suggestion: String,
    },
    #[error("{}", ambiguous_message(.local, .zone, .earlier, .later))]
    Ambiguous {
        local: String,
        zone: String,
        earlier: String,
        later: String,
    },
    #[error(
        "cannot read `{input}` as a time: pass RFC 3339 with an offset \
         (2026-12-01T09:30:00+01:00 or 2026-12-01T08:30:00Z), a local date-time read in the \
         zone (2026-12-01T09:30 or 2026-12-01 09:30, seconds optional), or `now`"
    )]
    Unparseable { input: String },
    #[error(
        "unknown time zone `{input}`: pass an IANA name such as Europe/Berlin, America/New_York \
         or UTC"
    )]
    UnknownZone { input: String },
}

/// Resolves a schedule time. `zone` (an IANA name) overrides `default_tz`; it is used to
/// read a local date-time and to show the result. An explicit offset in the input wins
/// over the zone for the instant itself. Times more than a minute before `now` are refused.
pub fn resolve(
    input: &str,
    zone: Option<&str>,
    default_tz: Tz,
    now: DateTime<Utc>,
) -> Result<ResolvedTime, ScheduleError> {
    let tz = match zone.map(str::trim).filter(|z| !z.is_empty()) {
        Some(name) => parse_zone(name)?,
        None => default_tz,
    };
    let now = to_store_precision(now);
    let input = input.trim();
    let utc = if input.eq_ignore_ascii_case("now") {
        now
    } else if let Some(fixed) = parse_with_offset(input) {
        fixed.with_timezone(&Utc)
    } else if let Some(naive) = parse_local(input) {
        local_to_utc(naive, tz)?
    } else {
        return Err(ScheduleError::Unparseable {
            input: shorten(input),
        });
    };
    let utc = to_store_precision(utc);
    if utc < now.checked_sub_signed(PAST_GRACE).unwrap_or(now) {
        return Err(ScheduleError::Past { utc, now, zone: tz });
    }
    Ok(ResolvedTime {
        utc,
        tz,
        local: rfc3339_in(utc, tz),
        zone_name: tz.name().to_string(),
    })
}

/// Parses an IANA zone name, exactly or ignoring ASCII case.
pub fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    let name = name.trim();
    name.parse::<Tz>()
        .ok()
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .find(|tz| tz.name().eq_ignore_ascii_case(name))
                .copied()
        })
        .ok_or_else(|| ScheduleError::UnknownZone {
            input: shorten(name),
        })
}

/// A time this close before now still counts as now: the request took a moment to arrive.
const PAST_GRACE: TimeDelta = TimeDelta::seconds(60);

const LOCAL_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
const LOCAL_FORMATS_NO_SECONDS: [&str; 2] = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];

fn parse_with_offset(input: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(input) {
        return Some(t);
    }
    // Also take an offset without seconds, `2026-12-01T09:30+01:00` or `…09:30Z`.
    let zulu = input
        .strip_suffix(['Z', 'z'])
        .map(|rest| format!("{rest}+00:00"));
    let input = zulu.as_deref().unwrap_or(input);
    [
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%d %H:%M%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ]
    .iter()
    .find_map(|f| DateTime::parse_from_str(input, f).ok())
}

fn parse_local(input: &str) -> Option<NaiveDateTime> {
    LOCAL_FORMATS
        .iter()
        .chain(LOCAL_FORMATS_NO_SECONDS.iter())
        .find_map(|f| NaiveDateTime::parse_from_str(input, f).ok())
}

fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, ScheduleError> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, later) => Err(ScheduleError::Ambiguous {
            local: show_naive(naive),
            zone: tz.name().to_string(),
            earlier: rfc3339(&earlier),
            later: rfc3339(&later),
        }),
        LocalResult::None => Err(ScheduleError::Nonexistent {
            local: show_naive(naive),
            zone: tz.name().to_string(),
            suggestion: first_after_gap(naive, tz)
                .map_or_else(|| "a time outside the gap".to_string(), |t| rfc3339(&t)),
        }),
    }
}

/// The first whole minute after `naive` that exists in `tz`. Gaps are at most a few hours
/// (a day at most, when a zone skipped a date), so two days of minutes is plenty.
fn first_after_gap(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Tz>> {
    let start = naive.with_second(0)?.with_nanosecond(0)?;
    (1..=2 * 24 * 60).find_map(|minutes| {
        let candidate = start.checked_add_signed(TimeDelta::minutes(minutes))?;
        tz.from_local_datetime(&candidate).earliest()
    })
}

fn show_naive(naive: NaiveDateTime) -> String {
    if naive.second() == 0 && naive.nanosecond() == 0 {
        naive.format("%Y-%m-%dT%H:%M").to_string()
    } else {
        naive.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
    }
}

fn rfc3339<Z: TimeZone>(t: &DateTime<Z>) -> String
where
    Z::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn rfc3339_in(utc: DateTime<Utc>, tz: Tz) -> String {
    rfc3339(&utc.with_timezone(&tz))
}

fn past_message(utc: &DateTime<Utc>, now: &DateTime<Utc>, zone: &Tz) -> String {
    format!(
        "{} is {} in the past (it is now {} in {}): pass a later time, or `now` to publish right \
         away",
        rfc3339_in(*utc, *zone),
        human_duration(*now - *utc),
        rfc3339_in(*now, *zone),
        zone.name()
    )
}

fn ambiguous_message(local: &str, zone: &str, earlier: &str, later: &str) -> String {
    let abbreviation = |t: &str| {
        let tz = zone.parse::<Tz>().ok()?;
        let t = DateTime::parse_from_rfc3339(t).ok()?;
        Some(t.with_timezone(&tz).format("%Z").to_string())
    };
    let label = |t: &str, which: &str| match abbreviation(t) {
        Some(abbr) => format!("{which}, {abbr}"),
        None => which.to_string(),
    };
    format!(
        "{local} happens twice in {zone}: pass {earlier} ({}) or {later} ({})",
        label(earlier, "first"),
        label(later, "second")
    )
}

/// "2 days 3 hours", "5 hours 12 minutes", "7 minutes".
fn human_duration(d: TimeDelta) -> String {
    let minutes = d.num_minutes().max(1);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let unit = |n: i64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    match (days, hours, mins) {
        (0, 0, m) => unit(m, "minute"),
        (0, h, 0) => unit(h, "hour"),
        (0, h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
        (d, 0, _) => unit(d, "day"),
        (d, h, _) => format!("{} {}", unit(d, "day"), unit(h, "hour")),
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin, UTC};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        at("2026-01-15T12:00:00Z")
    }

    #[test]
    fn now_resolves_to_now_at_store_precision() {
        let precise = at("2026-01-15T12:00:00.123456789Z");
        let r = resolve(" NOW ", None, Berlin, precise).unwrap();
        assert_eq!(r.utc, at("2026-01-15T12:00:00.123456Z"));
        assert_eq!(r.zone_name, "Europe/Berlin");
        assert_eq!(r.local, "2026-01-15T13:00:00.123456+01:00");
    }

    #[test]
    fn rfc3339_offset_wins_and_zone_is_for_display() {
        let r = resolve(
            "2026-12-01T09:30:00+05:30",
            Some("America/New_York"),
            Berlin,
            now(),
        )
        .unwrap();
        assert_eq!(r.utc, at("2026-12-01T04:00:00Z"));
        assert_eq!(r.tz, New_York);
        assert_eq!(r.local, "2026-11-30T23:00:00-05:00");
        let r = resolve("2026-12-01T08:30Z", None, UTC, now()).unwrap();
        assert_eq!(r.utc, at("2026-12-01T08:30:00Z"));
        assert_eq!(r.local, "2026-12-01T08:30:00+00:00");
    }

    #[test]
    fn local_times_are_read_in_the_zone() {
        for input in [
            "2026-12-01T09:30",
            "2026-12-01 09:30",
            "2026-12-01T09:30:00",
        ] {
            let r = resolve(input, None, Berlin, now()).unwrap();
            assert_eq!(r.utc, at("2026-12-01T08:30:00Z"), "{input}");
            assert_eq!(r.local, "2026-12-01T09:30:00+01:00");
        }
        let r = resolve(
            "2026-07-01 09:30:15",
            Some("america/new_york"),
            Berlin,
            now(),
        )
        .unwrap();
        assert_eq!(r.utc, at("2026-07-01T13:30:15Z"));
        assert_eq!(r.zone_name, "America/New_York");
    }

    #[test]
    fn dst_gap_is_refused_with_the_first_valid_time() {
        let err = resolve("2026-03-29T02:30", Some("Europe/Berlin"), UTC, now()).unwrap_err();
        assert_eq!(
            err,
            ScheduleError::Nonexistent {
                local: "2026-03-29T02:30".into(),
                zone: "Europe/Berlin".into(),
                suggestion: "2026-03-29T03:00:00+02:00".into(),
            }
        );
        assert!(err.to_string().contains("pass 2026-03-29T03:00:00+02:00"));
        let err = resolve("2026-03-08 02:15", None, New_York, now()).unwrap_err();
        assert!(matches!(
            &err,
            ScheduleError::Nonexistent { suggestion, .. } if suggestion == "2026-03-08T03:00:00-04:00"
        ));
    }

    #[test]
    fn dst_fold_asks_which_one() {
        let err = resolve("2026-10-25T02:30", Some("Europe/Berlin"), UTC, now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2026-10-25T02:30 happens twice in Europe/Berlin: pass 2026-10-25T02:30:00+02:00 \
             (first, CEST) or 2026-10-25T02:30:00+01:00 (second, CET)"
        );
        let err = resolve("2026-11-01T01:30", None, New_York, now()).unwrap_err();
        assert!(matches!(
            &err,
            ScheduleError::Ambiguous { earlier, later, .. }
                if earlier == "2026-11-01T01:30:00-04:00" && later == "2026-11-01T01:30:00-05:00"
        ));
        // The offset form the message suggests is accepted and picks the second one.
        let r = resolve(
            "2026-10-25T02:30:00+01:00",
            Some("Europe/Berlin"),
            UTC,
            now(),
        )
        .unwrap();
        assert_eq!(r.utc, at("2026-10-25T01:30:00Z"));
        assert_eq!(r.local, "2026-10-25T02:30:00+01:00");
    }

    #[test]
    fn past_times_are_refused_with_a_grace_minute() {
        let err = resolve("2026-01-15T09:30", None, Berlin, now()).unwrap_err();
        assert!(matches!(err, ScheduleError::Past { .. }));
        assert_eq!(
            err.to_string(),
            "2026-01-15T09:30:00+01:00 is 3 hours 30 minutes in the past (it is now \
             2026-01-15T13:00:00+01:00 in Europe/Berlin): pass a later time, or `now` to \
             publish right away"
        );
        assert!(resolve("2026-01-15T11:59:30Z", None, Berlin, now()).is_ok());
        assert!(resolve("2026-01-15T11:58:59Z", None, Berlin, now()).is_err());
        let err = resolve("2025-01-13T11:00:00Z", None, UTC, now()).unwrap_err();
        assert!(
            err.to_string().contains("367 days 1 hour in the past"),
            "{err}"
        );
    }

    #[test]
    fn unknown_zone_and_garbage_are_refused() {
        let err = resolve("2026-12-01T09:30", Some("Mars/Olympus"), Berlin, now()).unwrap_err();
        assert_eq!(
            err,
            ScheduleError::UnknownZone {
                input: "Mars/Olympus".into()
            }
        );
        for bad in [
            "tomorrow",
            "",
            "2026-12-01",
            "2026-13-01T09:30",
            "\u{0}",
            "９:３０",
        ] {
            assert!(
                matches!(
                    resolve(bad, None, Berlin, now()),
                    Err(ScheduleError::Unparseable { .. })
                ),
                "{bad:?}"
            );
        }
        let huge = "x".repeat(100_000);
        let err = resolve(&huge, None, Berlin, now()).unwrap_err();
        assert!(err.to_string().len() < 500);
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        for input in [
            "+262142-12-31T23:59:59Z",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00",
        ] {
            let _ = resolve(input, None, Berlin, now());
        }
    }
}
