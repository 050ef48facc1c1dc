//! `psn init [DIR]`: point Claude Code in DIR at this psn binary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::app::init::{FileOutcome, init};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory to set up (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Replace files that differ from what psn would write (your edits are lost).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot find the path of the running psn binary")?;
    let report = init(&dir, &binary, args.force)
        .with_context(|| format!("cannot set up {}", dir.display()))?;
    for (path, outcome) in &report.files {
        let shown = path.strip_prefix(&dir).unwrap_or(path);
        println!("{outcome:>9}  {}", shown.display());
    }
    if report.kept() > 0 {
        println!(
            "\n{} file(s) differ from what psn would write and were kept; `psn init --force` replaces them",
            report.kept()
        );
    }
    let fresh = report
        .files
        .iter()
        .any(|(_, o)| matches!(o, FileOutcome::Created | FileOutcome::Updated));
    if fresh {
        println!(
            "\nOpen {} in Claude Code and approve the `psn` MCP server; the commands are under /psn.",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
