//! Publishing figures: due → platform call latency, and publishes per second.
//!
//! Both run the real scheduler loop, the real X adapter and the vault-backed credential
//! source against the fake X on 127.0.0.1. On Postgres each scheduler instance has its
//! own store (its own pool, its own `LISTEN psn_wake`), as a separate `psn scheduler`
//! process would, so a post scheduled by the harness reaches it only through
//! `NOTIFY`. On SQLite the scheduler shares the harness's store, as it shares the MCP
//! server's inside `psn serve`, so a schedule wakes it through the in-process notify.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::db::{BenchDb, Database, Postgres};
use super::{Metric, Options, Row, Target, procfs, seed, stats};
use crate::config::PlatformSettings;
use crate::domain::{AccountId, PostEvent, PostId, PostStatus, now};
use crate::platforms::fake::FakeX;
use crate::platforms::http;
use crate::platforms::registry::Registry;
use crate::platforms::x::XClient;
use crate::scheduler::{Context, Scheduler, Shutdown, Summary, VaultAccounts, cron};
use crate::store::{self, DynStore};
use crate::vault::Vault;

/// Schedulers running in this process until stopped.
struct Running {
    stop: Shutdown,
    handles: Vec<JoinHandle<anyhow::Result<Summary>>>,
}

impl Running {
    /// Starts one scheduler per store in `stores`, publishing to `fake` with default
    /// scheduler settings.
    async fn start(
        bdb: &BenchDb,
        stores: &[DynStore],
        fake: &FakeX,
        vault: &Arc<Vault>,
        label: &str,
    ) -> anyhow::Result<Running> {
        let (stop, rx) = Shutdown::new();
        let mut handles = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            let store = store.clone();
            let platforms = PlatformSettings {
                x_base_url: Some(fake.base_url().to_owned()),
                ..bdb.settings.platforms.clone()
            };
            let client = XClient::new(
                platforms.x_base_url.clone().unwrap_or_default(),
                None,
                None,
                http::build_client(Duration::from_secs(5), Duration::from_secs(30)),
            );
            let ctx = Context {
                accounts: Arc::new(VaultAccounts::new(store.clone(), Some(vault.clone()))),
                store,
                platforms: Registry::new().with(Arc::new(client)),
                settings: bdb.settings.scheduler.clone(),
                instance: format!("bench-{label}-{i}"),
            };
            let scheduler = Scheduler::new(ctx, cron::Registry::default());
            let rx = rx.clone();
            handles.push(tokio::spawn(async move { scheduler.run(rx).await }));
        }
        // Let each loop take its first turn and (Postgres) start listening.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Running { stop, handles })
    }

    async fn stop(self) -> anyhow::Result<usize> {
        self.stop.trigger();
        let mut claimed = 0;
        for h in self.handles {
            claimed += h.await??.claimed;
        }
        Ok(claimed)
    }
}

/// The stores for `instances` schedulers, opened once per metric and reused by every run
/// (a store's LISTEN task keeps its pool alive, so opening one per run would pile up
/// connections). On SQLite the only instance shares the harness's store, as the
/// scheduler inside `psn serve` shares the MCP server's; on Postgres each has its own.
async fn scheduler_stores(
    bdb: &BenchDb,
    shared: &DynStore,
    instances: usize,
) -> anyhow::Result<Vec<DynStore>> {
    let mut stores = Vec::new();
    for _ in 0..instances {
        stores.push(match bdb.db {
            Database::Sqlite => shared.clone(),
            Database::Postgres => store::open(&bdb.settings).await?,
        });
    }
    Ok(stores)
}

/// Waits until the fake holds `n` posts (or the deadline passes); returns when each text
/// reached it.
async fn wait_for_creates(
    fake: &FakeX,
    n: usize,
    limit: Duration,
) -> anyhow::Result<HashMap<String, DateTime<Utc>>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if fake.create_requests() as usize >= n {
            let posts = fake.posts();
            if posts.len() >= n {
                return Ok(posts.into_iter().map(|t| (t.text, t.created_at)).collect());
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "only {} of {n} posts reached the fake within {limit:?}",
                fake.posts().len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn millis(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// Schedules posts one at a time, each due the moment it is scheduled, while a
/// scheduler runs; a post's latency is from its `run_at` (set to the clock reading taken
/// right before the store call that makes it `scheduled`, as `schedule_post now` does)
/// to the fake X storing the create request. So it includes the schedule's commit, the
/// wake-up (NOTIFY or in-process), the claim, the witness commit, opening the sealed
/// token, and the HTTP request.
pub async fn latency(opts: &Options, pg: &Postgres) -> anyhow::Result<Vec<Row>> {
    let m = Metric::Latency;
    let mut rows = Vec::new();
    for db in [Database::Sqlite, Database::Postgres] {
        let how = match db {
            Database::Sqlite => "SQLite, in-process wake",
            Database::Postgres => "Postgres, LISTEN/NOTIFY",
        };
        let (p50_what, p99_what) = (
            format!("due → create p50 ({how})"),
            format!("due → create p99 ({how})"),
        );
        if !opts.wants(db) {
            continue;
        }
        if let (Database::Postgres, Some(why)) = (db, pg.unavailable()) {
            rows.push(Row::skipped(m, p50_what, "ms", Target::None, why));
            rows.push(Row::skipped(m, p99_what, "ms", Target::AtMost(10.0), why));
            continue;
        }
        let samples = opts.size(200, 5);
        let (p50s, p99s, phases) = latency_runs(opts, pg, db, samples).await?;
        let note = format!("{samples} posts per run, one every 15 ms");
        rows.push(Row::new(m, p50_what, "ms", Target::None, p50s, opts.smoke).with_note(note));
        rows.push(
            Row::new(m, p99_what, "ms", Target::AtMost(10.0), p99s, opts.smoke).with_note(phases),
        );
    }
    Ok(rows)
}

async fn latency_runs(
    opts: &Options,
    pg: &Postgres,
    db: Database,
    samples: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, String)> {
    let bdb = BenchDb::fresh(opts, pg, db, "latency").await?;
    let store = store::open(&bdb.settings).await?;
    let fake = FakeX::start().await?;
    let (vault, _key) = Vault::generate();
    let vault = Arc::new(vault);
    let account = seed::connect_fake_x(&store, &fake, &vault).await?;
    let stores = scheduler_stores(&bdb, &store, 1).await?;
    let running = Running::start(&bdb, &stores, &fake, &vault, "latency").await?;
    let result = async {
        // Warm-up: connections, prepared statements, the HTTP connection.
        schedule_batch(&store, &account.id, "warm-up", 5, Duration::from_millis(15)).await?;
        wait_for_creates(&fake, 5, Duration::from_secs(60)).await?;
        let (mut p50s, mut p99s, mut phases) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..opts.runs {
            let before = fake.posts().len();
            let sent = schedule_batch(
                &store,
                &account.id,
                &format!("run {run}"),
                samples,
                Duration::from_millis(15),
            )
            .await?;
            let got = wait_for_creates(
                &fake,
                before + samples,
                opts.window(Duration::from_secs(120), Duration::from_secs(30)),
            )
            .await?;
            let mut lat = Vec::with_capacity(sent.len());
            for (text, at, id) in &sent {
                let created = *got
                    .get(text)
                    .context("a scheduled post never reached the fake")?;
                lat.push(millis(created - *at));
                // Where the time went, from the attempt row the scheduler wrote.
                if let Some(a) = store.list_attempts(id).await?.first()
                    && let Some(sent_at) = a.request_sent_at
                {
                    phases.push([
                        millis(created - *at),
                        millis(a.claimed_at - *at),
                        millis(sent_at - a.claimed_at),
                        millis(created - sent_at),
                    ]);
                }
            }
            p50s.push(stats::percentile(&lat, 0.50).unwrap_or_default());
            p99s.push(stats::percentile(&lat, 0.99).unwrap_or_default());
        }
        Ok::<_, anyhow::Error>((p50s, p99s, describe_phases(&phases)))
    }
    .await;
    running.stop().await?;
    drop((store, stores));
    bdb.release_connections().await;
    bdb.keep();
    result
}

/// Splits each post's latency at the attempt row's `claimed_at` (the start of the
/// scheduler's loop turn that claimed it) and `request_sent_at` (the witness, written
/// just before the create request): wake-up, then sweep + claim + credentials, then the
/// witness commit + HTTP. Shown at the median post and averaged over the slowest 1%.
fn describe_phases(phases: &[[f64; 4]]) -> String {
    if phases.is_empty() {
        return String::new();
    }
    let col = |i: usize| phases.iter().map(|p| p[i]).collect::<Vec<_>>();
    let p50 = |i: usize| stats::percentile(&col(i), 0.5).unwrap_or_default();
    let cut = stats::percentile(&col(0), 0.99).unwrap_or_default();
    let tail: Vec<&[f64; 4]> = phases.iter().filter(|p| p[0] >= cut).collect();
    let mean = |i: usize| tail.iter().map(|p| p[i]).sum::<f64>() / tail.len().max(1) as f64;
    format!(
        "phases (median / mean of the slowest 1%, {} posts): due → loop turn starts {:.2} / {:.2} ms, \
         turn start → witness (sweep, claim commit, credentials) {:.2} / {:.2} ms, \
         witness → fake has the create (witness commit, HTTP) {:.2} / {:.2} ms",
        phases.len(),
        p50(1),
        mean(1),
        p50(2),
        mean(2),
        p50(3),
        mean(3)
    )
}

/// Creates `n` drafts, then schedules each for "now" with a gap between; returns each
/// text with its run time.
async fn schedule_batch(
    store: &DynStore,
    account: &AccountId,
    tag: &str,
    n: usize,
    gap: Duration,
) -> anyhow::Result<Vec<(String, DateTime<Utc>, PostId)>> {
    let drafts: Vec<_> = (0..n)
        .map(|i| {
            seed::post(
                format!("latency {tag} #{i} {}", now().timestamp_micros()),
                PostStatus::Draft,
                None,
                Some(account),
                now(),
            )
        })
        .collect();
    store.insert_posts(&drafts, "bench").await?;
    let event = PostEvent::Schedule {
        needs_approval: false,
    };
    let mut sent = Vec::with_capacity(n);
    for draft in drafts {
        let mut next = draft.apply(event)?;
        let at = now();
        next.scheduled_at = Some(at);
        next.run_at = Some(at);
        next.schedule_tz = Some("UTC".into());
        store.update_post(&draft, &next, event, "bench").await?;
        sent.push((draft.content.parts[0].text.clone(), at, draft.id.clone()));
        tokio::time::sleep(gap).await;
    }
    Ok(sent)
}

/// Publishes/s: `n` posts become due at once (one transaction) while 1 or 4 scheduler
/// instances with default settings wait; the rate is `n` over the time from that commit
/// to the last create request reaching the fake.
pub async fn throughput(opts: &Options, pg: &Postgres) -> anyhow::Result<Vec<Row>> {
    let m = Metric::Throughput;
    let mut rows = Vec::new();
    // PSN_BENCH_THROUGHPUT_POSTS overrides the size (for profiling under valgrind).
    let n = std::env::var("PSN_BENCH_THROUGHPUT_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(opts.size(5000, 20));
    for instances in [1usize, 4] {
        let what = format!(
            "publishes/s, Postgres, {instances} instance{}",
            if instances == 1 { "" } else { "s" }
        );
        if !opts.wants(Database::Postgres) {
            continue;
        }
        if let Some(why) = pg.unavailable() {
            rows.push(Row::skipped(m, what, "/s", Target::AtLeast(1500.0), why));
            continue;
        }
        let bdb = BenchDb::fresh(
            opts,
            pg,
            Database::Postgres,
            &format!("throughput{instances}"),
        )
        .await?;
        let store = store::open(&bdb.settings).await?;
        let mut rates = Vec::new();
        let (mut ours, mut busy) = (Vec::new(), Vec::new());
        let stores = scheduler_stores(&bdb, &store, instances).await?;
        let activity_before = bdb.pg_activity().await;
        for run in 0..opts.runs {
            let (rate, cpu_ours, cpu_busy) = throughput_run(
                &bdb,
                &store,
                &stores,
                n,
                run,
                opts.window(Duration::from_secs(300), Duration::from_secs(30)),
            )
            .await?;
            rates.push(rate);
            ours.push(cpu_ours);
            busy.push(cpu_busy);
        }
        // pg_stat_database is flushed about once a second.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let per_publish = match (activity_before, bdb.pg_activity().await) {
            (Some((c0, r0)), Some((c1, r1))) => {
                let total = (n * opts.runs) as f64;
                format!(
                    "; Postgres per publish: {:.1} commits, {:.1} rows written (2 of them the bulk insert's post and audit rows)",
                    (c1 - c0) as f64 / total,
                    (r1 - r0) as f64 / total
                )
            }
            _ => String::new(),
        };
        let batch = bdb.settings.scheduler.batch_size;
        drop((store, stores));
        bdb.release_connections().await;
        bdb.keep();
        rows.push(
            Row::new(m, what, "/s", Target::AtLeast(1500.0), rates, opts.smoke)
                .with_note(format!(
                    "{n} posts per run, batch_size {batch}; CPU while publishing (median): this process \
                     (schedulers + fake X) {:.0}%, whole machine {:.0}% of {} cores{per_publish}",
                    stats::median(&ours).unwrap_or_default() * 100.0,
                    stats::median(&busy).unwrap_or_default() * 100.0,
                    std::thread::available_parallelism().map_or(1, usize::from),
                )),
        );
    }
    Ok(rows)
}

async fn throughput_run(
    bdb: &BenchDb,
    store: &DynStore,
    stores: &[DynStore],
    n: usize,
    run: usize,
    limit: Duration,
) -> anyhow::Result<(f64, f64, f64)> {
    let fake = FakeX::start().await?;
    let (vault, _key) = Vault::generate();
    let vault = Arc::new(vault);
    let account = seed::connect_fake_x(store, &fake, &vault).await?;
    let running = Running::start(bdb, stores, &fake, &vault, &format!("tp{run}")).await?;
    let at = now();
    let posts: Vec<_> = (0..n)
        .map(|i| {
            seed::post(
                format!("throughput run {run} #{i}"),
                PostStatus::Scheduled,
                Some(at),
                Some(&account.id),
                at,
            )
        })
        .collect();
    let result = async {
        store.insert_posts(&posts, "bench").await?;
        let committed = now();
        let wall = std::time::Instant::now();
        let (ours0, busy0) = (procfs::self_cpu_secs(), procfs::machine_busy_secs());
        let got = wait_for_creates(&fake, n, limit).await?;
        let secs = wall.elapsed().as_secs_f64().max(1e-6);
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let share = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (b - a) / secs / cores,
            _ => 0.0,
        };
        let ours = share(ours0, procfs::self_cpu_secs());
        let busy = share(busy0, procfs::machine_busy_secs());
        let last = got.values().max().copied().unwrap_or(committed);
        if fake.create_requests() as usize != n {
            bail!("{} create requests for {n} posts", fake.create_requests());
        }
        Ok((
            n as f64 / (millis(last - committed) / 1000.0).max(1e-6),
            ours,
            busy,
        ))
    }
    .await;
    let claimed = running.stop().await?;
    let figures = result?;
    if claimed != n {
        bail!("the schedulers claimed {claimed} posts for {n}");
    }
    Ok(figures)
}
