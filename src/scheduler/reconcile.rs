//! Reconciliation: a post whose publish request may have reached the platform is never
//! sent again blindly. psn asks the platform (PLATFORMS.md says how, per platform) and
//! moves the post to published (found), scheduled (certainly not there) or failed
//! (cannot tell: the user checks the account).

use std::sync::Arc;

use tracing::{info, warn};

use super::publish::request_for;
use super::{Blocked, Context, NoCredentials};
use crate::domain::{Post, PostEvent, now};
use crate::platforms::{Found, PlatformError};

/// Settles one post the caller holds a reconcile lease on.
pub(super) async fn settle(ctx: Arc<Context>, post: Post) {
    let (event, next) = match ask(&ctx, &post).await {
        Outcome::Found(platform_post_id, url) => {
            let mut next = post.clone();
            next.platform_post_id = Some(platform_post_id);
            next.platform_url = url;
            next.published_at = Some(now());
            next.last_error = None;
            (PostEvent::ReconcileFound, next)
        }
        Outcome::NotFound => {
            let mut next = post.clone();
            next.run_at = Some(now());
            next.last_error = Some(format!(
                "{} confirmed the earlier attempt did not create the post; trying again",
                post.platform
            ));
            (PostEvent::ReconcileNotFound, next)
        }
        Outcome::CannotTell(why) => {
            let mut next = post.clone();
            next.last_error = Some(format!(
                "psn could not check with {} whether the post went out ({why}): look at the account; \
                 if the post is not there, use retry_post",
                post.platform
            ));
            (PostEvent::ReconcileUnknown, next)
        }
        Outcome::Later(why) => {
            info!(post = %post.id, reason = %why, "reconciliation postponed; the lease expiry retries it");
            return;
        }
    };
    let mut next = match post.apply(event) {
        Ok(applied) => Post {
            status: applied.status,
            ..next
        },
        Err(e) => {
            warn!(post = %post.id, error = %e, "reconcile transition refused");
            return;
        }
    };
    next.locked_by = None;
    next.lease_until = None;
    match ctx
        .store
        .update_post(&post, &next, event, &ctx.instance)
        .await
    {
        Ok(stored) => info!(post = %stored.id, status = %stored.status, "reconciled"),
        Err(e) => {
            warn!(post = %post.id, error = %e, "could not record reconciliation; it will be retried")
        }
    }
}

enum Outcome {
    Found(String, Option<String>),
    NotFound,
    CannotTell(String),
    /// A passing problem (rate limit, outage): keep the post waiting and ask again later.
    Later(String),
}

async fn ask(ctx: &Context, post: &Post) -> Outcome {
    let Some(client) = ctx.platforms.get(post.platform) else {
        return Outcome::CannotTell(format!("this psn has no {} adapter", post.platform));
    };
    if post.publish_key.is_none() {
        return Outcome::CannotTell("the post has no publish key to look it up by".into());
    }
    let creds = match ctx.accounts.credentials(post).await {
        Ok(c) => c,
        Err(NoCredentials::Blocked(Blocked(why))) => return Outcome::CannotTell(why),
        Err(NoCredentials::Unavailable(why)) => return Outcome::Later(why),
    };
    match client.find(&creds, &request_for(post)).await {
        Ok(Found::Yes(p)) => Outcome::Found(p.platform_post_id, p.url),
        Ok(Found::No) => Outcome::NotFound,
        Err(PlatformError::RateLimited { until, .. }) => {
            Outcome::Later(format!("rate-limited until {until}"))
        }
        Err(PlatformError::Retryable { message, .. }) => Outcome::Later(message),
        Err(e) => Outcome::CannotTell(e.to_string()),
    }
}
