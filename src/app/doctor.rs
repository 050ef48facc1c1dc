//! `psn doctor`: is this installation able to do its job, and if not, what fixes it.

use std::path::Path;

use serde::Serialize;

use crate::config::Settings;
use crate::store::{self, DatabaseTarget, StoreError};

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    /// Works, but something deserves attention.
    Warn,
    /// psn cannot do its job until this is fixed.
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub health: Health,
    pub detail: String,
    /// What to run or change, when something is wrong.
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.health != Health::Fail)
    }
}

fn check(
    name: &'static str,
    health: Health,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        name,
        health,
        detail: detail.into(),
        fix,
    }
}

/// Runs every check. Never writes: a missing SQLite file is reported, not created.
pub async fn run(settings: &Settings, warnings: &[String]) -> Report {
    let mut checks = Vec::new();
    let file = settings.config_file.as_ref().map_or(
        "no config file (defaults and PSN_* variables)".to_owned(),
        |p| format!("read {}", p.display()),
    );
    let health = if warnings.is_empty() {
        Health::Ok
    } else {
        Health::Warn
    };
    let detail = if warnings.is_empty() {
        file
    } else {
        format!("{file}; {}", warnings.join("; "))
    };
    checks.push(check("config", health, detail, None));

    match DatabaseTarget::from_settings(settings) {
        Err(e) => checks.push(check(
            "database",
            Health::Fail,
            e.to_string(),
            Some("fix PSN_DATABASE_URL".into()),
        )),
        Ok(target) => database_checks(settings, &target, &mut checks).await,
    }
    checks.push(key_check(settings));
    Report { checks }
}

async fn database_checks(settings: &Settings, target: &DatabaseTarget, checks: &mut Vec<Check>) {
    if let DatabaseTarget::Sqlite(path) = target
        && !path.exists()
    {
        let (health, detail, fix) = match creatable_dir(path) {
            Ok(()) => (
                Health::Ok,
                format!(
                    "{}: not created yet; `psn serve` or `psn migrate` creates it",
                    target.describe()
                ),
                None,
            ),
            Err(why) => (
                Health::Fail,
                format!("{}: cannot be created: {why}", target.describe()),
                Some("set PSN_DATABASE_URL to a writable sqlite:// path".into()),
            ),
        };
        checks.push(check("database", health, detail, fix));
        return;
    }
    let store = match store::connect(settings, target, false).await {
        Ok(store) => store,
        Err(e) => {
            let fix = match e {
                StoreError::Unavailable {
                    backend: "Postgres",
                    ..
                } => "start Postgres, or check host, port and credentials in PSN_DATABASE_URL",
                _ => "check PSN_DATABASE_URL",
            };
            checks.push(check(
                "database",
                Health::Fail,
                e.to_string(),
                Some(fix.into()),
            ));
            return;
        }
    };
    if let Err(e) = store.ping().await {
        checks.push(check("database", Health::Fail, e.to_string(), None));
        return;
    }
    checks.push(check(
        "database",
        Health::Ok,
        format!("{} answers", target.describe()),
        None,
    ));
    match store.migration_status().await {
        Err(e) => checks.push(check("migrations", Health::Fail, e.to_string(), None)),
        Ok(status) => {
            let unknown = status.unknown();
            let pending = status.pending();
            let newest = status.known.last().copied().unwrap_or(0);
            if !unknown.is_empty() {
                checks.push(check(
                    "migrations",
                    Health::Fail,
                    format!("the database has migrations {unknown:?} that this psn does not know (it knows up to {newest})"),
                    Some("upgrade psn".into()),
                ));
            } else if !pending.is_empty() {
                checks.push(check(
                    "migrations",
                    Health::Warn,
                    format!(
                        "{} of {} applied; pending {pending:?}",
                        status.applied.len(),
                        status.known.len()
                    ),
                    Some(
                        "run `psn migrate` (psn serve and psn scheduler also apply them at start)"
                            .into(),
                    ),
                ));
            } else {
                checks.push(check(
                    "migrations",
                    Health::Ok,
                    format!("up to date (version {newest})"),
                    None,
                ));
            }
        }
    }
}

/// Whether the directory for a new SQLite file exists and is writable, or can be created.
fn creatable_dir(path: &Path) -> Result<(), String> {
    let mut dir = path.parent().unwrap_or(Path::new("."));
    loop {
        if dir.as_os_str().is_empty() {
            dir = Path::new(".");
        }
        if dir.exists() {
            if !dir.is_dir() {
                return Err(format!("{} is not a directory", dir.display()));
            }
            let meta = std::fs::metadata(dir).map_err(|e| e.to_string())?;
            if meta.permissions().readonly() {
                return Err(format!("{} is read-only", dir.display()));
            }
            return Ok(());
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return Err("no existing parent directory".into()),
        }
    }
}

fn key_check(settings: &Settings) -> Check {
    if settings.vault.key.is_some() {
        return check(
            "encryption key",
            Health::Ok,
            format!("from {}", settings.origin_of("vault.key")),
            None,
        );
    }
    let path = &settings.vault.key_file;
    match std::fs::metadata(path) {
        Ok(meta) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                check(
                    "encryption key",
                    Health::Fail,
                    format!("{} is readable by others (mode {mode:o})", path.display()),
                    Some(format!("chmod 600 {}", path.display())),
                )
            } else {
                check(
                    "encryption key",
                    Health::Ok,
                    format!("key file {}", path.display()),
                    None,
                )
            }
        }
        Err(_) => check(
            "encryption key",
            Health::Warn,
            format!(
                "none yet (no PSN_ENCRYPTION_KEY, no {}); needed once you connect an account",
                path.display()
            ),
            Some("run `psn init` to create one".into()),
        ),
    }
}
