//! The scheduler: publishes due posts exactly once (or flags them), on time.
//!
//! One loop per process. Each turn it takes back expired leases, settles posts awaiting
//! reconciliation, claims due posts (as many as it has free slots), runs due periodic
//! jobs, then sleeps until the earliest of: a wake-up (a post became scheduled, here or
//! — on Postgres — in another process), the next run time or lease expiry in the
//! database, the next cron tick, a publish finishing, the slow fallback poll, shutdown.
//! When idle it wakes once per fallback poll and no more.

mod accounts;
pub mod backoff;
pub mod cron;
mod group_commit;
mod publish;
mod reconcile;
pub mod runtime;
mod vault_accounts;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

pub use accounts::{Blocked, CredentialSource, NoCredentials};
pub use vault_accounts::VaultAccounts;

use crate::config::SchedulerSettings;
use crate::domain::{Platform, Post, now};
use crate::platforms::registry::Registry;
use crate::store::{DynStore, InstanceBeat};

/// Everything a publish or reconcile task needs.
pub struct Context {
    pub store: DynStore,
    pub platforms: Registry,
    pub accounts: Arc<dyn CredentialSource>,
    pub settings: SchedulerSettings,
    pub instance: String,
}

/// A running scheduler's controls.
pub struct Scheduler {
    ctx: Arc<Context>,
    jobs: cron::Registry,
    /// How late a cron tick may still run.
    cron_grace: Duration,
}

/// What a run did, for `--once` and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Loop turns: each is one wake-up (a busy loop would show here).
    pub turns: usize,
    pub claimed: usize,
    pub reconciled: usize,
    pub swept: usize,
    pub jobs_run: usize,
}

/// Stops a running scheduler: it claims nothing more and lets in-flight work finish
/// within the grace period.
#[derive(Clone)]
pub struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Shutdown(tx), rx)
    }

    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

/// The machine's name, for instance names and heartbeats.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into())
}

/// The default instance name: host and process id.
pub fn default_instance() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

/// A publish key for a post's first attempt: a Bluesky TID (it doubles as the record
/// key) for Bluesky, a random token elsewhere (Mastodon's Idempotency-Key).
pub fn new_publish_key(post: &Post) -> String {
    match post.platform {
        Platform::Bluesky => crate::platforms::bluesky::new_tid(),
        _ => format!(
            "psn-{}",
            crate::domain::AttemptId::new()
                .as_str()
                .trim_start_matches("att_")
        ),
    }
}

impl Scheduler {
    pub fn new(ctx: Context, jobs: cron::Registry) -> Self {
        Scheduler {
            ctx: Arc::new(ctx),
            jobs,
            cron_grace: Duration::from_secs(15 * 60),
        }
    }

    pub fn instance(&self) -> &str {
        &self.ctx.instance
    }

    /// Publishes what is due now and settles what needs reconciling, then returns.
    pub async fn run_once(&self) -> anyhow::Result<Summary> {
        let (_never, rx) = Shutdown::new();
        self.run_loop(rx, true).await
    }

    /// Runs until `shutdown` fires.
    pub async fn run(&self, shutdown: watch::Receiver<bool>) -> anyhow::Result<Summary> {
        self.run_loop(shutdown, false).await
    }

    async fn run_loop(
        &self,
        mut shutdown: watch::Receiver<bool>,
        once: bool,
    ) -> anyhow::Result<Summary> {
        let ctx = &self.ctx;
        let slots = ctx.settings.batch_size as usize;
        // Refill in batches: one claim commit serves many posts, instead of one per post.
        let refill_at = (slots / 2).max(1);
        let mut last_housekeeping: Option<std::time::Instant> = None;
        let wake = ctx.store.wake_signal();
        let (commit, writers) = group_commit::GroupCommit::start(ctx.store.clone());
        let started = now();
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut summary = Summary::default();
        let mut last_beat: Option<DateTime<Utc>> = None;
        info!(instance = %ctx.instance, once, "scheduler started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            summary.turns += 1;
            let at = now();
            if last_beat.is_none_or(|b| at - b >= chrono::Duration::seconds(30)) {
                self.beat(started, at).await;
                last_beat = Some(at);
            }
            // Sweeping and reconcile claims are write transactions: while publishing is
            // busy they run every few seconds, not on every turn (leases last a minute).
            let housekeeping = once
                || tasks.is_empty()
                || last_housekeeping.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
            if housekeeping {
                last_housekeeping = Some(std::time::Instant::now());
                match ctx.store.sweep_expired(&ctx.instance, at).await {
                    Ok(swept) => {
                        for s in &swept {
                            warn!(post = %s.post_id, to = %s.to, "took back an expired lease");
                        }
                        summary.swept += swept.len();
                    }
                    Err(e) => warn!(error = %e, "lease sweep failed"),
                }
            }
            let mut free = slots.saturating_sub(tasks.len());
            let mut claimed_now = 0;
            let mut trouble = false;
            if housekeeping && free > 0 {
                match ctx
                    .store
                    .claim_reconcile(
                        &ctx.instance,
                        at,
                        ctx.settings.lease,
                        ctx.settings.reconcile_delay,
                        free as u32,
                    )
                    .await
                {
                    Ok(posts) => {
                        summary.reconciled += posts.len();
                        free -= posts.len();
                        claimed_now += posts.len();
                        for post in posts {
                            tasks.spawn(reconcile::settle(ctx.clone(), post));
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "claiming posts to reconcile failed");
                        trouble = true;
                    }
                }
            }
            if free > 0 && (free >= refill_at || tasks.is_empty()) {
                match ctx
                    .store
                    .claim_due(
                        &ctx.instance,
                        at,
                        ctx.settings.lease,
                        free as u32,
                        new_publish_key,
                    )
                    .await
                {
                    Ok(leases) => {
                        summary.claimed += leases.len();
                        claimed_now += leases.len();
                        for lease in leases {
                            tasks.spawn(publish::attempt(ctx.clone(), commit.clone(), lease));
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "claiming due posts failed");
                        trouble = true;
                    }
                }
            }
            summary.jobs_run +=
                cron::run_due(&self.jobs, &ctx.store, &ctx.instance, at, self.cron_grace).await;

            if once && claimed_now == 0 {
                // Drained: wait for what is in flight, then stop.
                while tasks.join_next().await.is_some() {}
                commit.settled().await;
                if self.nothing_due_now().await {
                    break;
                }
                continue;
            }
            let free_now = slots.saturating_sub(tasks.len());
            if claimed_now > 0 && free_now >= refill_at {
                continue; // there may be more due right now
            }
            let sleep_for = if free_now < refill_at && !tasks.is_empty() {
                // Too few free slots to be worth a claim: wait for publishes to finish.
                ctx.settings.fallback_poll
            } else if trouble {
                // The database is failing: do not hammer it.
                Duration::from_secs(1)
            } else {
                self.sleep_for(at).await
            };
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(sleep_for) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.changed() => {}
            }
        }
        self.drain(tasks).await;
        // Outcomes handed over but not yet committed are recorded before the loop returns.
        drop(commit);
        writers.wait().await;
        info!(instance = %ctx.instance, ?summary, "scheduler stopped");
        Ok(summary)
    }

    async fn nothing_due_now(&self) -> bool {
        match self
            .ctx
            .store
            .next_wake(self.ctx.settings.reconcile_delay)
            .await
        {
            Ok(Some(t)) => t > now(),
            Ok(None) => true,
            Err(_) => true,
        }
    }

    /// Until the earliest run time, lease expiry or cron tick; never longer than the
    /// fallback poll, never a busy loop.
    async fn sleep_for(&self, at: DateTime<Utc>) -> Duration {
        let mut until = at + self.ctx.settings.fallback_poll;
        match self
            .ctx
            .store
            .next_wake(self.ctx.settings.reconcile_delay)
            .await
        {
            Ok(Some(t)) => until = until.min(t),
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, "could not read the next run time; using the fallback poll")
            }
        }
        if let Some(t) = self.jobs.next_tick(at) {
            until = until.min(t);
        }
        (until - now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(5))
    }

    async fn drain(&self, mut tasks: JoinSet<()>) {
        if tasks.is_empty() {
            return;
        }
        let grace = self.ctx.settings.shutdown_grace;
        info!(
            in_flight = tasks.len(),
            ?grace,
            "letting in-flight publishes finish"
        );
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            warn!(
                left = tasks.len(),
                "grace period over; abandoning in-flight work (the lease sweeper settles it)"
            );
            tasks.abort_all();
        }
    }

    async fn beat(&self, started: DateTime<Utc>, at: DateTime<Utc>) {
        let beat = InstanceBeat {
            instance: self.ctx.instance.clone(),
            hostname: default_instance()
                .rsplit_once('-')
                .map(|(h, _)| h.to_owned())
                .unwrap_or_default(),
            pid: i64::from(std::process::id()),
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: started,
            heartbeat_at: at,
        };
        if let Err(e) = self.ctx.store.heartbeat(&beat).await {
            warn!(error = %e, "heartbeat failed");
        }
    }
}
