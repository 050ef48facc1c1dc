//! `psn-bench`: measures psn against the figures it promises (issue 7, BENCHMARKS.md).
//!
//! The harness is its own binary (`src/bin/psn-bench.rs`, CLI in `crate::cli::bench`), not a
//! `psn` subcommand, so that the shipped `psn` leaves this module and `platforms::fake`
//! (axum) out: nothing `psn`'s `main` calls reaches them.
//!
//! Every metric drives real code: the MCP figures spawn the real binary and speak
//! JSON-RPC over its stdin/stdout; the publishing figures run the real scheduler and X
//! adapter against the fake X on 127.0.0.1. Each metric runs several times and reports
//! the median over runs with its spread (min–max); nothing here prints: the CLI does.
//!
//! `--smoke` runs every metric with tiny sizes in seconds so CI keeps the harness working;
//! smoke numbers mean nothing and are never judged.

mod compare;
mod db;
mod idle;
mod mcp;
mod procfs;
mod publish;
mod seed;
pub mod stats;
mod stdio;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use db::Database;

/// One command per metric of issue 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Due → platform call latency, p50/p99, Postgres (LISTEN/NOTIFY) and SQLite.
    Latency,
    /// Publishes per second to the fake X, Postgres, 1 and 4 scheduler instances.
    Throughput,
    /// create_post and list_pending over real stdio with 10k posts stored.
    McpRoundtrip,
    /// Spawn → initialize answered.
    Startup,
    /// list_pending with 1M posts stored.
    #[value(name = "list-pending-1m")]
    ListPending1m,
    /// Resident memory and wake-ups per minute of idle `psn serve` and `psn scheduler`.
    Idle,
    /// The npm MCP reference server measured the same way, side by side.
    Compare,
    /// Every metric above.
    All,
}

impl Metric {
    pub const EACH: [Metric; 7] = [
        Metric::Latency,
        Metric::Throughput,
        Metric::McpRoundtrip,
        Metric::Startup,
        Metric::ListPending1m,
        Metric::Idle,
        Metric::Compare,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Latency => "latency",
            Metric::Throughput => "throughput",
            Metric::McpRoundtrip => "mcp-roundtrip",
            Metric::Startup => "startup",
            Metric::ListPending1m => "list-pending-1m",
            Metric::Idle => "idle",
            Metric::Compare => "compare",
            Metric::All => "all",
        }
    }
}

/// How to run the benchmarks.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds, tiny sizes, nothing judged.
    pub smoke: bool,
    /// Runs per metric (each row's median and spread are over these).
    pub runs: usize,
    /// The stores to measure; a metric skips the ones it does not apply to.
    pub databases: Vec<Database>,
    /// The psn binary to spawn and measure (`psn` beside `psn-bench`, or `--psn FILE`).
    pub exe: PathBuf,
    /// A Postgres server URL the harness may create and drop its own database on.
    pub postgres_admin_url: String,
    /// Where to keep SQLite files and the npm cache (under `target/` by default).
    pub work_dir: PathBuf,
}

impl Options {
    /// The default number of runs: at least five, three in smoke mode.
    pub fn default_runs(smoke: bool) -> usize {
        if smoke { 3 } else { 5 }
    }

    fn wants(&self, db: Database) -> bool {
        self.databases.contains(&db)
    }

    /// A size for full mode, or its smoke-mode stand-in.
    fn size(&self, full: usize, smoke: usize) -> usize {
        if self.smoke { smoke } else { full }
    }

    fn window(&self, full: Duration, smoke: Duration) -> Duration {
        if self.smoke { smoke } else { full }
    }
}

/// What a row is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
    /// Reported for context (p50 beside a p99 target, the npm server) and not judged.
    None,
}

/// How a row came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    /// No target, or smoke mode (timings are never judged there).
    Info,
    Skipped,
    /// The harness could not measure it (an error, not a timing): see the note.
    Failed,
}

/// One line of the table: a figure measured once per run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub metric: &'static str,
    /// What exactly was measured (`create_post p50, SQLite, 10k posts`).
    pub what: String,
    pub unit: &'static str,
    pub target: Target,
    /// One value per run.
    pub values: Vec<f64>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub verdict: Verdict,
    /// Why the row was skipped, or what to know when reading it.
    pub note: Option<String>,
}

impl Row {
    fn new(
        metric: Metric,
        what: impl Into<String>,
        unit: &'static str,
        target: Target,
        values: Vec<f64>,
        smoke: bool,
    ) -> Row {
        let median = stats::median(&values);
        let (min, max) = stats::min_max(&values).unzip();
        let verdict = match (median, target) {
            (None, _) => Verdict::Skipped,
            (Some(_), _) if smoke => Verdict::Info,
            (Some(_), Target::None) => Verdict::Info,
            (Some(m), Target::AtMost(t)) => {
                if m <= t {
                    Verdict::Met
                } else {
                    Verdict::Missed
                }
            }
            (Some(m), Target::AtLeast(t)) => {
                if m >= t {
                    Verdict::Met
                } else {
                    Verdict::Missed
                }
            }
        };
        Row {
            metric: metric.name(),
            what: what.into(),
            unit,
            target,
            values,
            median,
            min,
            max,
            verdict,
            note: None,
        }
    }

    fn skipped(
        metric: Metric,
        what: impl Into<String>,
        unit: &'static str,
        target: Target,
        why: impl Into<String>,
    ) -> Row {
        Row {
            note: Some(why.into()),
            ..Row::new(metric, what, unit, target, Vec::new(), false)
        }
    }

    fn with_note(mut self, note: impl Into<String>) -> Row {
        self.note = Some(note.into());
        self
    }
}

/// Everything one `psn-bench` invocation measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub smoke: bool,
    pub runs: usize,
    pub machine: Machine,
    pub rows: Vec<Row>,
}

/// Where the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub psn_version: &'static str,
    /// The 1-minute load average when the run started and ended (other work on the
    /// machine skews timings; this says how much there was).
    pub load_start: f64,
    pub load_end: f64,
}

impl Machine {
    fn describe() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let memory_gib = procfs::mem_total_kib().map_or(0.0, |k| k as f64 / 1024.0 / 1024.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned());
        Machine {
            load_start: load_average(),
            load_end: load_average(),
            cpus,
            memory_gib,
            kernel,
            psn_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Runs one metric (or all of them) and returns every row. Rows that could not run
/// (no Postgres, no node) are present and say why.
pub async fn run(metric: Metric, opts: &Options) -> anyhow::Result<Report> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let metrics: Vec<Metric> = if metric == Metric::All {
        Metric::EACH.to_vec()
    } else {
        vec![metric]
    };
    let load_start = load_average();
    let postgres = db::Postgres::probe(&opts.postgres_admin_url).await;
    let mut rows = Vec::new();
    for m in metrics {
        let got = match m {
            Metric::Latency => publish::latency(opts, &postgres).await,
            Metric::Throughput => publish::throughput(opts, &postgres).await,
            Metric::McpRoundtrip => mcp::roundtrip(opts, &postgres).await,
            Metric::Startup => mcp::startup(opts).await,
            Metric::ListPending1m => mcp::list_pending_1m(opts, &postgres).await,
            Metric::Idle => idle::idle(opts, &postgres).await,
            Metric::Compare => compare::compare(opts).await,
            Metric::All => unreachable!("expanded above"),
        };
        match got {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(Row {
                verdict: Verdict::Failed,
                ..Row::skipped(m, "could not run", "", Target::None, format!("{e:#}"))
            }),
        }
    }
    postgres.drop_leftovers().await;
    Ok(Report {
        smoke: opts.smoke,
        runs: opts.runs,
        machine: Machine {
            load_start,
            ..Machine::describe()
        },
        rows,
    })
}
