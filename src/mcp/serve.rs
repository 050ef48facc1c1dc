//! `psn serve`: MCP over stdin/stdout until the client closes stdin.

use std::sync::Arc;

use rmcp::ServiceExt;

use super::{PsnServer, StoreSlot};
use crate::config::Settings;

/// Serves MCP on stdio. The database is opened in the background: if it is down the
/// server still starts, and each tool call tries again and explains what is wrong.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let slot = Arc::new(StoreSlot::new(settings.clone()));
    let warm = slot.clone();
    tokio::spawn(async move {
        // The result is kept in the slot; a failure is logged there and retried per call.
        let _ = warm.get().await;
    });
    let server = PsnServer::new(settings, slot);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("the MCP client did not complete the handshake: {e}"))?;
    tracing::info!("psn MCP server ready on stdio");
    let reason = running.waiting().await?;
    tracing::info!(?reason, "psn MCP server stopped");
    Ok(())
}
