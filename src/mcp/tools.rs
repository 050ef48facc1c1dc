//! The tools. Each one parses its typed parameters (rmcp turns a bad shape into an
//! `isError` result), runs one use case, and answers with `structuredContent` (matching
//! its `outputSchema`) plus text: a short summary with the ids first, then the same JSON
//! for clients that ignore structured content. A use-case failure is an `isError` result
//! whose text says what to do next.

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use serde::Serialize;

use super::{PsnServer, analytics};
use crate::app::accounts::{self, AccountList};
use crate::app::ideas::{self, CaptureIdeaInput, CapturedIdea, IdeaPage, ListIdeasInput};
use crate::app::metrics::{self, FetchMetricsInput, FetchMetricsOutput};
use crate::app::opportunities::{self, ScoreOpportunitiesInput, ScoreOpportunitiesOutput};
use crate::app::posts::{
    self, CancelPostInput, CancelledPosts, CreatePostInput, CreatedPosts, GetPostInput,
    ListPendingInput, PendingPage, PostDetail, RetriedPost, RetryPostInput, SchedulePostInput,
    ScheduledPosts, UpdatePostInput, UpdatedPost,
};
use crate::app::{AppError, AppResult, Ctx};

/// Who the audit log says acted, for changes made through MCP.
const ACTOR: &str = "mcp";

/// An empty parameter object, for tools that take none.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Builds the tool result for a use case's outcome.
fn respond<T: Serialize>(
    result: AppResult<T>,
    summary: impl FnOnce(&T) -> String,
) -> CallToolResult {
    match result {
        Ok(out) => match serde_json::to_value(&out) {
            Ok(value) => {
                let json = value.to_string();
                let mut r = CallToolResult::structured(value);
                r.content = vec![ContentBlock::text(summary(&out)), ContentBlock::text(json)];
                r
            }
            Err(e) => failure(&AppError::Internal(format!(
                "cannot encode the result: {e}"
            ))),
        },
        Err(e) => failure(&e),
    }
}

/// An `isError` result: the message, with each invalid-input problem on its own line.
fn failure(e: &AppError) -> CallToolResult {
    tracing::debug!(code = e.code(), "tool failed: {e}");
    let text = match e {
        AppError::Invalid { message, errors } if errors.len() > 1 => {
            let mut s = format!("{message}:");
            for err in errors {
                s.push_str(&format!("\n- {err}"));
            }
            s
        }
        other => other.to_string(),
    };
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// Runs a use case with a context (or fails with why the database cannot be used) and
/// turns its outcome into the tool result.
macro_rules! run {
    ($self:ident, |$cx:ident| $call:expr, $summary:expr) => {{
        let result = match $self.store.get().await {
            Ok(store) => {
                let $cx = Ctx::new(store.as_ref(), &$self.settings, ACTOR);
                $call.await
            }
            Err(e) => Err(e),
        };
        Ok(respond(result, $summary))
    }};
}

#[tool_router(vis = "pub(super)")]
impl PsnServer {
    #[tool(
        name = "create_post",
        description = "Create a draft post for one or more targets (platform + optional account). \
Use this after agreeing the text with the person; several `parts` make a thread (X, Bluesky, \
Threads, Mastodon). Validates against each platform's real rules (X weighted length 280 with \
URLs as 23, Bluesky 300 graphemes, Threads/Mastodon 500, LinkedIn 3000, Instagram needs media \
and at most 30 hashtags, TikTok needs a video) and checks media files; nothing is saved if any \
target fails. Returns the group id, one post id per target, each part's length against its \
limit, and warnings. The posts are drafts: call schedule_post next.",
        annotations(
            title = "Create post",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<CreatedPosts>()
    )]
    async fn create_post(
        &self,
        Parameters(input): Parameters<CreatePostInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(
            self,
            |cx| posts::create_post(cx, input),
            |o: &CreatedPosts| {
                format!(
                    "{}\nNext: schedule_post with id {} (or one post id) and a time.",
                    o.summary(),
                    o.group_id
                )
            }
        )
    }

    #[tool(
        name = "update_post",
        description = "Replace the content of a draft, scheduled, pending-approval or failed post \
(send every part, changed or not). The new text is validated like create_post. An edit voids \
any approval, and on a company hub sends a scheduled post back to pending approval. Returns \
the post's summary and each part's length against its limit.",
        annotations(
            title = "Edit post",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<UpdatedPost>()
    )]
    async fn update_post(
        &self,
        Parameters(input): Parameters<UpdatePostInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(
            self,
            |cx| posts::update_post(cx, input),
            UpdatedPost::summary
        )
    }

    #[tool(
        name = "schedule_post",
        description = "Set when a post (post id) or every post of a group (group id from \
create_post) publishes: `now`, an RFC 3339 time with an offset, or a local date-time read in \
`zone` (IANA, default psn's zone). Refuses past times and local times that do not exist \
(daylight-saving gap), and asks which is meant when a local time happens twice. Also \
reschedules. Writes the queue only; psn's scheduler publishes at that time. On a company hub \
the posts wait for approval. Returns the post ids, the time in UTC and local time, and warnings \
(e.g. no connected account).",
        annotations(
            title = "Schedule post",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<ScheduledPosts>()
    )]
    async fn schedule_post(
        &self,
        Parameters(input): Parameters<SchedulePostInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(
            self,
            |cx| posts::schedule_post(cx, input),
            ScheduledPosts::summary
        )
    }

    #[tool(
        name = "cancel_post",
        description = "Withdraw a post (post id) or every post of a group (group id) so it never \
publishes: draft, scheduled, pending-approval and failed posts can be cancelled, and cancelling \
is final. With `keep_draft: true` the post goes back to draft instead (unschedule). Cancelling \
an already cancelled post changes nothing. Returns each post's new status.",
        annotations(
            title = "Cancel post",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<CancelledPosts>()
    )]
    async fn cancel_post(
        &self,
        Parameters(input): Parameters<CancelPostInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(
            self,
            |cx| posts::cancel_post(cx, input),
            CancelledPosts::summary
        )
    }

    #[tool(
        name = "get_post",
        description = "Read one post in full: every part and media, target account, status, \
scheduled time (UTC and local), attempts, last error, the live URL once published, what can be \
done next, and its history (who scheduled, edited, published it and when). Use it before \
editing, and to explain a failed post.",
        annotations(
            title = "Get post",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<PostDetail>()
    )]
    async fn get_post(
        &self,
        Parameters(input): Parameters<GetPostInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(self, |cx| posts::get_post(cx, input), PostDetail::summary)
    }

    #[tool(
        name = "list_pending",
        description = "List the queue in publishing order: by default scheduled, pending-approval, \
publishing, failed and needs-reconcile posts (any statuses may be asked for, e.g. draft or \
published). Filters: statuses, platform, account, a from/to time range (RFC 3339). Pages of \
`limit` posts (default 50, at most 200); pass `next_cursor` back as `cursor` for the next page. \
Returns each post's id, group, platform, status, time, first words and last error, plus the \
total count: exact up to 10,000 (`total_exact: true`), else reported as 10,000+ (`total_exact: \
false`); narrow the filters for an exact count of a larger queue.",
        annotations(
            title = "List pending posts",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<PendingPage>()
    )]
    async fn list_pending(
        &self,
        Parameters(input): Parameters<ListPendingInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(
            self,
            |cx| posts::list_pending(cx, input),
            PendingPage::summary
        )
    }

    #[tool(
        name = "retry_post",
        description = "Queue a failed post to publish again, with a fresh allowance of attempts. Fix \
the cause first (get_post shows last_error: edit the content with update_post, or have the \
person reconnect the account). If the last attempt may have reached the platform (no answer came \
back), psn first asks the platform whether the post exists and publishes only if it does not, so \
nothing appears twice; the same happens for a needs-reconcile post. Pass force=true only after \
the person checked the account and the post is not there. Returns the post and the error it had \
failed with.",
        annotations(
            title = "Retry post",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<RetriedPost>()
    )]
    async fn retry_post(
        &self,
        Parameters(input): Parameters<RetryPostInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(
            self,
            |cx| posts::retry_post(cx, input),
            RetriedPost::summary
        )
    }

    #[tool(
        name = "list_accounts",
        description = "List the connected social accounts: platform, handle, status, token \
expiry and health, with the command that fixes an unhealthy one; and the platforms with no \
account with the command that connects one, which the person runs in a terminal (`psn connect \
x`, `psn connect bluesky --handle NAME`; other platforms cannot be connected by this version). Use \
it before creating posts to pick accounts.",
        annotations(
            title = "List accounts",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<AccountList>()
    )]
    async fn list_accounts(
        &self,
        Parameters(_): Parameters<NoParams>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(self, |cx| accounts::list_accounts(cx), AccountList::summary)
    }

    #[tool(
        name = "capture_idea",
        description = "Save an idea to the idea bank for later posts, with optional tags, content \
pillar and source (URL or note). Use it whenever the person mentions something worth posting \
about, without drafting a post. Returns the idea with its id.",
        annotations(
            title = "Capture idea",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<CapturedIdea>()
    )]
    async fn capture_idea(
        &self,
        Parameters(input): Parameters<CaptureIdeaInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(
            self,
            |cx| ideas::capture_idea(cx, input),
            CapturedIdea::summary
        )
    }

    #[tool(
        name = "list_ideas",
        description = "List ideas from the idea bank, newest first, filtered by status (new, used, \
archived), tag or pillar; pages of `limit` (default 50, at most 200) with a cursor. Use it when \
planning posts.",
        annotations(
            title = "List ideas",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<IdeaPage>()
    )]
    async fn list_ideas(
        &self,
        Parameters(input): Parameters<ListIdeasInput>,
    ) -> Result<CallToolResult, ErrorData> {
        run!(self, |cx| ideas::list_ideas(cx, input), IdeaPage::summary)
    }

    #[tool(
        name = "fetch_metrics",
        description = "What published posts earned, for one post, a group (every platform it went \
to), an account, or a period (default: the last 30 days). Returns per post the latest numbers \
normalised across platforms (impressions/views, likes, replies, reposts, quotes, bookmarks, link \
clicks; null = the platform does not report it) with the raw fields, a composite engagement score \
0-100 (deeper actions weigh more, normalised by reach where reported), the change since the \
previous snapshot, and an outlier flag (at least 5x the account's 30-day average). Collects fresh \
numbers from the platforms when the stored ones are older than `max_age_secs` (default 3600, 0 = \
always); rate-limited or missing posts are listed in `not_collected` with the reason and when to \
retry. Set `chart: true` to also get a PNG chart of the score over time. Sends progress \
notifications when the request has a progress token.",
        annotations(
            title = "Fetch metrics",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        ),
        output_schema = schema_for_output::<FetchMetricsOutput>()
    )]
    async fn fetch_metrics(
        &self,
        Parameters(input): Parameters<FetchMetricsInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let store = match self.store.get().await {
            Ok(store) => store,
            Err(e) => return Ok(failure(&e)),
        };
        let cx = Ctx::new(store.as_ref(), &self.settings, ACTOR);
        let relay = analytics::ProgressRelay::new(&ctx);
        let access = analytics::access(&self.settings);
        let result = metrics::fetch_metrics(cx, &access, &input, &relay.callback()).await;
        relay.finish().await;
        let chart = match (&result, input.chart) {
            (Ok(out), true) => Some(analytics::chart_block(cx, out).await),
            _ => None,
        };
        let mut r = respond(result, FetchMetricsOutput::summary);
        match chart {
            Some(Ok(image)) => r.content.insert(1, image),
            Some(Err(e)) => r
                .content
                .insert(1, ContentBlock::text(format!("no chart: {e}"))),
            None => {}
        }
        Ok(r)
    }

    #[tool(
        name = "score_opportunities",
        description = "Find conversations worth joining: searches X and Bluesky for recent posts \
matching each pillar of the content strategy (the strategy file's keywords and phrases), scores \
each 0-100 as relevance (stemmed keyword/phrase match and text similarity) x author influence \
(followers, log scale) x velocity (engagement per hour) x time window (halves every 6 hours), \
and returns them best first with the factor breakdown, tier (act_now >= 70, digest 60-69, low \
40-59; below 40 is dropped) and a one-line reason. Each opportunity is returned as new once: \
later calls count it in `already_seen` (`include_seen: true` returns it again), and at most the \
strategy's daily cap of new ones come back per day. Use it to plan replies; it never posts. \
Sends progress notifications when the request has a progress token.",
        annotations(
            title = "Score opportunities",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        ),
        output_schema = schema_for_output::<ScoreOpportunitiesOutput>()
    )]
    async fn score_opportunities(
        &self,
        Parameters(input): Parameters<ScoreOpportunitiesInput>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let store = match self.store.get().await {
            Ok(store) => store,
            Err(e) => return Ok(failure(&e)),
        };
        let cx = Ctx::new(store.as_ref(), &self.settings, ACTOR);
        let relay = analytics::ProgressRelay::new(&ctx);
        let access = analytics::access(&self.settings);
        let result =
            opportunities::score_opportunities(cx, &access, &input, &relay.callback()).await;
        relay.finish().await;
        Ok(respond(result, ScoreOpportunitiesOutput::summary))
    }
}
