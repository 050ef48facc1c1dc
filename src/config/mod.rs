//! Settings, loaded once at start-up: defaults, then an optional TOML file, then `PSN_*`
//! environment variables (and a `.env` file in the working directory). Every key is
//! listed once in [`keys::KEYS`] with its environment variable, its parser and its help,
//! so the file, the environment and `psn doctor` all agree on what exists.

mod keys;
mod load;
mod secret;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use keys::{KEYS, Key};
pub use load::{LoadOptions, load};
pub use secret::Secret;

/// Everything psn can be told, with where each value came from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    /// The time zone a schedule without an offset is read in.
    pub timezone: chrono_tz::Tz,
    pub hub: HubSettings,
    pub scheduler: SchedulerSettings,
    pub vault: VaultSettings,
    pub platforms: PlatformSettings,
    /// Periodic analytics jobs and the content strategy file.
    pub jobs: JobSettings,
    /// A tracing filter (`info`, `psn=debug,sqlx=warn`).
    pub log: String,
    /// Where psn keeps its SQLite file and key file by default.
    pub data_dir: PathBuf,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Where each key's value came from; keys not listed kept their default.
    pub origins: BTreeMap<&'static str, Origin>,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://…`, `sqlite://…`, or unset for the SQLite file in `data_dir`.
    pub url: Option<Secret>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub sqlite_busy_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubKind {
    /// One person's accounts: scheduling needs no approval.
    Personal,
    /// A company's accounts: scheduled posts wait for an approver.
    Company,
}

#[derive(Debug, Clone)]
pub struct HubSettings {
    pub kind: HubKind,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub enabled: bool,
    /// How many due posts one claim takes.
    pub batch_size: u32,
    /// How long a claim holds a post before the sweeper may take it back.
    pub lease: Duration,
    pub max_attempts: u32,
    /// A post that cannot be published within this long after its time fails with a reason.
    pub missed_window: Duration,
    /// The slow fallback poll, in case a wake-up was missed.
    pub fallback_poll: Duration,
    /// How long after an unknown outcome psn waits before asking the platform, so a
    /// post the platform shows with a delay is seen.
    pub reconcile_delay: Duration,
    /// How long in-flight publishes may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// A name for this instance; defaults to host and pid.
    pub instance: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VaultSettings {
    /// A base64 32-byte key; beats the key file.
    pub key: Option<Secret>,
    /// A file holding the base64 key, mode 0600.
    pub key_file: PathBuf,
}

/// Periodic jobs (metrics collection, engagement monitor) and the strategy file.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Cron for collecting metrics of recent posts; `None` = off.
    pub metrics_cron: Option<String>,
    /// Posts published within this many days are collected.
    pub metrics_window_days: u32,
    /// A post whose newest snapshot is younger than this is not collected again.
    pub metrics_max_age: Duration,
    /// Cron for refreshing tokens that expire within `token_refresh_window`; `None` = off.
    pub token_refresh_cron: Option<String>,
    pub token_refresh_window: Duration,
    /// Cron for the engagement monitor (score_opportunities); `None` = off.
    pub engagement_cron: Option<String>,
    /// Local hours `[start, end)` in `timezone` during which the monitor runs.
    pub active_hours: (u32, u32),
    /// The content strategy (pillars) file; see `app::opportunities::strategy`.
    pub strategy_file: Option<PathBuf>,
}

/// Per-platform knobs. Base URLs are configurable so tests can point at local fakes.
#[derive(Debug, Clone, Default)]
pub struct PlatformSettings {
    pub x_base_url: Option<String>,
    /// X's OAuth 2 authorize page (default https://x.com/i/oauth2/authorize).
    pub x_auth_url: Option<String>,
    pub x_client_id: Option<String>,
    pub x_client_secret: Option<Secret>,
    pub bluesky_pds_url: Option<String>,
    /// The post length limit of the user's Mastodon instance.
    pub mastodon_max_chars: u32,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Env(&'static str),
    DotEnv(&'static str, PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "the config file {}", p.display()),
            Origin::Env(var) => write!(f, "the environment variable {var}"),
            Origin::DotEnv(var, p) => write!(f, "{var} in {}", p.display()),
        }
    }
}

/// A setting that could not be used: which key, where it came from, and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: `{key}` from {origin}: {message}")]
    Invalid {
        key: &'static str,
        origin: Origin,
        message: String,
    },
    #[error(
        "config: unknown key `{key}` in {file}: known keys are listed in config/psn.example.toml"
    )]
    UnknownKey { key: String, file: String },
    #[error("config: cannot read {path}: {message}")]
    Unreadable { path: String, message: String },
}

impl Settings {
    /// The defaults, before any file or variable is read.
    pub fn defaults(data_dir: PathBuf) -> Self {
        Settings {
            database: DatabaseSettings {
                url: None,
                max_connections: 8,
                min_connections: 0,
                acquire_timeout: Duration::from_secs(5),
                sqlite_busy_timeout: Duration::from_secs(5),
            },
            timezone: keys::system_timezone(),
            hub: HubSettings {
                kind: HubKind::Personal,
                name: "personal".into(),
            },
            scheduler: SchedulerSettings {
                enabled: true,
                batch_size: 32,
                lease: Duration::from_secs(60),
                max_attempts: 5,
                missed_window: Duration::from_secs(3600),
                fallback_poll: Duration::from_secs(60),
                reconcile_delay: Duration::from_secs(30),
                shutdown_grace: Duration::from_secs(20),
                instance: None,
            },
            vault: VaultSettings {
                key: None,
                key_file: data_dir.join("key"),
            },
            platforms: PlatformSettings {
                mastodon_max_chars: 500,
                ..PlatformSettings::default()
            },
            jobs: JobSettings {
                metrics_cron: Some("0 6 * * *".into()),
                metrics_window_days: 30,
                metrics_max_age: Duration::from_secs(12 * 3600),
                token_refresh_cron: Some("*/10 * * * *".into()),
                token_refresh_window: Duration::from_secs(30 * 60),
                engagement_cron: Some("*/30 * * * *".into()),
                active_hours: (8, 20),
                strategy_file: None,
            },
            log: "info".into(),
            data_dir,
            config_file: None,
            origins: BTreeMap::new(),
        }
    }

    /// The SQLite file used when no database URL is set.
    pub fn default_sqlite_path(&self) -> PathBuf {
        self.data_dir.join("psn.db")
    }

    /// Where a key's value came from, as words.
    pub fn origin_of(&self, key: &str) -> String {
        self.origins
            .get(key)
            .map_or_else(|| "the default".to_owned(), ToString::to_string)
    }
}
