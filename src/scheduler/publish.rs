//! One publish attempt for a claimed post: credentials, the platform call behind the
//! witness, and the fenced finish that records what happened.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::warn;

use super::backoff::next_run_at;
use super::group_commit::GroupCommit;
use super::{Blocked, Context, NoCredentials};
use crate::domain::{Post, now};
use crate::platforms::{
    Credentials, PlatformClient, PlatformError, PublishRequest, Published, Witness,
};
use crate::store::{Finish, Lease};

/// Records the witness for this lease (committed with other publishes' witnesses);
/// refuses once the lease is lost.
struct StoreWitness<'a> {
    commit: &'a GroupCommit,
    lease: &'a Lease,
}

#[async_trait]
impl Witness for StoreWitness<'_> {
    async fn request_sent(&self) -> Result<(), PlatformError> {
        match self.commit.witness(self.lease).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(PlatformError::LeaseLost {
                message:
                    "another scheduler instance took this post over before the request was sent"
                        .into(),
            }),
            Err(e) => Err(PlatformError::LeaseLost {
                message: format!("could not record the request in the database: {e}"),
            }),
        }
    }
}

/// The request the adapter gets for a post.
pub(super) fn request_for(post: &Post) -> PublishRequest {
    PublishRequest {
        post_id: post.id.to_string(),
        content: post.content.clone(),
        publish_key: post.publish_key.clone().unwrap_or_default(),
        // Reconciliation by time window starts a little before the post was due.
        not_before: post.scheduled_at.unwrap_or(post.created_at) - chrono::Duration::minutes(5),
    }
}

/// Runs one attempt and hands its outcome to the group commit, which records it with a
/// fenced update. Never panics; every outcome is recorded.
pub(super) async fn attempt(ctx: Arc<Context>, commit: GroupCommit, lease: Lease) {
    let finish = decide(&ctx, &commit, &lease).await;
    commit.finish(lease, finish);
}

async fn decide(ctx: &Context, commit: &GroupCommit, lease: &Lease) -> Finish {
    let post = &lease.post;
    let at = now();
    if let Some(due) = post.scheduled_at {
        let deadline = due + ctx.settings.missed_window;
        if at > deadline {
            return Finish::Failed {
                error: format!(
                    "missed its window: it was due at {} and could not go out within {} of that (it is now {}); \
                     schedule it again with schedule_post",
                    due.to_rfc3339(),
                    human(ctx.settings.missed_window),
                    at.to_rfc3339()
                ),
            };
        }
    }
    let Some(client) = ctx.platforms.get(post.platform) else {
        return Finish::Failed {
            error: format!("this psn cannot publish to {} yet", post.platform),
        };
    };
    let creds = match ctx.accounts.credentials(post).await {
        Ok(c) => c,
        Err(NoCredentials::Blocked(Blocked(why))) => return Finish::Failed { error: why },
        Err(NoCredentials::Unavailable(why)) => {
            return classify(
                ctx,
                post,
                PlatformError::Retryable {
                    message: format!("psn could not read the account: {why}"),
                    retry_after: None,
                },
            );
        }
    };
    let request = request_for(post);
    let witness = StoreWitness { commit, lease };
    let result = with_renewal(
        ctx,
        lease,
        publish_refreshing(ctx, client.as_ref(), post, creds, &request, &witness),
    )
    .await;
    match result {
        Ok(p) => published(p),
        Err(e) => classify(ctx, post, e),
    }
}

fn published(p: Published) -> Finish {
    Finish::Published {
        platform_post_id: p.platform_post_id,
        url: p.url,
        at: now(),
    }
}

/// Publishes; on an expired token, refreshes once, stores the new credentials, and tries again.
async fn publish_refreshing(
    ctx: &Context,
    client: &dyn PlatformClient,
    post: &Post,
    creds: Credentials,
    request: &PublishRequest,
    witness: &dyn Witness,
) -> Result<Published, PlatformError> {
    match client.publish(&creds, request, witness).await {
        Err(PlatformError::AuthExpired { message }) => {
            let fresh = match client.refresh(&creds).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    let reason = format!(
                        "{} rejected psn's token ({message}) and refreshing it failed ({e}): run `psn connect {}`, then retry_post",
                        post.platform, post.platform
                    );
                    ctx.accounts.needs_reauth(post, &reason).await;
                    return Err(PlatformError::Permanent { message: reason });
                }
            };
            if let Err(Blocked(why)) = ctx.accounts.save_refreshed(post, &fresh).await {
                return Err(PlatformError::Retryable {
                    message: why,
                    retry_after: None,
                });
            }
            match client.publish(&fresh, request, witness).await {
                Err(PlatformError::AuthExpired { message }) => {
                    let reason = format!(
                        "{} rejected a freshly refreshed token ({message}): run `psn connect {}`, then retry_post",
                        post.platform, post.platform
                    );
                    ctx.accounts.needs_reauth(post, &reason).await;
                    Err(PlatformError::Permanent { message: reason })
                }
                other => other,
            }
        }
        other => other,
    }
}

/// Keeps the lease alive while a slow publish (a long upload) runs.
async fn with_renewal<T>(ctx: &Context, lease: &Lease, work: impl Future<Output = T>) -> T {
    let every = ctx.settings.lease / 3;
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            () = tokio::time::sleep(every) => {
                match ctx.store.renew(lease, now(), ctx.settings.lease).await {
                    Ok(true) => {}
                    // The witness and the fenced finish stop anything unsafe; keep going.
                    Ok(false) => warn!(post = %lease.post.id, "lease could not be renewed: it was lost"),
                    Err(e) => warn!(post = %lease.post.id, error = %e, "lease renewal failed"),
                }
            }
        }
    }
}

/// Maps an adapter error to what the store records.
fn classify(ctx: &Context, post: &Post, err: PlatformError) -> Finish {
    let at = now();
    let retry = |message: String, retry_after: Option<DateTime<Utc>>| -> Finish {
        if post.attempts >= post.max_attempts {
            return Finish::Failed {
                error: format!("gave up after {} attempts: {message}", post.attempts),
            };
        }
        let run_at = next_run_at(post.attempts, at, retry_after);
        if let Some(due) = post.scheduled_at
            && run_at > due + ctx.settings.missed_window
        {
            return Finish::Failed {
                error: format!(
                    "could not publish within {} of its time ({}): {message}; schedule it again with schedule_post",
                    human(ctx.settings.missed_window),
                    due.to_rfc3339()
                ),
            };
        }
        Finish::Retry {
            run_at,
            error: message,
        }
    };
    match err {
        PlatformError::Retryable {
            message,
            retry_after,
        } => retry(message, retry_after),
        PlatformError::RateLimited { until, message } => retry(
            format!(
                "{} rate limit reached until {until}: {message}",
                post.platform
            ),
            Some(until),
        ),
        // Nothing was sent: the attempt never happened as far as the platform knows.
        PlatformError::LeaseLost { message } => Finish::Retry {
            run_at: at,
            error: message,
        },
        PlatformError::AlreadyPublished { existing_id, url } => Finish::Published {
            platform_post_id: existing_id,
            url,
            at,
        },
        PlatformError::Permanent { message } | PlatformError::AuthExpired { message } => {
            Finish::Failed {
                error: format!("{} refused the post: {message}", post.platform),
            }
        }
        PlatformError::OutcomeUnknown { message } => Finish::Unknown {
            error: format!(
                "no answer from {} after sending ({message}); psn will check whether the post exists",
                post.platform
            ),
        },
    }
}

pub(super) fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
