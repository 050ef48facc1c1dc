//! psn beside a widely used MCP server from npm, `@modelcontextprotocol/server-everything`
//! on the machine's node, measured the same way in the same run: spawn → initialize,
//! `ping` and one tool call round trip, resident memory once idle after the handshake.
//!
//! The package is installed (pinned) into `<work dir>/npm` on first use, never into the
//! repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::db::{BenchDb, Database, Postgres};
use super::mcp::{rebuild, serve_command};
use super::procfs;
use super::stdio::StdioClient;
use super::{Metric, Options, Row, Target, stats};

pub const NPM_PACKAGE: &str = "@modelcontextprotocol/server-everything";
pub const NPM_VERSION: &str = "2026.8.31";

/// One figure: what, unit, psn's values, the npm server's (if it ran).
type Side = (&'static str, &'static str, Vec<f64>, Option<Vec<f64>>);

/// One server's figures from one run.
#[derive(Default)]
struct Figures {
    startup: Vec<f64>,
    ping: Vec<f64>,
    tool: Vec<f64>,
    rss: Vec<f64>,
}

pub async fn compare(opts: &Options) -> anyhow::Result<Vec<Row>> {
    let m = Metric::Compare;
    let node_entry = {
        let dir = opts.work_dir.join("npm");
        let smoke = opts.smoke;
        tokio::task::spawn_blocking(move || install(&dir, smoke)).await?
    };
    let bdb = BenchDb::fresh(opts, &Postgres::absent(), Database::Sqlite, "compare").await?;
    let psn_cmd = serve_command(opts, &bdb);
    let calls = opts.size(100, 5);
    let settle = opts.window(Duration::from_secs(3), Duration::from_millis(300));
    let runs = opts.runs;
    let node = node_entry.as_ref().ok().cloned();
    let (psn, npm) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Figures, Option<Figures>)> {
            // The first start creates the SQLite file; measured starts find it ready.
            let mut first = StdioClient::spawn(rebuild(&psn_cmd))?;
            first.initialize()?;
            first.call_tool("list_pending", json!({}))?;
            first.close();
            let mut psn = Figures::default();
            let mut npm = node.as_ref().map(|_| Figures::default());
            for _ in 0..runs {
                measure(
                    rebuild(&psn_cmd),
                    "list_pending",
                    json!({}),
                    calls,
                    settle,
                    &mut psn,
                )?;
                if let (Some(entry), Some(fig)) = (&node, npm.as_mut()) {
                    let mut cmd = Command::new("node");
                    cmd.arg(entry)
                        .arg("stdio")
                        .env_clear()
                        .env("PATH", std::env::var("PATH").unwrap_or_default());
                    measure(cmd, "echo", json!({"message": "hello"}), calls, settle, fig)?;
                }
            }
            Ok((psn, npm))
        })
        .await??;
    bdb.remove(&Postgres::absent()).await;

    let mut rows = Vec::new();
    let row = |what: &str, unit: &'static str, v: Vec<f64>| {
        Row::new(m, what.to_owned(), unit, Target::None, v, opts.smoke)
    };
    let them = format!("server-everything {NPM_VERSION} (node)");
    let why = node_entry.as_ref().err().map(|e| format!("{e:#}"));
    let pairs: [Side; 4] = [
        (
            "spawn → initialize answered",
            "ms",
            psn.startup,
            npm.as_ref().map(|f| f.startup.clone()),
        ),
        (
            "ping round trip p50",
            "ms",
            psn.ping,
            npm.as_ref().map(|f| f.ping.clone()),
        ),
        (
            "tool call p50 (psn list_pending on SQLite, everything echo)",
            "ms",
            psn.tool,
            npm.as_ref().map(|f| f.tool.clone()),
        ),
        (
            "RSS idle after the handshake",
            "MB",
            psn.rss,
            npm.as_ref().map(|f| f.rss.clone()),
        ),
    ];
    for (what, unit, ours, theirs) in pairs {
        rows.push(row(&format!("{what}: psn serve"), unit, ours));
        match theirs {
            Some(v) => rows.push(row(&format!("{what}: {them}"), unit, v)),
            None => rows.push(Row::skipped(
                m,
                format!("{what}: {them}"),
                unit,
                Target::None,
                why.clone().unwrap_or_default(),
            )),
        }
    }
    Ok(rows)
}

/// One run against one server: spawn and handshake, `calls` pings and tool calls (p50 of
/// each), then the resident memory after `settle` of idleness.
fn measure(
    cmd: Command,
    tool: &str,
    args: Value,
    calls: usize,
    settle: Duration,
    fig: &mut Figures,
) -> anyhow::Result<()> {
    let mut c = StdioClient::spawn(cmd)?;
    fig.startup.push(c.initialize()?.as_secs_f64() * 1000.0);
    let mut ping = Vec::new();
    let mut call = Vec::new();
    for i in 0..calls + 3 {
        let p = c.request("ping", json!({}))?.1;
        let t = c.call_tool(tool, args.clone())?.1;
        if i >= 3 {
            ping.push(p.as_secs_f64() * 1000.0);
            call.push(t.as_secs_f64() * 1000.0);
        }
    }
    fig.ping
        .push(stats::percentile(&ping, 0.5).unwrap_or_default());
    fig.tool
        .push(stats::percentile(&call, 0.5).unwrap_or_default());
    std::thread::sleep(settle);
    let rss = procfs::tree_rss_kib(c.pid()).context("the server exited")?;
    fig.rss.push(rss as f64 * 1024.0 / 1e6);
    c.close();
    Ok(())
}

/// The server's entry script, installing the pinned package into `dir` if needed.
fn install(dir: &Path, smoke: bool) -> anyhow::Result<PathBuf> {
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let pinned = dir.join("node_modules/@modelcontextprotocol/server-everything/package.json");
    let have = std::fs::read_to_string(&pinned)
        .is_ok_and(|p| p.contains(&format!("\"version\": \"{NPM_VERSION}\"")));
    if entry.exists() && have {
        return Ok(entry);
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        bail!("node is not installed, so the npm comparison was skipped");
    }
    std::fs::create_dir_all(dir)?;
    let mut child = Command::new("npm")
        .args(["install", "--prefix"])
        .arg(dir)
        .args([
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            &format!("{NPM_PACKAGE}@{NPM_VERSION}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("npm is not installed, so the npm comparison was skipped")?;
    let limit = Duration::from_secs(if smoke { 90 } else { 300 });
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() && entry.exists() {
                return Ok(entry);
            }
            bail!(
                "npm install {NPM_PACKAGE}@{NPM_VERSION} failed ({status}), so the npm comparison was skipped"
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "npm install {NPM_PACKAGE} took over {limit:?} (no registry?), so the npm comparison was skipped"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
