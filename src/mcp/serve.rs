//! `psn serve`: MCP over stdin/stdout until the client closes stdin.

use std::sync::Arc;

use rmcp::ServiceExt;

use super::{PsnServer, StoreSlot};
use crate::config::Settings;

/// Serves MCP on stdio. The database is opened in the background: if it is down the
/// server still starts, and each tool call tries again and explains what is wrong.
///
/// With `run_scheduler`, the scheduler runs in this process on the same store (so a
/// post scheduled through a tool wakes it at once) from the moment the database opens.
pub async fn serve(settings: Settings, run_scheduler: bool) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let slot = Arc::new(StoreSlot::new(settings.clone()));
    let warm = slot.clone();
    let scheduler_settings = settings.clone();
    let scheduler = tokio::spawn(async move {
        // The result is kept in the slot; a failure is logged there and retried per call.
        let mut wait = std::time::Duration::from_secs(1);
        let store = loop {
            match warm.get().await {
                Ok(store) => break store,
                Err(_) if run_scheduler => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(30));
                }
                Err(_) => return None,
            }
        };
        run_scheduler
            .then(|| crate::scheduler::runtime::spawn_in_process(&scheduler_settings, store))
    });
    let grace = settings.scheduler.shutdown_grace;
    let server = PsnServer::new(settings, slot);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("the MCP client did not complete the handshake: {e}"))?;
    tracing::info!("psn MCP server ready on stdio");
    let reason = running.waiting().await?;
    tracing::info!(?reason, "psn MCP server stopped");
    if scheduler.is_finished() {
        if let Ok(Some((stop, handle))) = scheduler.await {
            stop.trigger();
            let _ = tokio::time::timeout(grace, handle).await;
        }
    } else {
        scheduler.abort();
    }
    Ok(())
}
