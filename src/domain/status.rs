//! The post status machine. Every status change in psn goes through [`transition`]:
//! the store refuses to write a status that this function did not produce.
//!
//! ```text
//! draft ──schedule──> scheduled ──claim──> publishing ──succeeded──> published
//!   │  (company hub) pending_approval ──approve──> scheduled      │
//!   │                        └─reject─> draft        ├─retryable failure─> scheduled (run_at later)
//!   └─cancel─> cancelled                             ├─permanent failure──> failed
//!                                                    └─outcome unknown────> needs_reconcile
//! needs_reconcile ──found──> published │ ──not found──> scheduled │ ──cannot tell──> failed
//! failed ──retry──> scheduled (or needs_reconcile first, when a request may have been sent)
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a post is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Written but not scheduled.
    Draft,
    /// Scheduled on a company hub and waiting for an approver.
    PendingApproval,
    /// Waiting for its time; the scheduler will publish it.
    Scheduled,
    /// A scheduler instance holds a lease on it and is publishing it now.
    Publishing,
    /// Live on the platform.
    Published,
    /// Will not be published without a person acting; `last_error` says why.
    Failed,
    /// A publish request may have reached the platform but no answer came back; psn
    /// must ask the platform before it may try again.
    NeedsReconcile,
    /// Withdrawn by a person.
    Cancelled,
}

impl PostStatus {
    pub const ALL: [PostStatus; 8] = [
        PostStatus::Draft,
        PostStatus::PendingApproval,
        PostStatus::Scheduled,
        PostStatus::Publishing,
        PostStatus::Published,
        PostStatus::Failed,
        PostStatus::NeedsReconcile,
        PostStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Draft => "draft",
            PostStatus::PendingApproval => "pending_approval",
            PostStatus::Scheduled => "scheduled",
            PostStatus::Publishing => "publishing",
            PostStatus::Published => "published",
            PostStatus::Failed => "failed",
            PostStatus::NeedsReconcile => "needs_reconcile",
            PostStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }

    /// Whether the post's content may still be edited.
    pub fn is_editable(self) -> bool {
        matches!(
            self,
            PostStatus::Draft
                | PostStatus::PendingApproval
                | PostStatus::Scheduled
                | PostStatus::Failed
        )
    }

    /// Whether nothing more will happen to the post.
    pub fn is_final(self) -> bool {
        matches!(self, PostStatus::Published | PostStatus::Cancelled)
    }
}

impl fmt::Display for PostStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to a post. Each event names who or what caused it, so the
/// transition table reads as the product's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PostEvent {
    /// A person set a time. `needs_approval` on company hubs.
    Schedule { needs_approval: bool },
    /// A person edited the content. On a company hub this voids an approval.
    Edit { needs_approval: bool },
    /// An approver approved the exact content.
    Approve,
    /// An approver sent the post back to its author.
    Reject,
    /// A person took a scheduled or pending post back to draft.
    Unschedule,
    /// A person withdrew the post.
    Cancel,
    /// A scheduler instance claimed the post under a lease.
    Claim,
    /// The platform accepted the post.
    PublishSucceeded,
    /// The platform certainly did not get the post, and a later try may work.
    RetryableFailure,
    /// The platform refused the post, or retries ran out.
    PermanentFailure,
    /// The request may have reached the platform; nobody knows.
    OutcomeUnknown,
    /// A lease ran out before its holder finished. `request_sent` tells whether the
    /// holder had witnessed sending the create request.
    LeaseExpired { request_sent: bool },
    /// Reconciliation found the post on the platform.
    ReconcileFound,
    /// Reconciliation showed the platform has no such post.
    ReconcileNotFound,
    /// Reconciliation could not ask the platform.
    ReconcileUnknown,
    /// A person asked to try a failed post again. `reconcile_first` when its last
    /// attempt may have reached the platform: psn must ask before sending again.
    Retry { reconcile_first: bool },
}

impl PostEvent {
    pub fn name(self) -> &'static str {
        match self {
            PostEvent::Schedule { .. } => "schedule",
            PostEvent::Edit { .. } => "edit",
            PostEvent::Approve => "approve",
            PostEvent::Reject => "reject",
            PostEvent::Unschedule => "unschedule",
            PostEvent::Cancel => "cancel",
            PostEvent::Claim => "claim",
            PostEvent::PublishSucceeded => "publish_succeeded",
            PostEvent::RetryableFailure => "retryable_failure",
            PostEvent::PermanentFailure => "permanent_failure",
            PostEvent::OutcomeUnknown => "outcome_unknown",
            PostEvent::LeaseExpired { .. } => "lease_expired",
            PostEvent::ReconcileFound => "reconcile_found",
            PostEvent::ReconcileNotFound => "reconcile_not_found",
            PostEvent::ReconcileUnknown => "reconcile_unknown",
            PostEvent::Retry { .. } => "retry",
        }
    }
}

/// An event that is not allowed in the post's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} post cannot {}", describe(*event))]
pub struct TransitionError {
    pub from: PostStatus,
    pub event: PostEvent,
}

fn describe(event: PostEvent) -> &'static str {
    match event {
        PostEvent::Schedule { .. } => "be scheduled",
        PostEvent::Edit { .. } => "be edited",
        PostEvent::Approve => "be approved",
        PostEvent::Reject => "be rejected",
        PostEvent::Unschedule => "be unscheduled",
        PostEvent::Cancel => "be cancelled",
        PostEvent::Claim => "be claimed for publishing",
        PostEvent::PublishSucceeded => "be marked published",
        PostEvent::RetryableFailure | PostEvent::PermanentFailure | PostEvent::OutcomeUnknown => {
            "record a publish outcome"
        }
        PostEvent::LeaseExpired { .. } => "lose a lease",
        PostEvent::ReconcileFound | PostEvent::ReconcileNotFound | PostEvent::ReconcileUnknown => {
            "be reconciled"
        }
        PostEvent::Retry { .. } => "be retried",
    }
}

/// The one place that says which status an event leads to.
pub fn transition(from: PostStatus, event: PostEvent) -> Result<PostStatus, TransitionError> {
    use PostEvent as E;
    use PostStatus as S;
    let to = match (from, event) {
        (
            S::Draft,
            E::Schedule {
                needs_approval: true,
            },
        ) => S::PendingApproval,
        (
            S::Draft,
            E::Schedule {
                needs_approval: false,
            },
        ) => S::Scheduled,
        // Rescheduling moves the time; on a company hub it asks for approval again.
        (
            S::Scheduled | S::PendingApproval,
            E::Schedule {
                needs_approval: true,
            },
        ) => S::PendingApproval,
        (
            S::Scheduled | S::PendingApproval,
            E::Schedule {
                needs_approval: false,
            },
        ) => S::Scheduled,

        (S::Draft, E::Edit { .. }) => S::Draft,
        (S::Failed, E::Edit { .. }) => S::Failed,
        (
            S::Scheduled | S::PendingApproval,
            E::Edit {
                needs_approval: true,
            },
        ) => S::PendingApproval,
        (
            S::Scheduled,
            E::Edit {
                needs_approval: false,
            },
        ) => S::Scheduled,

        (S::PendingApproval, E::Approve) => S::Scheduled,
        (S::PendingApproval, E::Reject) => S::Draft,
        (S::Scheduled | S::PendingApproval | S::Failed, E::Unschedule) => S::Draft,
        (S::Draft | S::Scheduled | S::PendingApproval | S::Failed, E::Cancel) => S::Cancelled,

        (S::Scheduled, E::Claim) => S::Publishing,
        (S::Publishing, E::PublishSucceeded) => S::Published,
        (S::Publishing, E::RetryableFailure) => S::Scheduled,
        (S::Publishing, E::PermanentFailure) => S::Failed,
        (S::Publishing, E::OutcomeUnknown) => S::NeedsReconcile,
        (
            S::Publishing,
            E::LeaseExpired {
                request_sent: false,
            },
        ) => S::Scheduled,
        (S::Publishing, E::LeaseExpired { request_sent: true }) => S::NeedsReconcile,

        (S::NeedsReconcile, E::ReconcileFound) => S::Published,
        (S::NeedsReconcile, E::ReconcileNotFound) => S::Scheduled,
        (S::NeedsReconcile, E::ReconcileUnknown) => S::Failed,
        // A person's retry of a post whose last request may have reached the platform
        // reconciles first. Retrying a post awaiting reconciliation asks the platform again,
        // unless the person checked the account and says the post is not there.
        (
            S::Failed,
            E::Retry {
                reconcile_first: false,
            },
        ) => S::Scheduled,
        (
            S::Failed,
            E::Retry {
                reconcile_first: true,
            },
        ) => S::NeedsReconcile,
        (
            S::NeedsReconcile,
            E::Retry {
                reconcile_first: true,
            },
        ) => S::NeedsReconcile,
        (
            S::NeedsReconcile,
            E::Retry {
                reconcile_first: false,
            },
        ) => S::Scheduled,
        _ => return Err(TransitionError { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: [PostEvent; 22] = [
        PostEvent::Schedule {
            needs_approval: false,
        },
        PostEvent::Schedule {
            needs_approval: true,
        },
        PostEvent::Edit {
            needs_approval: false,
        },
        PostEvent::Edit {
            needs_approval: true,
        },
        PostEvent::Approve,
        PostEvent::Reject,
        PostEvent::Unschedule,
        PostEvent::Cancel,
        PostEvent::Claim,
        PostEvent::PublishSucceeded,
        PostEvent::RetryableFailure,
        PostEvent::PermanentFailure,
        PostEvent::OutcomeUnknown,
        PostEvent::LeaseExpired {
            request_sent: false,
        },
        PostEvent::LeaseExpired { request_sent: true },
        PostEvent::ReconcileFound,
        PostEvent::ReconcileNotFound,
        PostEvent::ReconcileUnknown,
        PostEvent::Retry {
            reconcile_first: false,
        },
        PostEvent::Retry {
            reconcile_first: true,
        },
        PostEvent::Cancel,
        PostEvent::Claim,
    ];

    #[test]
    fn final_statuses_accept_no_event() {
        for from in [PostStatus::Published, PostStatus::Cancelled] {
            for event in EVENTS {
                assert!(
                    transition(from, event).is_err(),
                    "{from} accepted {event:?}"
                );
            }
        }
    }

    #[test]
    fn only_the_scheduler_moves_posts_out_of_publishing() {
        let person_events = [
            PostEvent::Schedule {
                needs_approval: false,
            },
            PostEvent::Edit {
                needs_approval: false,
            },
            PostEvent::Approve,
            PostEvent::Cancel,
            PostEvent::Unschedule,
            PostEvent::Retry {
                reconcile_first: false,
            },
        ];
        for event in person_events {
            assert!(
                transition(PostStatus::Publishing, event).is_err(),
                "{event:?}"
            );
        }
    }

    #[test]
    fn published_is_reached_only_by_a_platform_answer() {
        for from in PostStatus::ALL {
            for event in EVENTS {
                if transition(from, event) == Ok(PostStatus::Published) {
                    assert!(
                        matches!(
                            event,
                            PostEvent::PublishSucceeded | PostEvent::ReconcileFound
                        ),
                        "{from} --{event:?}--> published"
                    );
                }
            }
        }
    }

    #[test]
    fn a_post_whose_request_may_have_been_sent_is_never_rescheduled_blindly() {
        assert_eq!(
            transition(
                PostStatus::Publishing,
                PostEvent::LeaseExpired { request_sent: true }
            ),
            Ok(PostStatus::NeedsReconcile)
        );
        assert_eq!(
            transition(PostStatus::Publishing, PostEvent::OutcomeUnknown),
            Ok(PostStatus::NeedsReconcile)
        );
        assert!(transition(PostStatus::NeedsReconcile, PostEvent::Claim).is_err());
        assert_eq!(
            transition(
                PostStatus::NeedsReconcile,
                PostEvent::Retry {
                    reconcile_first: true
                }
            ),
            Ok(PostStatus::NeedsReconcile)
        );
        assert_eq!(
            transition(
                PostStatus::Failed,
                PostEvent::Retry {
                    reconcile_first: true
                }
            ),
            Ok(PostStatus::NeedsReconcile)
        );
    }

    #[test]
    fn the_lifecycle_in_design_md_holds() {
        let mut s = PostStatus::Draft;
        for (event, want) in [
            (
                PostEvent::Schedule {
                    needs_approval: true,
                },
                PostStatus::PendingApproval,
            ),
            (PostEvent::Approve, PostStatus::Scheduled),
            (
                PostEvent::Edit {
                    needs_approval: true,
                },
                PostStatus::PendingApproval,
            ),
            (PostEvent::Approve, PostStatus::Scheduled),
            (PostEvent::Claim, PostStatus::Publishing),
            (PostEvent::RetryableFailure, PostStatus::Scheduled),
            (PostEvent::Claim, PostStatus::Publishing),
            (PostEvent::OutcomeUnknown, PostStatus::NeedsReconcile),
            (PostEvent::ReconcileNotFound, PostStatus::Scheduled),
            (PostEvent::Claim, PostStatus::Publishing),
            (PostEvent::PublishSucceeded, PostStatus::Published),
        ] {
            s = transition(s, event).unwrap();
            assert_eq!(s, want, "{event:?}");
        }
    }

    #[test]
    fn errors_read_well() {
        let err = transition(PostStatus::Published, PostEvent::Cancel).unwrap_err();
        assert_eq!(err.to_string(), "a published post cannot be cancelled");
    }

    #[test]
    fn status_names_round_trip() {
        for s in PostStatus::ALL {
            assert_eq!(PostStatus::parse(s.as_str()), Some(s));
        }
    }
}
