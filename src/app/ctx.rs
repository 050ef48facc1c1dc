//! What every use case needs: the store, the settings, and who is acting.

use crate::config::{HubKind, Settings};
use crate::store::Store;

/// The surroundings of one use-case call. `actor` is written into the audit log
/// (`mcp`, `cli:alice`).
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub settings: &'a Settings,
    pub actor: &'a str,
}

impl<'a> Ctx<'a> {
    pub fn new(store: &'a dyn Store, settings: &'a Settings, actor: &'a str) -> Self {
        Self {
            store,
            settings,
            actor,
        }
    }

    /// Company hubs send every scheduled or edited post to an approver.
    pub fn needs_approval(&self) -> bool {
        self.settings.hub.kind == HubKind::Company
    }
}
