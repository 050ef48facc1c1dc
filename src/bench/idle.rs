//! Idle cost: resident memory and wake-ups of a `psn serve` that finished its handshake
//! and of a `psn scheduler` with nothing due, all measured over the same windows.
//!
//! The counters are voluntary context switches of every thread (`/proc/PID/task/*/status`):
//! a thread that was woken runs, then sleeps again, which the kernel counts as one
//! voluntary switch. They are read every 250 ms; a **wake-up** is a sample in which any
//! thread switched after a quiet sample, so one scheduler loop turn whose queries hop
//! between tokio and SQLite's or Postgres's threads (dozens of switches within a few
//! milliseconds) counts once. The raw switch count is reported beside it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::db::{BenchDb, Database, Postgres};
use super::mcp::serve_command;
use super::procfs::{self, Sample};
use super::stdio::StdioClient;
use super::{Metric, Options, Row, Target};

/// How often the idle processes' counters are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A process under observation.
enum Watched {
    Serve(StdioClient),
    Scheduler(Child),
}

impl Watched {
    fn pid(&self) -> u32 {
        match self {
            Watched::Serve(c) => c.pid(),
            Watched::Scheduler(c) => c.id(),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Watched::Scheduler(c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub async fn idle(opts: &Options, pg: &Postgres) -> anyhow::Result<Vec<Row>> {
    let m = Metric::Idle;
    let mut dbs = Vec::new();
    let mut rows = Vec::new();
    for db in [Database::Sqlite, Database::Postgres] {
        if !opts.wants(db) {
            continue;
        }
        match BenchDb::fresh(opts, pg, db, "idle").await {
            Ok(bdb) => dbs.push(bdb),
            Err(e) => {
                for what in ["psn serve", "psn scheduler"] {
                    rows.push(Row::skipped(
                        m,
                        format!("RSS, idle {what} ({})", db.name()),
                        "MB",
                        Target::AtMost(20.0),
                        format!("{e:#}"),
                    ));
                    rows.push(Row::skipped(
                        m,
                        format!("wake-ups/min, idle {what} ({})", db.name()),
                        "/min",
                        Target::AtMost(2.0),
                        format!("{e:#}"),
                    ));
                }
            }
        }
    }
    let mut watched: Vec<(String, Watched)> = Vec::new();
    for bdb in &dbs {
        let cmd = serve_command(opts, bdb);
        let client = tokio::task::spawn_blocking(move || -> anyhow::Result<StdioClient> {
            let mut c = StdioClient::spawn(cmd)?;
            c.initialize()?;
            // One real call, so the database is open and the scheduler has started.
            c.call_tool("list_pending", json!({}))?;
            Ok(c)
        })
        .await??;
        watched.push((
            format!("idle psn serve ({})", bdb.db.name()),
            Watched::Serve(client),
        ));
        let child = Command::new(&opts.exe)
            .arg("scheduler")
            .env_clear()
            .envs(bdb.child_env())
            .current_dir(&bdb.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        watched.push((
            format!("idle psn scheduler ({})", bdb.db.name()),
            Watched::Scheduler(child),
        ));
    }
    // Start-up work (migrations, the first loop turn, the first heartbeat) is over by then.
    tokio::time::sleep(opts.window(Duration::from_secs(5), Duration::from_millis(500))).await;
    let window = opts.window(Duration::from_secs(60), Duration::from_secs(2));
    let mut rss: Vec<Vec<f64>> = vec![Vec::new(); watched.len()];
    let mut wakes: Vec<Vec<f64>> = vec![Vec::new(); watched.len()];
    let mut switches: Vec<Vec<f64>> = vec![Vec::new(); watched.len()];
    let per_min = 60.0 / window.as_secs_f64();
    for _ in 0..opts.runs {
        let start: Vec<Option<Sample>> = watched
            .iter()
            .map(|(_, w)| procfs::sample(w.pid()))
            .collect();
        let mut last = start.clone();
        let mut busy = vec![false; watched.len()];
        let mut events = vec![0u64; watched.len()];
        let until = tokio::time::Instant::now() + window;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(SAMPLE_EVERY).await;
            for (i, (what, w)) in watched.iter().enumerate() {
                let Some(now) = procfs::sample(w.pid()) else {
                    anyhow::bail!("{what} exited while idle");
                };
                let woke = last[i].is_some_and(|l| now.voluntary > l.voluntary);
                if woke && !busy[i] {
                    events[i] += 1;
                }
                busy[i] = woke;
                last[i] = Some(now);
            }
        }
        for i in 0..watched.len() {
            let (Some(b), Some(a)) = (start[i], last[i]) else {
                continue;
            };
            rss[i].push(a.rss_kib as f64 * 1024.0 / 1e6);
            wakes[i].push(events[i] as f64 * per_min);
            switches[i].push((a.voluntary - b.voluntary) as f64 * per_min);
        }
    }
    for (i, (what, _)) in watched.iter().enumerate() {
        rows.push(Row::new(
            m,
            format!("RSS, {what}"),
            "MB",
            Target::AtMost(20.0),
            rss[i].clone(),
            opts.smoke,
        ));
        rows.push(
            Row::new(m, format!("wake-ups/min, {what}"), "/min", Target::AtMost(2.0), wakes[i].clone(), opts.smoke).with_note(format!(
                "a wake-up is a {}ms sample in which any thread switched voluntarily after a quiet one, over {}s windows",
                SAMPLE_EVERY.as_millis(),
                window.as_secs()
            )),
        );
        rows.push(
            Row::new(m, format!("thread switches/min, {what}"), "/min", Target::None, switches[i].clone(), opts.smoke)
                .with_note("voluntary context switches summed over all threads: one loop turn's queries hop between tokio and database threads"),
        );
    }
    drop(watched);
    for bdb in dbs {
        bdb.remove(pg).await;
    }
    Ok(rows)
}
