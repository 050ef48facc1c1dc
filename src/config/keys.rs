//! Every setting psn reads: its name in the config file, its environment variable, how
//! its value is parsed, and what it means.

use std::path::PathBuf;
use std::time::Duration;

use super::{HubKind, Secret, Settings};

/// One setting.
pub struct Key {
    /// The dotted name in the config file (`scheduler.batch_size`).
    pub name: &'static str,
    pub env: &'static str,
    pub help: &'static str,
    pub apply: fn(&mut Settings, &str) -> Result<(), String>,
}

pub static KEYS: &[Key] = &[
    Key {
        name: "database.url",
        env: "PSN_DATABASE_URL",
        help: "postgres://user@host/db, sqlite:///path/psn.db, or unset for a SQLite file in the data directory",
        apply: |s, v| {
            s.database.url = Some(Secret::new(nonempty(v)?));
            Ok(())
        },
    },
    Key {
        name: "database.max_connections",
        env: "PSN_DATABASE_MAX_CONNECTIONS",
        help: "pool size (1-100)",
        apply: |s, v| {
            s.database.max_connections = number(v, 1, 100)?;
            Ok(())
        },
    },
    Key {
        name: "database.min_connections",
        env: "PSN_DATABASE_MIN_CONNECTIONS",
        help: "connections kept open when idle (0-100)",
        apply: |s, v| {
            s.database.min_connections = number(v, 0, 100)?;
            Ok(())
        },
    },
    Key {
        name: "database.acquire_timeout_secs",
        env: "PSN_DATABASE_ACQUIRE_TIMEOUT_SECS",
        help: "how long to wait for a connection before reporting the database unreachable",
        apply: |s, v| {
            s.database.acquire_timeout = seconds(v, 1, 300)?;
            Ok(())
        },
    },
    Key {
        name: "database.sqlite_busy_timeout_ms",
        env: "PSN_SQLITE_BUSY_TIMEOUT_MS",
        help: "how long SQLite waits for another writer",
        apply: |s, v| {
            s.database.sqlite_busy_timeout = Duration::from_millis(number(v, 0, 600_000)?.into());
            Ok(())
        },
    },
    Key {
        name: "timezone",
        env: "PSN_TIMEZONE",
        help: "IANA time zone for schedules given without an offset (Europe/Berlin)",
        apply: |s, v| {
            s.timezone = v.trim().parse().map_err(|_| {
                format!("expected an IANA time zone such as Europe/Berlin or America/New_York, got `{}`", shorten(v))
            })?;
            Ok(())
        },
    },
    Key {
        name: "hub.kind",
        env: "PSN_HUB_KIND",
        help: "personal (no approvals) or company (scheduled posts wait for an approver)",
        apply: |s, v| {
            s.hub.kind = match v.trim() {
                "personal" => HubKind::Personal,
                "company" => HubKind::Company,
                _ => {
                    return Err(format!(
                        "expected `personal` or `company`, got `{}`",
                        shorten(v)
                    ));
                }
            };
            Ok(())
        },
    },
    Key {
        name: "hub.name",
        env: "PSN_HUB_NAME",
        help: "a name for this hub, shown in reports",
        apply: |s, v| {
            s.hub.name = nonempty(v)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.enabled",
        env: "PSN_SCHEDULER_ENABLED",
        help: "whether `psn serve` runs the scheduler in-process",
        apply: |s, v| {
            s.scheduler.enabled = boolean(v)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.batch_size",
        env: "PSN_SCHEDULER_BATCH_SIZE",
        help: "due posts taken per claim (1-1000)",
        apply: |s, v| {
            s.scheduler.batch_size = number(v, 1, 1000)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.lease_secs",
        env: "PSN_SCHEDULER_LEASE_SECS",
        help: "how long a claim holds a post (5-3600)",
        apply: |s, v| {
            s.scheduler.lease = seconds(v, 5, 3600)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.max_attempts",
        env: "PSN_SCHEDULER_MAX_ATTEMPTS",
        help: "publish attempts before a post fails (1-20)",
        apply: |s, v| {
            s.scheduler.max_attempts = number(v, 1, 20)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.missed_window_secs",
        env: "PSN_SCHEDULER_MISSED_WINDOW_SECS",
        help: "how late a post may still go out before it fails with a reason",
        apply: |s, v| {
            s.scheduler.missed_window = seconds(v, 1, 7 * 86_400)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.fallback_poll_secs",
        env: "PSN_SCHEDULER_POLL_SECS",
        help: "slow fallback poll in case a wake-up is missed",
        apply: |s, v| {
            s.scheduler.fallback_poll = seconds(v, 1, 3600)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.reconcile_delay_secs",
        env: "PSN_SCHEDULER_RECONCILE_DELAY_SECS",
        help: "wait after an unknown outcome before asking the platform whether the post exists",
        apply: |s, v| {
            s.scheduler.reconcile_delay = seconds(v, 0, 3600)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.shutdown_grace_secs",
        env: "PSN_SCHEDULER_GRACE_SECS",
        help: "how long in-flight publishes may finish on shutdown",
        apply: |s, v| {
            s.scheduler.shutdown_grace = seconds(v, 0, 600)?;
            Ok(())
        },
    },
    Key {
        name: "scheduler.instance",
        env: "PSN_SCHEDULER_INSTANCE",
        help: "a name for this scheduler instance (default: host and pid)",
        apply: |s, v| {
            s.scheduler.instance = Some(nonempty(v)?);
            Ok(())
        },
    },
    Key {
        name: "vault.key",
        env: "PSN_ENCRYPTION_KEY",
        help: "base64 of 32 random bytes; seals platform tokens (prefer the key file)",
        apply: |s, v| {
            s.vault.key = Some(Secret::new(nonempty(v)?));
            Ok(())
        },
    },
    Key {
        name: "vault.key_file",
        env: "PSN_KEY_FILE",
        help: "file holding the encryption key, mode 0600 (default: DATA_DIR/key)",
        apply: |s, v| {
            s.vault.key_file = PathBuf::from(nonempty(v)?);
            Ok(())
        },
    },
    Key {
        name: "platforms.x.base_url",
        env: "PSN_X_BASE_URL",
        help: "X API base URL (default https://api.x.com)",
        apply: |s, v| {
            s.platforms.x_base_url = Some(url(v)?);
            Ok(())
        },
    },
    Key {
        name: "platforms.x.auth_url",
        env: "PSN_X_AUTH_URL",
        help: "X OAuth 2 authorize page (default https://x.com/i/oauth2/authorize)",
        apply: |s, v| {
            s.platforms.x_auth_url = Some(url(v)?);
            Ok(())
        },
    },
    Key {
        name: "platforms.x.client_id",
        env: "PSN_X_CLIENT_ID",
        help: "OAuth 2 client id of your X app",
        apply: |s, v| {
            s.platforms.x_client_id = Some(nonempty(v)?);
            Ok(())
        },
    },
    Key {
        name: "platforms.x.client_secret",
        env: "PSN_X_CLIENT_SECRET",
        help: "OAuth 2 client secret of your X app (confidential clients only)",
        apply: |s, v| {
            s.platforms.x_client_secret = Some(Secret::new(nonempty(v)?));
            Ok(())
        },
    },
    Key {
        name: "platforms.bluesky.pds_url",
        env: "PSN_BLUESKY_PDS_URL",
        help: "Bluesky PDS base URL (default https://bsky.social)",
        apply: |s, v| {
            s.platforms.bluesky_pds_url = Some(url(v)?);
            Ok(())
        },
    },
    Key {
        name: "platforms.mastodon.max_chars",
        env: "PSN_MASTODON_MAX_CHARS",
        help: "your Mastodon instance's post length limit (default 500)",
        apply: |s, v| {
            s.platforms.mastodon_max_chars = number(v, 1, 100_000)?;
            Ok(())
        },
    },
    Key {
        name: "jobs.metrics.cron",
        env: "PSN_JOBS_METRICS_CRON",
        help: "when to collect metrics of recent posts (cron, in `timezone`; `off` disables)",
        apply: |s, v| {
            s.jobs.metrics_cron = cron(v)?;
            Ok(())
        },
    },
    Key {
        name: "jobs.token_refresh.cron",
        env: "PSN_JOBS_TOKEN_REFRESH_CRON",
        help: "when to refresh access tokens that expire soon (cron; `off` disables)",
        apply: |s, v| {
            s.jobs.token_refresh_cron = cron(v)?;
            Ok(())
        },
    },
    Key {
        name: "jobs.token_refresh.window_mins",
        env: "PSN_JOBS_TOKEN_REFRESH_WINDOW_MINS",
        help: "refresh tokens that expire within this many minutes (5-1440)",
        apply: |s, v| {
            s.jobs.token_refresh_window = Duration::from_secs(u64::from(number(v, 5, 1440)?) * 60);
            Ok(())
        },
    },
    Key {
        name: "jobs.metrics.window_days",
        env: "PSN_JOBS_METRICS_WINDOW_DAYS",
        help: "collect metrics for posts published within this many days (1-365)",
        apply: |s, v| {
            s.jobs.metrics_window_days = number(v, 1, 365)?;
            Ok(())
        },
    },
    Key {
        name: "jobs.metrics.max_age_secs",
        env: "PSN_JOBS_METRICS_MAX_AGE_SECS",
        help: "the job skips posts whose newest snapshot is younger than this",
        apply: |s, v| {
            s.jobs.metrics_max_age = seconds(v, 0, 30 * 86_400)?;
            Ok(())
        },
    },
    Key {
        name: "jobs.engagement.cron",
        env: "PSN_JOBS_ENGAGEMENT_CRON",
        help: "when the engagement monitor scores opportunities (cron; `off` disables)",
        apply: |s, v| {
            s.jobs.engagement_cron = cron(v)?;
            Ok(())
        },
    },
    Key {
        name: "jobs.engagement.active_hours",
        env: "PSN_JOBS_ENGAGEMENT_ACTIVE_HOURS",
        help: "local hours the engagement monitor runs in, START-END (08-20; 22-06 wraps midnight)",
        apply: |s, v| {
            s.jobs.active_hours = hours(v)?;
            Ok(())
        },
    },
    Key {
        name: "strategy.file",
        env: "PSN_STRATEGY_FILE",
        help: "the content strategy (pillars, keywords) for score_opportunities (default ./config/strategy.toml, else DATA_DIR/strategy.toml)",
        apply: |s, v| {
            s.jobs.strategy_file = Some(PathBuf::from(nonempty(v)?));
            Ok(())
        },
    },
    Key {
        name: "log",
        env: "PSN_LOG",
        help: "log filter for stderr (info, debug, psn=debug,sqlx=warn)",
        apply: |s, v| {
            s.log = nonempty(v)?;
            Ok(())
        },
    },
    Key {
        name: "data_dir",
        env: "PSN_DATA_DIR",
        help: "where the SQLite file and key file live (default: the XDG data directory)/psn",
        apply: |s, v| {
            s.data_dir = PathBuf::from(nonempty(v)?);
            Ok(())
        },
    },
];

/// Variables psn reads that are not settings, so they are not reported as typos.
pub const OTHER_VARS: &[&str] = &[
    "PSN_CONFIG",
    "PSN_TEST_DATABASE_URL",
    "PSN_REQUIRE_POSTGRES",
    "PSN_BLUESKY_APP_PASSWORD",
];

fn shorten(v: &str) -> String {
    let s: String = v.chars().take(60).collect();
    if s.len() < v.len() {
        format!("{s}…")
    } else {
        s
    }
}

fn nonempty(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        Err("expected a value, got an empty string".into())
    } else {
        Ok(v.to_owned())
    }
}

fn number(v: &str, min: u32, max: u32) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from {min} to {max}, got `{}`",
            shorten(v)
        )),
    }
}

fn seconds(v: &str, min: u32, max: u32) -> Result<Duration, String> {
    number(v, min, max).map(|n| Duration::from_secs(n.into()))
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got `{}`", shorten(v))),
    }
}

fn url(v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    if v.starts_with("https://") || v.starts_with("http://") {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "expected an http:// or https:// URL, got `{}`",
            shorten(v)
        ))
    }
}

fn cron(v: &str) -> Result<Option<String>, String> {
    let v = nonempty(v)?;
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    if v.split_whitespace().count() != 5 {
        return Err(format!(
            "expected a cron expression of five fields (`0 6 * * *`) or `off`, got `{}`",
            shorten(&v)
        ));
    }
    Ok(Some(v))
}

fn hours(v: &str) -> Result<(u32, u32), String> {
    let bad = || {
        format!(
            "expected START-END in whole hours 0-24 (08-20), got `{}`",
            shorten(v)
        )
    };
    let (a, b) = v.trim().split_once('-').ok_or_else(bad)?;
    let a: u32 = a.trim().parse().map_err(|_| bad())?;
    let b: u32 = b.trim().parse().map_err(|_| bad())?;
    if a > 24 || b > 24 || a == b {
        return Err(bad());
    }
    Ok((a, b))
}

/// The machine's zone from `TZ` or `/etc/localtime`, else UTC.
pub fn system_timezone() -> chrono_tz::Tz {
    let from_env = std::env::var("TZ")
        .ok()
        .map(|s| s.trim_start_matches(':').to_owned());
    let from_link = std::fs::read_link("/etc/localtime").ok().and_then(|p| {
        let s = p.to_string_lossy().into_owned();
        s.split_once("zoneinfo/").map(|(_, zone)| zone.to_owned())
    });
    from_env
        .into_iter()
        .chain(from_link)
        .find_map(|name| name.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_prefixed() {
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        let mut envs: Vec<_> = KEYS.iter().map(|k| k.env).collect();
        names.sort_unstable();
        names.dedup();
        envs.sort_unstable();
        envs.dedup();
        assert_eq!(names.len(), KEYS.len());
        assert_eq!(envs.len(), KEYS.len());
        assert!(envs.iter().all(|e| e.starts_with("PSN_")));
    }

    #[test]
    fn parsers_explain_themselves() {
        assert_eq!(number("12", 1, 20), Ok(12));
        assert!(number("0", 1, 20).unwrap_err().contains("from 1 to 20"));
        assert!(number("abc", 1, 20).unwrap_err().contains("`abc`"));
        assert_eq!(boolean("Yes"), Ok(true));
        assert!(boolean("maybe").is_err());
        assert!(url("ftp://x").is_err());
        assert_eq!(
            url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
    }
}
