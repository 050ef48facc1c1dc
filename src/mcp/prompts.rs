//! The slash commands in `commands/` served as MCP prompts: name = file stem,
//! description from the frontmatter, one optional `arguments` argument standing for
//! Claude Code's `$ARGUMENTS`.

use rmcp::ErrorData;
use rmcp::model::{
    GetPromptRequestParams, GetPromptResult, Prompt, PromptArgument, PromptMessage, Role,
};

use crate::app::commands::{COMMANDS, CommandFile};

/// The one argument every prompt takes.
const ARGUMENT: &str = "arguments";
/// Longest argument accepted; a prompt is a request, not a document.
const MAX_ARGUMENT_CHARS: usize = 20_000;

pub fn list() -> Vec<Prompt> {
    COMMANDS
        .iter()
        .map(|c| {
            let (fm, _) = c.split();
            let hint = fm
                .argument_hint
                .unwrap_or_else(|| "what the command should work on".into());
            Prompt::new(
                c.name,
                fm.description,
                Some(vec![
                    PromptArgument::new(ARGUMENT)
                        .with_description(format!("Optional: {hint}"))
                        .with_required(false),
                ]),
            )
        })
        .collect()
}

pub fn get(request: &GetPromptRequestParams) -> Result<GetPromptResult, ErrorData> {
    let Some(command) = CommandFile::find(&request.name) else {
        let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        return Err(ErrorData::invalid_params(
            format!(
                "prompt '{}' not found: psn has {}",
                request.name.chars().take(64).collect::<String>(),
                names.join(", ")
            ),
            None,
        ));
    };
    let argument = match request.arguments.as_ref().and_then(|a| a.get(ARGUMENT)) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if argument.chars().count() > MAX_ARGUMENT_CHARS {
        return Err(ErrorData::invalid_params(
            format!(
                "the `{ARGUMENT}` argument is longer than {MAX_ARGUMENT_CHARS} characters: shorten it"
            ),
            None,
        ));
    }
    let (fm, _) = command.split();
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        command.render(argument.trim()),
    )]);
    if let Some(d) = fm.description {
        result = result.with_description(d);
    }
    Ok(result)
}
