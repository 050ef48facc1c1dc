//! The store as the server holds it: opened at start-up if the database answers, and
//! opened again on the next tool call if it did not, so the server starts (and explains
//! the problem in each tool result) even when the database is down.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::app::AppError;
use crate::config::Settings;
use crate::store::{self, DynStore};

pub struct StoreSlot {
    settings: Arc<Settings>,
    store: Mutex<Option<DynStore>>,
}

impl StoreSlot {
    pub fn new(settings: Arc<Settings>) -> Self {
        Self {
            settings,
            store: Mutex::new(None),
        }
    }

    /// The open store, opening (and migrating) it first if needed. Concurrent callers
    /// wait for one attempt instead of each opening a pool.
    pub async fn get(&self) -> Result<DynStore, AppError> {
        let mut guard = self.store.lock().await;
        if let Some(store) = guard.as_ref() {
            return Ok(store.clone());
        }
        match store::open(&self.settings).await {
            Ok(store) => {
                tracing::info!(backend = store.backend().name(), "database ready");
                *guard = Some(store.clone());
                Ok(store)
            }
            Err(e) => {
                let message = format!("{e:#}");
                tracing::warn!("database unavailable: {message}");
                Err(AppError::Unavailable(message))
            }
        }
    }
}
