//! Which adapter serves which platform in this process.

use std::collections::HashMap;
use std::sync::Arc;

use super::PlatformClient;
use crate::domain::Platform;

/// The adapters this process can publish through, one per platform.
#[derive(Clone, Default)]
pub struct Registry {
    clients: HashMap<Platform, Arc<dyn PlatformClient>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the adapter for its platform.
    pub fn with(mut self, client: Arc<dyn PlatformClient>) -> Self {
        self.clients.insert(client.platform(), client);
        self
    }

    pub fn get(&self, platform: Platform) -> Option<Arc<dyn PlatformClient>> {
        self.clients.get(&platform).cloned()
    }

    pub fn platforms(&self) -> Vec<Platform> {
        let mut all: Vec<_> = self.clients.keys().copied().collect();
        all.sort();
        all
    }
}
