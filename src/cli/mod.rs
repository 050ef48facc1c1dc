//! The command line: clap definitions and one function per subcommand. This is the only
//! layer that prints to stdout, and never while `psn serve` speaks MCP there.

pub mod bench;
mod connect;
mod doctor;
mod ideas;
mod init;
mod metrics;
mod opportunities;
mod pending;
mod post;
mod scheduler;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, ConfigError, LoadOptions, Settings};
use crate::store::StoreError;

/// psn lets Claude Code run your social media: draft, schedule and publish posts exactly once.
#[derive(Debug, Parser)]
#[command(name = "psn", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file to read (default: ./config/psn.toml, then ~/.config/psn/psn.toml, if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server on stdin/stdout (Claude Code starts this from .mcp.json).
    Serve(ServeArgs),
    /// Run the scheduler without the MCP server, until SIGTERM or SIGINT.
    Scheduler(SchedulerArgs),
    /// Apply database migrations and report the schema version.
    Migrate,
    /// Check config, database, migrations and the encryption key; exit 1 on a problem.
    Doctor(DoctorArgs),
    /// Create, schedule, show, edit, cancel and retry posts.
    #[command(subcommand)]
    Post(post::PostCommand),
    /// List queued posts and posts needing attention.
    Pending(pending::PendingArgs),
    /// The idea bank.
    #[command(subcommand)]
    Ideas(ideas::IdeasCommand),
    /// List connected accounts, their health, and how to connect more.
    Accounts(pending::AccountsArgs),
    /// Set up a directory for Claude Code: write .mcp.json and install psn's slash commands.
    Init(init::InitArgs),
    /// What published posts earned: metrics, engagement score, outliers, and a chart.
    Metrics(metrics::MetricsArgs),
    /// Conversations worth joining, scored against your strategy's pillars.
    Opportunities(opportunities::OpportunitiesArgs),
    /// Connect an account: `psn connect x`, `psn connect bluesky --handle NAME`.
    #[command(subcommand)]
    Connect(connect::ConnectCommand),
    /// Manage the key that seals platform tokens: `psn keys rotate`.
    #[command(subcommand)]
    Keys(connect::KeysCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Do not publish due posts from this process (run `psn scheduler` elsewhere).
    #[arg(long)]
    pub no_scheduler: bool,
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Publish what is due now, then exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// List every setting with its environment variable, value source and meaning.
    #[arg(long)]
    pub keys: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Exit codes, documented in README.md.
pub mod exit {
    pub const OK: u8 = 0;
    /// The operation failed, or `psn doctor` found a problem.
    pub const FAILED: u8 = 1;
    /// The command line was wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// A setting is invalid.
    pub const CONFIG: u8 = 3;
    /// The database is unreachable, unwritable, or migrated by a newer psn.
    pub const DATABASE: u8 = 4;
}

/// Loads settings for a command line.
pub fn load_settings(cli: &Cli) -> Result<(Settings, Vec<String>), ConfigError> {
    config::load(&LoadOptions {
        config_file: cli.config.clone(),
        ..LoadOptions::default()
    })
}

/// Runs one command with loaded settings.
pub async fn run(cli: Cli, settings: Settings, warnings: Vec<String>) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(settings, &args).await,
        Command::Post(command) => post::run(&settings, command).await,
        Command::Pending(args) => pending::run(&settings, args).await,
        Command::Ideas(command) => ideas::run(&settings, command).await,
        Command::Accounts(args) => pending::run_accounts(&settings, args).await,
        Command::Init(args) => init::run(&args),
        Command::Metrics(args) => metrics::run(&settings, args).await,
        Command::Opportunities(args) => opportunities::run(&settings, args).await,
        Command::Connect(command) => connect::run(&settings, command).await,
        Command::Keys(command) => connect::run_keys(&settings, command).await,
        Command::Scheduler(args) => scheduler::run(&settings, &args).await,
        Command::Migrate => {
            let store = crate::store::open(&settings).await?;
            let status = store.migration_status().await?;
            println!(
                "{} schema at version {} ({} migrations applied)",
                store.backend().name(),
                status.applied.last().copied().unwrap_or(0),
                status.applied.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor(args) => doctor::run(&settings, &warnings, &args).await,
    }
}

/// The exit code for an error that ended a command.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() {
            return exit::CONFIG;
        }
        if let Some(crate::app::AppError::Unavailable(_)) = cause.downcast_ref() {
            return exit::DATABASE;
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return match store {
                StoreError::Unavailable { .. }
                | StoreError::SchemaTooNew { .. }
                | StoreError::Migration(_) => exit::DATABASE,
                _ => exit::FAILED,
            };
        }
    }
    exit::FAILED
}
