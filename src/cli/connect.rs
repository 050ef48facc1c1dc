//! `psn connect x`, `psn connect bluesky` and `psn keys rotate`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::app::connect::{self, AUTHORIZE_TIMEOUT, Connected};
use crate::config::{Secret, Settings};

#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// Connect an X account: opens X's authorize page (OAuth 2 with PKCE) and waits for the
    /// redirect on 127.0.0.1.
    X(ConnectXArgs),
    /// Connect a Bluesky account with an app password, read from PSN_BLUESKY_APP_PASSWORD
    /// or standard input (never from the command line).
    Bluesky(ConnectBlueskyArgs),
}

#[derive(Debug, Args)]
pub struct ConnectXArgs {
    /// The loopback port for the redirect (0 = any free port). X matches redirect URIs
    /// exactly: register http://127.0.0.1:PORT/callback in your X app and pass that PORT.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seconds to wait for the browser to come back.
    #[arg(long, default_value_t = AUTHORIZE_TIMEOUT.as_secs())]
    pub timeout: u64,
    /// Only print the URL; do not try to open it in a browser.
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(Debug, Args)]
pub struct ConnectBlueskyArgs {
    /// The account's handle (`name.bsky.social`) or DID.
    #[arg(long)]
    pub handle: String,
    /// The account's PDS, if not the configured one (platforms.bluesky.pds_url).
    #[arg(long, value_name = "URL")]
    pub pds: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new encryption key and re-seal every account's tokens with it. The old
    /// key file is kept beside the new one as `key.old-<id>`.
    Rotate,
}

pub async fn run(settings: &Settings, command: ConnectCommand) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(settings).await?;
    let connected = match command {
        ConnectCommand::X(args) => {
            let auth = connect::start_x(settings, args.port).await?;
            eprintln!("Open this page, sign in to X and authorize psn:");
            println!("{}", auth.authorize_url);
            if !args.no_browser {
                open_browser(&auth.authorize_url);
            }
            eprintln!(
                "Waiting for X to redirect to {} (register it in your X app if X says the redirect is invalid)…",
                auth.redirect_uri
            );
            auth.finish(
                settings,
                store.as_ref(),
                std::time::Duration::from_secs(args.timeout),
            )
            .await?
        }
        ConnectCommand::Bluesky(args) => {
            let password = app_password(&args.handle)?;
            connect::connect_bluesky(
                settings,
                store.as_ref(),
                &args.handle,
                &password,
                args.pds.as_deref(),
            )
            .await?
        }
    };
    report(&connected);
    Ok(ExitCode::SUCCESS)
}

pub async fn run_keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Rotate => {
            let store = crate::store::open(settings).await?;
            let r = connect::rotate_keys(settings, store.as_ref()).await?;
            println!(
                "rotated the encryption key: {} → {}; {} account(s) re-sealed",
                r.old_key_id, r.new_key_id, r.resealed
            );
            println!(
                "the old key is kept at {}: delete it once no backup of the database needs it",
                r.old_key_file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn report(c: &Connected) {
    if let Some(path) = &c.created_key_file {
        eprintln!(
            "created the encryption key {} (mode 0600): back it up; without it the stored tokens cannot be read",
            path.display()
        );
    }
    let verb = if c.reconnected {
        "reconnected"
    } else {
        "connected"
    };
    let expiry = c
        .account
        .token_expires_at
        .map(|t| format!(", token valid until {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    println!(
        "{verb} {} account @{} as {}{expiry}",
        c.account.platform, c.account.handle, c.account.id
    );
}

/// Tries the desktop's URL opener; the printed URL is there when it is missing or fails.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("(could not start {opener}: open the URL yourself)");
    }
}

/// The app password from `PSN_BLUESKY_APP_PASSWORD`, else one line of standard input (with
/// echo off when it is a terminal).
fn app_password(handle: &str) -> anyhow::Result<Secret> {
    if let Ok(v) = std::env::var("PSN_BLUESKY_APP_PASSWORD")
        && !v.trim().is_empty()
    {
        return Ok(Secret::new(v.trim()));
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprint!("Bluesky app password for {handle} (create one under Settings → App passwords): ");
        let _ = std::io::stderr().flush();
    }
    let echo_off = interactive && set_echo(false);
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        set_echo(true);
        eprintln!();
    }
    read.context("cannot read the app password from standard input")?;
    let password = line.trim();
    anyhow::ensure!(
        !password.is_empty(),
        "no app password: pipe it on standard input or set PSN_BLUESKY_APP_PASSWORD"
    );
    Ok(Secret::new(password))
}

/// Turns terminal echo off or on with `stty`; returns whether it worked.
fn set_echo(on: bool) -> bool {
    #[cfg(unix)]
    {
        std::process::Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    }
    #[cfg(not(unix))]
    {
        let _ = on;
        false
    }
}
