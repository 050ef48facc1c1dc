//! MCP figures over real stdio: the real `psn serve` is spawned (`Options::exe`, the `psn`
//! beside `psn-bench` by default) and spoken to in newline-delimited JSON-RPC, the way Claude Code does.
//! Round trips are timed from just before the request is written to its answer's line
//! arriving, so they include both pipes, rmcp, the use case and the database.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::db::{BenchDb, Database, Postgres};
use super::stdio::StdioClient;
use super::{Metric, Options, Row, Target, seed, stats};
use crate::store;

/// `psn serve` on `bdb`, scheduler on (the default), as `.mcp.json` starts it.
pub fn serve_command(opts: &Options, bdb: &BenchDb) -> Command {
    let mut cmd = Command::new(&opts.exe);
    cmd.arg("serve")
        .env_clear()
        .envs(bdb.child_env())
        .current_dir(&bdb.dir);
    cmd
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Times `calls` calls of `tool` with arguments from `args(i)`, after `warm` untimed ones.
fn time_tool(
    c: &mut StdioClient,
    tool: &str,
    warm: usize,
    calls: usize,
    args: impl Fn(usize) -> Value,
) -> anyhow::Result<Vec<f64>> {
    for i in 0..warm {
        c.call_tool(tool, args(i + 1_000_000))?;
    }
    let mut out = Vec::with_capacity(calls);
    for i in 0..calls {
        out.push(ms(c.call_tool(tool, args(i))?.1));
    }
    Ok(out)
}

fn create_args(tag: String) -> impl Fn(usize) -> Value {
    move |i| json!({"targets": [{"platform": "x"}], "parts": [{"text": format!("bench round trip {tag} #{i}: a short post about nothing")}]})
}

/// Per-run p50 and p99 of one tool, and the row pair for it.
struct Pair {
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            p50: Vec::new(),
            p99: Vec::new(),
        }
    }

    fn push(&mut self, samples: &[f64]) {
        self.p50
            .push(stats::percentile(samples, 0.50).unwrap_or_default());
        self.p99
            .push(stats::percentile(samples, 0.99).unwrap_or_default());
    }

    fn rows(self, opts: &Options, m: Metric, what: &str, target: Target, note: &str) -> [Row; 2] {
        [
            Row::new(m, format!("{what} p50"), "ms", target, self.p50, opts.smoke).with_note(note),
            Row::new(
                m,
                format!("{what} p99"),
                "ms",
                Target::None,
                self.p99,
                opts.smoke,
            )
            .with_note(note),
        ]
    }
}

fn skipped_pair(m: Metric, what: &str, target: Target, why: &str) -> [Row; 2] {
    [
        Row::skipped(m, format!("{what} p50"), "ms", target, why),
        Row::skipped(m, format!("{what} p99"), "ms", Target::None, why),
    ]
}

/// create_post and list_pending round trips with 10k posts stored.
pub async fn roundtrip(opts: &Options, pg: &Postgres) -> anyhow::Result<Vec<Row>> {
    let m = Metric::McpRoundtrip;
    let stored = opts.size(10_000, 200);
    let calls = opts.size(200, 10);
    let mut rows = Vec::new();
    for db in [Database::Sqlite, Database::Postgres] {
        if !opts.wants(db) {
            continue;
        }
        let target = Target::AtMost(if db == Database::Sqlite { 1.0 } else { 3.0 });
        let (create_what, list_what) = (
            format!("create_post ({})", db.name()),
            format!("list_pending ({})", db.name()),
        );
        if let (Database::Postgres, Some(why)) = (db, pg.unavailable()) {
            rows.extend(skipped_pair(m, &create_what, target, why));
            rows.extend(skipped_pair(m, &list_what, target, why));
            continue;
        }
        let bdb = BenchDb::fresh(opts, pg, db, "roundtrip").await?;
        let store = store::open(&bdb.settings).await?;
        seed::load_history(&store, stored, 5000, 1).await?;
        drop(store);
        bdb.analyze().await?;
        let (mut create, mut list) = (Pair::new(), Pair::new());
        for run in 0..opts.runs {
            let cmd = serve_command(opts, &bdb);
            let (c, l) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let mut client = StdioClient::spawn(cmd)?;
                client.initialize()?;
                let c = time_tool(
                    &mut client,
                    "create_post",
                    5,
                    calls,
                    create_args(format!("run {run}")),
                )?;
                let l = time_tool(&mut client, "list_pending", 5, calls, |_| json!({}))?;
                client.close();
                Ok((c, l))
            })
            .await??;
            create.push(&c);
            list.push(&l);
        }
        bdb.remove(pg).await;
        let note = format!(
            "{stored} posts stored (90% published, 5% queued, 5% drafts), {calls} calls per run, fresh `psn serve` per run"
        );
        rows.extend(create.rows(opts, m, &create_what, target, &note));
        rows.extend(list.rows(opts, m, &list_what, target, &note));
    }
    Ok(rows)
}

/// Spawn → `initialize` answered, `psn serve` on an existing SQLite file.
pub async fn startup(opts: &Options) -> anyhow::Result<Vec<Row>> {
    let m = Metric::Startup;
    let spawns = opts.size(10, 3);
    // Postgres is never reached before the handshake (the store opens in the background),
    // so one SQLite row says it all.
    let bdb = BenchDb::fresh(opts, &Postgres::absent(), Database::Sqlite, "startup").await?;
    let cmd = serve_command(opts, &bdb);
    let runs = opts.runs;
    let medians = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<f64>> {
        // First start creates and migrates the file; the measured ones find it ready.
        let mut first = StdioClient::spawn(rebuild(&cmd))?;
        first.initialize()?;
        first.call_tool("list_pending", json!({}))?;
        first.close();
        let mut medians = Vec::new();
        for _ in 0..runs {
            let mut times = Vec::new();
            for _ in 0..spawns {
                let mut c = StdioClient::spawn(rebuild(&cmd))?;
                times.push(ms(c.initialize()?));
                c.close();
            }
            medians.push(stats::median(&times).unwrap_or_default());
        }
        Ok(medians)
    })
    .await??;
    bdb.remove(&Postgres::absent()).await;
    Ok(vec![
        Row::new(
            m,
            "spawn → initialize answered (psn serve)",
            "ms",
            Target::AtMost(15.0),
            medians,
            opts.smoke,
        )
        .with_note(format!(
            "median of {spawns} spawns per run; SQLite file already migrated"
        )),
    ])
}

/// A copy of `cmd` (a `Command` cannot be cloned).
pub fn rebuild(cmd: &Command) -> Command {
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args());
    c.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        c.current_dir(dir);
    }
    c
}

/// list_pending with 1M posts stored (the default filter: the queue and what needs attention).
pub async fn list_pending_1m(opts: &Options, pg: &Postgres) -> anyhow::Result<Vec<Row>> {
    let m = Metric::ListPending1m;
    let stored = opts.size(1_000_000, 2_000);
    let calls = opts.size(100, 5);
    let mut rows = Vec::new();
    for db in [Database::Sqlite, Database::Postgres] {
        if !opts.wants(db) {
            continue;
        }
        let what = format!("list_pending ({}, {} stored)", db.name(), human(stored));
        let all_what = format!(
            "list_pending all statuses ({}, {} counted)",
            db.name(),
            human(stored)
        );
        if let (Database::Postgres, Some(why)) = (db, pg.unavailable()) {
            rows.extend(skipped_pair(m, &what, Target::AtMost(5.0), why));
            rows.push(Row::skipped(
                m,
                format!("{all_what} p50"),
                "ms",
                Target::None,
                why,
            ));
            continue;
        }
        let bdb = BenchDb::fresh(opts, pg, db, "1m").await?;
        let store = store::open(&bdb.settings).await?;
        let loading = Instant::now();
        let parallel = if db == Database::Postgres { 2 } else { 1 };
        seed::load_history(&store, stored, 5000, parallel).await?;
        let load_secs = loading.elapsed().as_secs_f64();
        drop(store);
        bdb.analyze().await?;
        let (mut pending, mut all) = (Pair::new(), Pair::new());
        for _ in 0..opts.runs {
            let cmd = serve_command(opts, &bdb);
            let (p, a) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let mut client = StdioClient::spawn(cmd)?;
                client.initialize()?;
                let p = time_tool(&mut client, "list_pending", 3, calls, |_| json!({}))?;
                let every = json!({"statuses": ["draft", "pending_approval", "scheduled", "publishing", "published", "failed", "needs_reconcile", "cancelled"]});
                let a = time_tool(&mut client, "list_pending", 1, calls.min(20), |_| every.clone())?;
                client.close();
                Ok((p, a))
            })
            .await??;
            pending.push(&p);
            all.push(&a);
        }
        bdb.remove(pg).await;
        let note = format!(
            "{calls} calls per run; loaded in {load_secs:.0} s through Store::insert_posts (5000-post transactions); 5% of posts queued"
        );
        rows.extend(pending.rows(opts, m, &what, Target::AtMost(5.0), &note));
        let [all_p50, _] = all.rows(
            opts,
            m,
            &all_what,
            Target::None,
            "every status named: the total counts every stored post",
        );
        rows.push(all_p50);
    }
    Ok(rows)
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
