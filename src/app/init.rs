//! `psn init`: point Claude Code in a directory at psn. Writes `.mcp.json` (adding psn
//! next to any servers already there) and installs the slash commands into
//! `.claude/commands/psn/`. A file a person edited is kept unless `force` is set.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::commands::COMMANDS;

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    Created,
    /// Already held what psn would write.
    Unchanged,
    /// Changed: psn's part was missing, or `force` replaced an edited file.
    Updated,
    /// Differs from what psn would write and was left alone (no `force`).
    Kept,
}

impl fmt::Display for FileOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            FileOutcome::Created => "created",
            FileOutcome::Unchanged => "unchanged",
            FileOutcome::Updated => "updated",
            FileOutcome::Kept => "kept (edited, use --force to replace)",
        })
    }
}

#[derive(Debug, Clone)]
pub struct InitReport {
    pub files: Vec<(PathBuf, FileOutcome)>,
}

impl InitReport {
    pub fn kept(&self) -> usize {
        self.files
            .iter()
            .filter(|(_, o)| *o == FileOutcome::Kept)
            .count()
    }
}

/// The psn entry of `.mcp.json` for a binary at `binary`.
pub fn server_entry(binary: &Path) -> Value {
    json!({ "command": binary.to_string_lossy(), "args": ["serve"] })
}

/// Installs psn into `dir` for Claude Code.
pub fn init(dir: &Path, binary: &Path, force: bool) -> io::Result<InitReport> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let mcp = dir.join(".mcp.json");
    let outcome = write_mcp_json(&mcp, &server_entry(binary), force)?;
    files.push((mcp, outcome));
    let commands_dir = dir.join(".claude").join("commands").join("psn");
    std::fs::create_dir_all(&commands_dir)?;
    for c in COMMANDS {
        let path = commands_dir.join(format!("{}.md", c.name));
        let outcome = write_file(&path, c.source, force)?;
        files.push((path, outcome));
    }
    Ok(InitReport { files })
}

fn write_file(path: &Path, content: &str, force: bool) -> io::Result<FileOutcome> {
    match std::fs::read(path) {
        Ok(existing) if existing == content.as_bytes() => Ok(FileOutcome::Unchanged),
        Ok(_) if !force => Ok(FileOutcome::Kept),
        Ok(_) => {
            std::fs::write(path, content)?;
            Ok(FileOutcome::Updated)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::write(path, content)?;
            Ok(FileOutcome::Created)
        }
        Err(e) => Err(e),
    }
}

/// Adds or checks the `psn` server in `.mcp.json`, keeping every other server.
fn write_mcp_json(path: &Path, entry: &Value, force: bool) -> io::Result<FileOutcome> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let Some(text) = existing else {
        let doc = json!({ "mcpServers": { "psn": entry } });
        std::fs::write(path, pretty(&doc))?;
        return Ok(FileOutcome::Created);
    };
    let parsed: Option<Map<String, Value>> = serde_json::from_str(&text).ok();
    let Some(mut doc) = parsed else {
        // Not a JSON object: psn cannot merge into it.
        if !force {
            return Ok(FileOutcome::Kept);
        }
        std::fs::write(path, pretty(&json!({ "mcpServers": { "psn": entry } })))?;
        return Ok(FileOutcome::Updated);
    };
    let servers = doc
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(servers) = servers.as_object_mut() else {
        if !force {
            return Ok(FileOutcome::Kept);
        }
        doc.insert("mcpServers".into(), json!({ "psn": entry }));
        std::fs::write(path, pretty(&Value::Object(doc)))?;
        return Ok(FileOutcome::Updated);
    };
    match servers.get("psn") {
        Some(current) if current == entry => Ok(FileOutcome::Unchanged),
        Some(_) if !force => Ok(FileOutcome::Kept),
        _ => {
            servers.insert("psn".into(), entry.clone());
            std::fs::write(path, pretty(&Value::Object(doc)))?;
            Ok(FileOutcome::Updated)
        }
    }
}

fn pretty(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_into_an_existing_mcp_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".mcp.json");
        std::fs::write(&path, r#"{"mcpServers":{"other":{"command":"x"}}}"#).unwrap();
        let entry = server_entry(Path::new("/usr/bin/psn"));
        assert_eq!(
            write_mcp_json(&path, &entry, false).unwrap(),
            FileOutcome::Updated
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["mcpServers"]["other"]["command"], "x");
        assert_eq!(doc["mcpServers"]["psn"]["args"][0], "serve");
        assert_eq!(
            write_mcp_json(&path, &entry, false).unwrap(),
            FileOutcome::Unchanged
        );
        let other = server_entry(Path::new("/opt/psn"));
        assert_eq!(
            write_mcp_json(&path, &other, false).unwrap(),
            FileOutcome::Kept
        );
        assert_eq!(
            write_mcp_json(&path, &other, true).unwrap(),
            FileOutcome::Updated
        );
    }
}
