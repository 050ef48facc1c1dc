//! `psn-bench` (its own binary, `src/bin/psn-bench.rs`): runs the benchmarks of
//! `crate::bench` against a `psn` binary and prints their table (or JSON).
//!
//! The harness and the fake platform servers it publishes to live in their own binary so
//! that the shipped `psn` does not carry them: nothing `psn`'s `main` reaches leads here,
//! so the linker leaves this code, `platforms::fake` and axum out of it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::bench::{self, Database, Metric, Options, Report, Row, Target, Verdict};

/// Measure psn against its promised figures (BENCHMARKS.md) and print a table.
#[derive(Debug, Parser)]
#[command(name = "psn-bench", version)]
pub struct BenchArgs {
    /// What to measure: one metric, or `all`.
    #[arg(value_enum)]
    pub metric: Metric,
    /// Seconds, tiny sizes, nothing judged (what CI runs to keep the harness working).
    #[arg(long)]
    pub smoke: bool,
    /// Runs per metric; the table shows the median over runs and its spread (default 5, smoke 3).
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Measure only this store (default: every store the metric applies to).
    #[arg(long, value_enum)]
    pub database: Option<Database>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The `psn` binary to spawn and measure (default: `psn` beside this executable).
    #[arg(long, value_name = "FILE")]
    pub psn: Option<PathBuf>,
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let exe = match &args.psn {
        Some(path) => path.clone(),
        None => beside_me()?,
    };
    let exe = std::fs::canonicalize(&exe).with_context(|| {
        format!(
            "no psn binary at {} (build it with `cargo build --release`, or name one with --psn)",
            exe.display()
        )
    })?;
    eprintln!("psn-bench: measuring {}", exe.display());
    let opts = Options {
        smoke: args.smoke,
        runs: args
            .runs
            .unwrap_or(Options::default_runs(args.smoke))
            .max(1),
        databases: args
            .database
            .map_or_else(|| vec![Database::Sqlite, Database::Postgres], |d| vec![d]),
        postgres_admin_url: std::env::var("PSN_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        work_dir: work_dir(&exe),
        exe,
    };
    let report = bench::run(args.metric, &opts).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    let failed = report.rows.iter().any(|r| r.verdict == Verdict::Failed);
    Ok(if failed {
        ExitCode::from(super::exit::FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `psn` in the directory of the running `psn-bench` (where cargo puts both).
fn beside_me() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find the running executable")?;
    let dir = me.parent().unwrap_or(Path::new("."));
    Ok(dir.join(format!("psn{}", std::env::consts::EXE_SUFFIX)))
}

/// `PSN_BENCH_DIR`, else `target/bench` beside a binary built by cargo, else a temp dir.
fn work_dir(exe: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("PSN_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    exe.parent()
        .and_then(|profile| profile.parent())
        .filter(|target| {
            target.file_name().is_some_and(|n| n == "target")
                || target.join("CACHEDIR.TAG").exists()
        })
        .map_or_else(
            || std::env::temp_dir().join("psn-bench"),
            |target| target.join("bench"),
        )
}

fn print_table(report: &Report) {
    let m = &report.machine;
    println!(
        "psn {} bench on {} CPUs, {:.1} GiB, Linux {}, load average {:.2} → {:.2}{}",
        m.psn_version,
        m.cpus,
        m.memory_gib,
        m.kernel,
        m.load_start,
        m.load_end,
        if report.smoke {
            " — SMOKE MODE: tiny sizes, timings mean nothing"
        } else {
            ""
        }
    );
    let header = [
        "metric",
        "measured",
        "target",
        "median",
        "spread (min–max)",
        "runs",
        "result",
    ];
    let lines: Vec<[String; 7]> = report.rows.iter().map(cells).collect();
    let mut widths = header.map(|h| h.chars().count());
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    let show = |cols: &[String]| {
        let padded: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    show(&header.map(str::to_owned));
    println!("|{}|", widths.map(|w| "-".repeat(w + 2)).join("|"));
    for l in &lines {
        show(l);
    }
    let notes: Vec<&Row> = report.rows.iter().filter(|r| r.note.is_some()).collect();
    if !notes.is_empty() {
        println!();
        for r in notes {
            println!(
                "- {} / {}: {}",
                r.metric,
                r.what,
                r.note.as_deref().unwrap_or_default()
            );
        }
    }
}

fn cells(r: &Row) -> [String; 7] {
    let target = match r.target {
        Target::AtMost(t) => format!("≤ {} {}", num(t, r.unit), r.unit),
        Target::AtLeast(t) => format!("≥ {} {}", num(t, r.unit), r.unit),
        Target::None => "—".into(),
    };
    let median = r
        .median
        .map_or_else(|| "—".into(), |v| format!("{} {}", num(v, r.unit), r.unit));
    let spread = match (r.min, r.max) {
        (Some(a), Some(b)) => format!("{}–{}", num(a, r.unit), num(b, r.unit)),
        _ => "—".into(),
    };
    let verdict = match r.verdict {
        Verdict::Met => "met",
        Verdict::Missed => "MISSED",
        Verdict::Info => "info",
        Verdict::Skipped => "skipped",
        Verdict::Failed => "FAILED",
    };
    [
        r.metric.to_owned(),
        r.what.clone(),
        target,
        median,
        spread,
        r.values.len().to_string(),
        verdict.to_owned(),
    ]
}

/// A figure with sensible precision for its unit.
fn num(v: f64, unit: &str) -> String {
    match unit {
        "/s" => format!("{v:.0}"),
        "ms" if v < 1.0 => format!("{v:.3}"),
        "ms" if v < 100.0 => format!("{v:.2}"),
        _ if v >= 100.0 => format!("{v:.0}"),
        _ => format!("{v:.1}"),
    }
}
