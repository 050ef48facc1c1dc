//! Reading settings: defaults → config file → `.env` → environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::keys::{KEYS, OTHER_VARS};
use super::{ConfigError, Origin, Settings};

/// Where to look. Tests fill `env` and `cwd` instead of touching the process's own.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A config file named on the command line; it must exist.
    pub config_file: Option<PathBuf>,
    /// The environment to read; `None` reads the process environment.
    pub env: Option<BTreeMap<String, String>>,
    /// The directory `.env` and `config/psn.toml` are looked for in; `None` is the current one.
    pub cwd: Option<PathBuf>,
}

/// Loads settings and returns them with warnings worth showing (unknown `PSN_*` variables).
pub fn load(opts: &LoadOptions) -> Result<(Settings, Vec<String>), ConfigError> {
    let env: BTreeMap<String, String> = match &opts.env {
        Some(env) => env.clone(),
        None => std::env::vars().collect(),
    };
    let cwd = opts
        .cwd
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
    let data_dir = dirs::data_dir().map_or_else(|| cwd.join(".psn"), |d| d.join("psn"));
    let mut settings = Settings::defaults(data_dir);
    let mut warnings = Vec::new();

    let explicit = opts
        .config_file
        .clone()
        .or_else(|| env.get("PSN_CONFIG").map(PathBuf::from));
    let file = match explicit {
        Some(path) => Some(path),
        None => [
            Some(cwd.join("config/psn.toml")),
            dirs::config_dir().map(|d| d.join("psn/psn.toml")),
        ]
        .into_iter()
        .flatten()
        .find(|p| p.is_file()),
    };
    if let Some(path) = file {
        apply_file(&mut settings, &path)?;
        settings.config_file = Some(path);
    }

    let dotenv_path = cwd.join(".env");
    if dotenv_path.is_file() {
        let iter = dotenvy::from_path_iter(&dotenv_path).map_err(|e| ConfigError::Unreadable {
            path: dotenv_path.display().to_string(),
            message: e.to_string(),
        })?;
        for item in iter {
            let (var, value) = item.map_err(|e| ConfigError::Unreadable {
                path: dotenv_path.display().to_string(),
                message: e.to_string(),
            })?;
            // The real environment beats the file.
            if env.contains_key(&var) {
                continue;
            }
            if let Some(key) = KEYS.iter().find(|k| k.env == var) {
                apply(
                    &mut settings,
                    key,
                    &value,
                    Origin::DotEnv(key.env, dotenv_path.clone()),
                )?;
            }
        }
    }

    for (var, value) in &env {
        if let Some(key) = KEYS.iter().find(|k| k.env == var) {
            apply(&mut settings, key, value, Origin::Env(key.env))?;
        } else if var.starts_with("PSN_") && !OTHER_VARS.contains(&var.as_str()) {
            warnings.push(format!("ignoring unknown environment variable {var}: `psn doctor --keys` lists the known ones"));
        }
    }

    if !settings.origins.contains_key("vault.key_file") {
        settings.vault.key_file = settings.data_dir.join("key");
    }
    Ok((settings, warnings))
}

fn apply(
    settings: &mut Settings,
    key: &'static super::Key,
    value: &str,
    origin: Origin,
) -> Result<(), ConfigError> {
    (key.apply)(settings, value).map_err(|message| ConfigError::Invalid {
        key: key.name,
        origin: origin.clone(),
        message,
    })?;
    settings.origins.insert(key.name, origin);
    Ok(())
}

fn apply_file(settings: &mut Settings, path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigError::Unreadable {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
    let mut flat = Vec::new();
    flatten("", &table, &mut flat);
    for (name, value) in flat {
        let Some(key) = KEYS.iter().find(|k| k.name == name) else {
            return Err(ConfigError::UnknownKey {
                key: name,
                file: path.display().to_string(),
            });
        };
        let origin = Origin::File(path.to_owned());
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError::Invalid {
                    key: key.name,
                    origin,
                    message: format!("expected a single value, got a {}", other.type_str()),
                });
            }
        };
        apply(settings, key, &text, origin)?;
    }
    Ok(())
}

fn flatten<'a>(prefix: &str, table: &'a toml::Table, out: &mut Vec<(String, &'a toml::Value)>) {
    for (k, v) in table {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&name, t, out),
            other => out.push((name, other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path, env: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            config_file: None,
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            cwd: Some(dir.to_owned()),
        }
    }

    #[test]
    fn defaults_then_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/psn.toml"),
            "timezone = \"Europe/Berlin\"\n[scheduler]\nbatch_size = 7\nmax_attempts = 3\n",
        )
        .unwrap();
        let (s, warnings) = load(&opts(
            dir.path(),
            &[("PSN_SCHEDULER_MAX_ATTEMPTS", "9"), ("PSN_TYPO", "1")],
        ))
        .unwrap();
        assert_eq!(s.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(s.scheduler.batch_size, 7);
        assert_eq!(s.scheduler.max_attempts, 9);
        assert_eq!(
            s.origins["scheduler.max_attempts"],
            Origin::Env("PSN_SCHEDULER_MAX_ATTEMPTS")
        );
        assert!(matches!(s.origins["scheduler.batch_size"], Origin::File(_)));
        assert_eq!(s.origin_of("hub.kind"), "the default");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("PSN_TYPO"));
    }

    #[test]
    fn errors_name_key_origin_and_expectation() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&opts(dir.path(), &[("PSN_SCHEDULER_BATCH_SIZE", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheduler.batch_size"), "{err}");
        assert!(err.contains("PSN_SCHEDULER_BATCH_SIZE"), "{err}");
        assert!(err.contains("whole number from 1 to 1000"), "{err}");

        std::fs::create_dir(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/psn.toml"),
            "[scheduler]\nbatch_sise = 3\n",
        )
        .unwrap();
        let err = load(&opts(dir.path(), &[])).unwrap_err().to_string();
        assert!(err.contains("unknown key `scheduler.batch_sise`"), "{err}");

        std::fs::write(
            dir.path().join("config/psn.toml"),
            "timezone = \"Mars/Olympus\"\n",
        )
        .unwrap();
        let err = load(&opts(dir.path(), &[])).unwrap_err().to_string();
        assert!(err.contains("`timezone` from the config file"), "{err}");
    }

    #[test]
    fn dotenv_fills_in_but_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "PSN_HUB_NAME=from-dotenv\nPSN_LOG=debug\nOTHER=1\n",
        )
        .unwrap();
        let (s, _) = load(&opts(dir.path(), &[("PSN_LOG", "warn")])).unwrap();
        assert_eq!(s.hub.name, "from-dotenv");
        assert_eq!(s.log, "warn");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = load(&opts(
            dir.path(),
            &[
                ("PSN_DATABASE_URL", "postgres://u:canary-pw@h/db"),
                ("PSN_ENCRYPTION_KEY", "canary-key"),
            ],
        ))
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("canary"), "{debug}");
    }
}
