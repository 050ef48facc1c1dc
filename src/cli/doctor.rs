//! Prints `psn doctor`'s report.

use std::process::ExitCode;

use super::DoctorArgs;
use crate::app::doctor::{self, Health};
use crate::config::{KEYS, Settings};

pub async fn run(
    settings: &Settings,
    warnings: &[String],
    args: &DoctorArgs,
) -> anyhow::Result<ExitCode> {
    if args.keys {
        for key in KEYS {
            println!("{:<34} {:<34} {}", key.name, key.env, key.help);
            println!(
                "{:<34} {:<34} (set by {})",
                "",
                "",
                settings.origin_of(key.name)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = doctor::run(settings, warnings).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "psn {} doctor — hub `{}`",
            env!("CARGO_PKG_VERSION"),
            settings.hub.name
        );
        for c in &report.checks {
            let mark = match c.health {
                Health::Ok => "ok  ",
                Health::Warn => "warn",
                Health::Fail => "FAIL",
            };
            println!("  [{mark}] {:<15} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("         {:<15} fix: {fix}", "");
            }
        }
        println!(
            "{}",
            if report.healthy() {
                "healthy"
            } else {
                "problems found"
            }
        );
    }
    Ok(if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::exit::FAILED)
    })
}
