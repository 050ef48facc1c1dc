//! The store's batched witness and finish, which the scheduler's group commit uses: one
//! transaction for many leases, each still fenced on its own, and a finish repeated after
//! an unclear commit changes nothing.

use std::time::Duration;

use psn::domain::{PostStatus, now};
use psn::store::Finish;

use crate::both_stores;
use crate::scheduler::{attempt_statuses, claim_one, get, scheduled_post};
use crate::support::db::TestStore;

both_stores!(
    a_batch_of_witnesses_refuses_only_the_lost_lease,
    a_batch_of_finishes_is_fenced_row_by_row,
    a_repeated_finish_changes_nothing,
);

fn published(id: &str) -> Finish {
    Finish::Published {
        platform_post_id: id.into(),
        url: None,
        at: now(),
    }
}

async fn a_batch_of_witnesses_refuses_only_the_lost_lease(t: &TestStore) {
    let first = scheduled_post(t, "first", now(), 5).await;
    let held_first = claim_one(t, "a", Duration::from_secs(30)).await;
    let lost = scheduled_post(t, "lost", now(), 5).await;
    let expired = claim_one(t, "a", Duration::from_millis(50)).await;
    let second = scheduled_post(t, "second", now(), 5).await;
    let held_second = claim_one(t, "a", Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(80)).await;

    let held = t
        .store
        .witness_many(&[held_first, expired, held_second], now())
        .await
        .unwrap();
    assert_eq!(held, [true, false, true]);
    for (post, sent) in [(&first, true), (&lost, false), (&second, true)] {
        let attempts = t.store.list_attempts(&post.id).await.unwrap();
        assert_eq!(
            attempts[0].request_sent_at.is_some(),
            sent,
            "{}",
            post.content.parts[0].text
        );
    }
    assert!(t.store.witness_many(&[], now()).await.unwrap().is_empty());
}

async fn a_batch_of_finishes_is_fenced_row_by_row(t: &TestStore) {
    let kept = scheduled_post(t, "kept", now(), 5).await;
    let kept_lease = claim_one(t, "a", Duration::from_secs(30)).await;
    let lost = scheduled_post(t, "lost", now(), 5).await;
    let lost_lease = claim_one(t, "a", Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let swept = t.store.sweep_expired("b", now()).await.unwrap();
    assert_eq!(swept.len(), 1);

    let stored = t
        .store
        .finish_many(
            &[
                (kept_lease, published("x-kept")),
                (lost_lease, published("x-lost")),
            ],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0].as_ref().map(|p| p.status),
        Some(PostStatus::Published)
    );
    assert!(stored[1].is_none(), "the lost lease is fenced out");
    assert_eq!(
        get(t, &kept).await.platform_post_id.as_deref(),
        Some("x-kept")
    );
    let lost_now = get(t, &lost).await;
    assert_eq!(
        (lost_now.status, lost_now.platform_post_id),
        (PostStatus::Scheduled, None)
    );
    // The late holder's answer is kept on its attempt, for whoever looks into it.
    let attempts = t.store.list_attempts(&lost.id).await.unwrap();
    assert_eq!(attempts[0].status, "lease_lost");
    assert_eq!(attempts[0].platform_post_id.as_deref(), Some("x-lost"));
}

async fn a_repeated_finish_changes_nothing(t: &TestStore) {
    let post = scheduled_post(t, "once", now(), 5).await;
    let lease = claim_one(t, "a", Duration::from_secs(30)).await;
    let done = [(lease.clone(), published("x-1"))];
    assert!(t.store.finish_many(&done, now()).await.unwrap()[0].is_some());
    let again = [(lease, published("x-2"))];
    assert_eq!(t.store.finish_many(&again, now()).await.unwrap(), [None]);
    let p = get(t, &post).await;
    assert_eq!(
        (p.status, p.platform_post_id.as_deref()),
        (PostStatus::Published, Some("x-1"))
    );
    assert_eq!(attempt_statuses(t, &post).await, ["succeeded"]);
    let attempts = t.store.list_attempts(&post.id).await.unwrap();
    assert_eq!(attempts[0].platform_post_id.as_deref(), Some("x-1"));
}
