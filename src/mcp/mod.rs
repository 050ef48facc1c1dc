//! The MCP server: psn's tools and prompts for Claude Code over stdio. This is the only
//! module that knows rmcp; every tool is a thin adapter over a use case in `app/`.

mod analytics;
mod prompts;
mod serve;
mod slot;
mod tools;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use crate::config::Settings;

pub use serve::serve;
pub use slot::StoreSlot;

/// What the server tells Claude about psn when a session starts.
pub const INSTRUCTIONS: &str = "\
psn runs this person's or company's social media: it keeps an idea bank, drafts posts for \
X, Bluesky, LinkedIn, Instagram, TikTok, Threads and Mastodon, validates them against each \
platform's real limits, and queues them in a database; psn's scheduler publishes each post \
exactly once when it is due. No tool here publishes directly; only fetch_metrics and \
score_opportunities read from the platforms.

Usual workflow:
1. capture_idea whenever an idea comes up; list_ideas when planning.
2. create_post with the text (several parts make a thread) and one target per platform; it \
validates and returns a group id, each post id, each part's length against its limit, and \
warnings. Fix the listed errors and call it again if it refuses.
3. schedule_post with the group id (or a post id) and a time: `now`, RFC 3339 with an offset, \
or a local date-time with an IANA zone. It answers with the UTC and local time.
4. list_pending to see the queue and anything needing attention (failed, needs_reconcile); \
get_post for one post's full content and history.
Edit with update_post, withdraw with cancel_post, and retry_post a failed post once its cause \
is fixed. On a company hub, scheduled and edited posts wait for an approver before they publish. list_accounts shows connected accounts and the `psn connect …` command a \
person must run in a terminal to connect one; never ask for passwords or tokens in chat. \
fetch_metrics reports what published posts earned (engagement score 0-100, outliers, chart); \
score_opportunities finds conversations on the strategy's pillars worth replying to. \
Every failure result says what to do next.";

/// The psn MCP server. Cheap to clone: state is shared.
#[derive(Clone)]
pub struct PsnServer {
    settings: Arc<Settings>,
    store: Arc<StoreSlot>,
    tool_router: ToolRouter<Self>,
}

impl PsnServer {
    pub fn new(settings: Arc<Settings>, store: Arc<StoreSlot>) -> Self {
        Self {
            settings,
            store,
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PsnServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build(),
        )
        .with_server_info(
            Implementation::new("psn", env!("CARGO_PKG_VERSION"))
                .with_title("psn")
                .with_description(
                    "Draft, validate and schedule social media posts; publishes exactly once",
                ),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(&request).map(Into::into)
    }
}
