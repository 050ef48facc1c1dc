//! What the analytics tools (`fetch_metrics`, `score_opportunities`) need beyond the
//! other tools: reading platforms on an account's behalf, relaying a use case's progress
//! as MCP progress notifications, and the chart as an image content block.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rmcp::RoleServer;
use rmcp::model::{ContentBlock, ProgressNotificationParam};
use rmcp::service::RequestContext;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::access::Access;
use crate::app::chart::{self, Format};
use crate::app::metrics::{FetchMetricsOutput, Progress};
use crate::app::{AppResult, Ctx};
use crate::config::Settings;

/// The adapters this process reads through, and the key that opens accounts.
pub(super) fn access(settings: &Settings) -> Access {
    Access::with_vault_from(crate::scheduler::runtime::platforms(settings), settings)
}

/// Forwards progress to the client when the request carried a progress token; does
/// nothing otherwise. Notifications go out in order, all before the tool's answer.
pub(super) struct ProgressRelay {
    tx: Option<mpsc::UnboundedSender<Progress>>,
    task: Option<JoinHandle<()>>,
}

impl ProgressRelay {
    pub(super) fn new(ctx: &RequestContext<RoleServer>) -> Self {
        let Some(token) = ctx.meta.get_progress_token() else {
            return Self {
                tx: None,
                task: None,
            };
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Progress>();
        let peer = ctx.peer.clone();
        let task = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let param = ProgressNotificationParam::new(token.clone(), f64::from(p.done))
                    .with_total(f64::from(p.total))
                    .with_message(p.message);
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!("progress notification not sent: {e}");
                }
            }
        });
        Self {
            tx: Some(tx),
            task: Some(task),
        }
    }

    /// The callback a use case reports progress to (it borrows the relay, so `finish`
    /// can only be called once the use case is done with it).
    pub(super) fn callback(&self) -> impl Fn(Progress) + Send + Sync + '_ {
        move |p| {
            if let Some(tx) = &self.tx {
                // The receiver lives until `finish`; a send can only fail after it.
                let _ = tx.send(p);
            }
        }
    }

    /// Waits until every notification is sent.
    pub(super) async fn finish(mut self) {
        drop(self.tx.take());
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The engagement chart of a `fetch_metrics` answer as a PNG image block.
pub(super) async fn chart_block(cx: Ctx<'_>, out: &FetchMetricsOutput) -> AppResult<ContentBlock> {
    let series = chart::series_for(cx, out).await?;
    let png = chart::render(&series, Format::Png)?;
    Ok(ContentBlock::image(
        STANDARD.encode(png),
        Format::Png.mime(),
    ))
}
