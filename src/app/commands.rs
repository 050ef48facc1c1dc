//! The product's slash commands (`commands/*.md`), embedded in the binary so `psn init`
//! can install them and `psn serve` can offer them as MCP prompts from any directory.

/// One command file.
#[derive(Debug, Clone, Copy)]
pub struct CommandFile {
    /// The file stem: the command's and the prompt's name.
    pub name: &'static str,
    /// The whole file, frontmatter included, as installed.
    pub source: &'static str,
}

macro_rules! commands {
    ($($name:literal),* $(,)?) => {
        &[$(CommandFile {
            name: $name,
            source: include_str!(concat!("../../commands/", $name, ".md")),
        }),*]
    };
}

/// Every command, in the order they are listed.
pub const COMMANDS: &[CommandFile] = commands!(
    "setup", "post", "plan", "capture", "engage", "review", "approve", "series", "config",
    "calendar",
);

/// The frontmatter fields psn reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontmatter {
    pub description: Option<String>,
    pub argument_hint: Option<String>,
    /// The `allowed-tools` entries, split at commas.
    pub allowed_tools: Vec<String>,
}

impl CommandFile {
    pub fn find(name: &str) -> Option<&'static CommandFile> {
        COMMANDS.iter().find(|c| c.name == name)
    }

    /// The frontmatter and the body after it.
    pub fn split(&self) -> (Frontmatter, &'static str) {
        split(self.source)
    }

    /// The body with `$ARGUMENTS` replaced, as Claude Code does for a slash command.
    pub fn render(&self, arguments: &str) -> String {
        self.split().1.replace("$ARGUMENTS", arguments)
    }
}

/// Splits `---\nkey: value\n---\nbody`. A file without frontmatter is all body.
pub fn split(source: &str) -> (Frontmatter, &str) {
    let mut fm = Frontmatter::default();
    let Some(rest) = source.strip_prefix("---\n") else {
        return (fm, source);
    };
    let Some(end) = rest.find("\n---\n") else {
        return (fm, source);
    };
    for line in rest[..end].lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "description" => fm.description = Some(value.to_owned()),
            "argument-hint" => fm.argument_hint = Some(value.to_owned()),
            "allowed-tools" => {
                fm.allowed_tools = value
                    .split(',')
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect();
            }
            _ => {}
        }
    }
    (fm, rest[end + 5..].trim_start_matches('\n'))
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_description_and_uses_its_arguments() {
        assert_eq!(COMMANDS.len(), 10);
        for c in COMMANDS {
            let (fm, body) = c.split();
            assert!(fm.description.is_some(), "{}", c.name);
            assert!(fm.argument_hint.is_some(), "{}", c.name);
            assert!(!fm.allowed_tools.is_empty(), "{}", c.name);
            assert!(body.contains("$ARGUMENTS"), "{}", c.name);
            assert!(!body.starts_with("---"), "{}", c.name);
            assert!(c.render("hello").contains("hello"), "{}", c.name);
        }
    }

    #[test]
    fn frontmatter_parses() {
        let (fm, body) = split(
            "---\ndescription: Do it\nargument-hint: \"[x]\"\nallowed-tools: a, b\n---\nBody $ARGUMENTS\n",
        );
        assert_eq!(fm.description.as_deref(), Some("Do it"));
        assert_eq!(fm.argument_hint.as_deref(), Some("[x]"));
        assert_eq!(fm.allowed_tools, vec!["a", "b"]);
        assert_eq!(body, "Body $ARGUMENTS\n");
        let (fm, body) = split("no frontmatter");
        assert_eq!(fm, Frontmatter::default());
        assert_eq!(body, "no frontmatter");
    }
}
