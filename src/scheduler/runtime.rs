//! Building a scheduler from settings, and the two ways it runs: inside `psn serve`
//! and headless (`psn scheduler`), where SIGTERM/SIGINT stop it gracefully.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Context, Scheduler, Shutdown, Summary, VaultAccounts, cron, default_instance};
use crate::config::Settings;
use crate::platforms::bluesky::BlueskyClient;
use crate::platforms::registry::Registry;
use crate::platforms::x::XClient;
use crate::store::DynStore;
use crate::vault::Vault;

/// The adapters this build publishes through, configured from settings.
pub fn platforms(settings: &Settings) -> Registry {
    Registry::new()
        .with(Arc::new(XClient::from_settings(&settings.platforms)))
        .with(Arc::new(BlueskyClient::from_settings(&settings.platforms)))
}

/// The periodic jobs this build runs, each on its cron from settings (a cron of `off`
/// leaves the job out; an invalid one is left out with a warning): token refresh ahead
/// of expiry, and the analytics jobs (`app::jobs`). They share the scheduler's adapters,
/// so a refresh here and a refresh on the publish path are one single-flight refresh.
pub fn jobs(
    settings: &Settings,
    platforms: &Registry,
    vault: Option<Arc<Vault>>,
) -> cron::Registry {
    use crate::app::access::Access;
    use crate::app::jobs::{self, AnalyticsJob};
    let mut registry = cron::Registry::default();
    let mut add = |name: &str, expr: Option<&str>, body: cron::JobBody| {
        let Some(expr) = expr else { return };
        match cron::Job::new(name, expr, settings.timezone, body) {
            Ok(j) => registry = std::mem::take(&mut registry).with(j),
            Err(e) => warn!("{e}; the {name} job is off"),
        }
    };

    if let Some(vault) = vault {
        let platforms = platforms.clone();
        let window = chrono::Duration::from_std(settings.jobs.token_refresh_window)
            .unwrap_or(chrono::Duration::minutes(30));
        let body: cron::JobBody = Arc::new(move |cx: cron::JobContext| {
            let (platforms, vault) = (platforms.clone(), vault.clone());
            Box::pin(async move {
                use crate::app::tokens::{Refreshed, refresh_expiring};
                let results = refresh_expiring(cx.store.as_ref(), &vault, &platforms, window)
                    .await
                    .map_err(|e| e.to_string())?;
                info!(
                    accounts = results.len(),
                    "token refresh checked accounts near expiry"
                );
                // Accounts that could not be renewed make the run fail, so `cron_runs` says why.
                let problems: Vec<String> = results
                    .iter()
                    .filter_map(|r| match &r.result {
                        Refreshed::Later { reason } | Refreshed::NeedsReauth { reason } => {
                            Some(format!("{} @{}: {reason}", r.platform, r.handle))
                        }
                        Refreshed::Renewed { .. } | Refreshed::AlreadyRenewed => None,
                    })
                    .collect();
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("; "))
                }
            })
        });
        add(
            "token_refresh",
            settings.jobs.token_refresh_cron.as_deref(),
            body,
        );
    }

    let shared = Arc::new(settings.clone());
    let access = Arc::new(Access::with_vault_from(platforms.clone(), settings));
    for job in [AnalyticsJob::Metrics, AnalyticsJob::Engagement] {
        let (shared, access) = (shared.clone(), access.clone());
        let body: cron::JobBody = Arc::new(move |cx: cron::JobContext| {
            let (shared, access) = (shared.clone(), access.clone());
            Box::pin(async move { jobs::run(job, &shared, cx.store.as_ref(), &access).await })
        });
        add(job.name(), job.cron(settings), body);
    }
    registry
}

/// A scheduler for this process.
pub fn build(settings: &Settings, store: DynStore) -> Scheduler {
    let vault = match Vault::from_settings(&settings.vault) {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            warn!("{e}; posts on connected accounts will fail until a key is configured");
            None
        }
    };
    let platforms = platforms(settings);
    let jobs = jobs(settings, &platforms, vault.clone());
    let ctx = Context {
        accounts: Arc::new(VaultAccounts::new(store.clone(), vault)),
        store,
        platforms,
        settings: settings.scheduler.clone(),
        instance: settings
            .scheduler
            .instance
            .clone()
            .unwrap_or_else(default_instance),
    };
    Scheduler::new(ctx, jobs)
}

/// Runs the scheduler inside `psn serve`; stop it with the returned [`Shutdown`].
pub fn spawn_in_process(settings: &Settings, store: DynStore) -> (Shutdown, JoinHandle<()>) {
    let scheduler = build(settings, store);
    let (stop, rx) = Shutdown::new();
    let handle = tokio::spawn(async move {
        if let Err(e) = scheduler.run(rx).await {
            warn!(error = %e, "the in-process scheduler stopped");
        }
    });
    (stop, handle)
}

/// `psn scheduler`: until SIGTERM or SIGINT (or, with `once`, until nothing is due).
pub async fn run_headless(
    settings: &Settings,
    store: DynStore,
    once: bool,
) -> anyhow::Result<Summary> {
    let scheduler = build(settings, store);
    if once {
        return scheduler.run_once().await;
    }
    let (stop, rx) = Shutdown::new();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("stopping: no new claims; in-flight publishes get the grace period");
        stop.trigger();
    });
    scheduler.run(rx).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the scheduler");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
