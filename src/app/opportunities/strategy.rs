//! The content strategy `score_opportunities` searches for: a TOML file of its own
//! (lists of tables do not fit the flat `psn.toml` keys). Found at `strategy.file` /
//! `PSN_STRATEGY_FILE`, else `./config/strategy.toml`, else `DATA_DIR/strategy.toml`.
//! `config/strategy.example.toml` documents it:
//!
//! ```toml
//! platforms = ["x", "bluesky"]   # where to search (platforms with a search API)
//! languages = ["en"]             # stemming language; X searches are limited to it
//! daily_cap = 20                 # new opportunities returned per UTC day
//! max_age_hours = 48             # how far back to search
//! per_query = 25                 # hits asked for per keyword and platform
//!
//! [[pillars]]
//! name = "scheduling"
//! keywords = ["scheduler", "cron"]
//! phrases = ["social media calendar"]
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::app::AppError;
use crate::config::Settings;
use crate::domain::Platform;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    #[serde(default = "default_platforms")]
    pub platforms: Vec<Platform>,
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    #[serde(default = "default_cap")]
    pub daily_cap: u32,
    #[serde(default = "default_max_age")]
    pub max_age_hours: u32,
    #[serde(default = "default_per_query")]
    pub per_query: u32,
    pub pillars: Vec<Pillar>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pillar {
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub phrases: Vec<String>,
}

fn default_platforms() -> Vec<Platform> {
    vec![Platform::X, Platform::Bluesky]
}
fn default_languages() -> Vec<String> {
    vec!["en".into()]
}
fn default_cap() -> u32 {
    20
}
fn default_max_age() -> u32 {
    48
}
fn default_per_query() -> u32 {
    25
}

/// Where the strategy file is looked for.
pub fn path(settings: &Settings) -> PathBuf {
    if let Some(p) = &settings.jobs.strategy_file {
        return p.clone();
    }
    let local = PathBuf::from("config/strategy.toml");
    if local.is_file() {
        return local;
    }
    settings.data_dir.join("strategy.toml")
}

impl Strategy {
    /// Reads and checks the strategy file.
    pub fn load(settings: &Settings) -> Result<Strategy, AppError> {
        let path = path(settings);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            AppError::invalid(format!(
                "cannot read the strategy file {} ({e}): write one with your content pillars (see config/strategy.example.toml) or set PSN_STRATEGY_FILE",
                path.display()
            ))
        })?;
        Self::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Strategy, AppError> {
        let s: Strategy = toml::from_str(text).map_err(|e| {
            AppError::invalid(format!(
                "the strategy file {} is not valid: {}",
                path.display(),
                e.message()
            ))
        })?;
        let mut problems = Vec::new();
        if s.pillars.is_empty() {
            problems.push("add at least one [[pillars]] table".to_owned());
        }
        for p in &s.pillars {
            if p.name.trim().is_empty() {
                problems.push("every pillar needs a name".to_owned());
            }
            if p.keywords
                .iter()
                .chain(&p.phrases)
                .all(|k| k.trim().is_empty())
            {
                problems.push(format!(
                    "pillar `{}` has no keywords or phrases to search for",
                    p.name
                ));
            }
            if p.keywords.len() + p.phrases.len() > 50 {
                problems.push(format!(
                    "pillar `{}` has more than 50 keywords and phrases",
                    p.name
                ));
            }
        }
        if s.platforms.is_empty() {
            problems.push("`platforms` is empty".to_owned());
        }
        if !(1..=100).contains(&s.per_query) {
            problems.push("`per_query` must be from 1 to 100".to_owned());
        }
        if !(1..=24 * 7).contains(&s.max_age_hours) {
            problems
                .push("`max_age_hours` must be from 1 to 168 (X searches 7 days back)".to_owned());
        }
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(AppError::Invalid {
                message: format!("the strategy file {} needs fixing", path.display()),
                errors: problems,
            })
        }
    }

    /// The language used for stemming.
    pub fn language(&self) -> &str {
        self.languages.first().map_or("en", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../../config/strategy.example.toml");
        let s = Strategy::parse(text, Path::new("strategy.example.toml")).unwrap();
        assert_eq!(s.pillars.len(), 2);
        assert_eq!(
            s.pillars[0].phrases,
            vec!["social media", "content calendar"]
        );
    }

    #[test]
    fn parses_with_defaults_and_explains_problems() {
        let s = Strategy::parse(
            "[[pillars]]\nname = \"rust\"\nkeywords = [\"rust\"]\n",
            Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(s.platforms, vec![Platform::X, Platform::Bluesky]);
        assert_eq!(s.daily_cap, 20);
        assert_eq!(s.language(), "en");
        let err = Strategy::parse(
            "per_query = 0\n[[pillars]]\nname = \"empty\"\n",
            Path::new("s.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("no keywords") && err.contains("per_query"),
            "{err}"
        );
        let typo = Strategy::parse("pilars = []", Path::new("s.toml")).unwrap_err();
        assert!(typo.to_string().contains("pilars"), "{typo}");
    }
}
