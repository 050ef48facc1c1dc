//! Scheduler behaviour on both stores, against a scripted platform: on-time publish,
//! back-off, missed window, 401 then refresh, permanent failure, unknown outcome then
//! reconcile (found / not found / cannot tell), lease expiry with and without a request
//! sent, fenced completion after a lost lease, cron dedup, wake-ups, shutdown.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use psn::config::SchedulerSettings;
use psn::domain::{
    GroupId, NewPost, Platform, Post, PostContent, PostEvent, PostPart, PostStatus, now,
};
use psn::platforms::registry::Registry;
use psn::platforms::{Found, PlatformError, Published};
use psn::scheduler::cron::{self, Job};
use psn::scheduler::{Context, Scheduler, Shutdown, new_publish_key};
use psn::store::Finish;

use crate::both_stores;
use crate::support::db::TestStore;
use crate::support::scripted::{Scripted, Step, TestAccounts};

both_stores!(
    publishes_a_due_post_once_and_records_its_history,
    leaves_future_posts_alone,
    retryable_failure_backs_off_then_publishes,
    rate_limit_waits_for_the_reset,
    gives_up_after_max_attempts,
    a_post_that_missed_its_window_fails_without_calling_the_platform,
    expired_token_is_refreshed_once_then_published,
    refresh_failure_asks_the_user_to_reconnect,
    permanent_rejection_fails_with_the_platforms_words,
    unknown_outcome_is_reconciled_found,
    unknown_outcome_is_reconciled_not_found_then_published,
    unknown_outcome_that_cannot_be_checked_fails_without_reposting,
    lease_expiry_before_sending_reschedules,
    lease_expiry_after_sending_needs_reconcile,
    a_lost_lease_cannot_finish_or_witness,
    a_post_without_credentials_fails_with_the_fix,
    an_unreadable_account_is_retried_not_failed,
    cron_ticks_run_once_across_instances,
    scheduling_wakes_a_sleeping_scheduler,
    shutdown_lets_in_flight_work_finish,
    a_hung_publish_after_sending_is_reconciled_never_reposted,
    a_hung_publish_before_sending_is_tried_again,
    an_idle_scheduler_sleeps_instead_of_spinning,
);

fn settings() -> SchedulerSettings {
    SchedulerSettings {
        enabled: true,
        batch_size: 16,
        lease: Duration::from_secs(30),
        max_attempts: 5,
        missed_window: Duration::from_secs(3600),
        fallback_poll: Duration::from_secs(3600),
        reconcile_delay: Duration::ZERO,
        shutdown_grace: Duration::from_secs(5),
        instance: None,
    }
}

fn scheduler_with(
    t: &TestStore,
    adapter: &Scripted,
    accounts: TestAccounts,
    s: SchedulerSettings,
    name: &str,
) -> Scheduler {
    let ctx = Context {
        store: t.store.clone(),
        platforms: Registry::new().with(Arc::new(adapter.clone())),
        accounts: Arc::new(accounts),
        settings: s,
        instance: name.into(),
    };
    Scheduler::new(ctx, cron::Registry::default())
}

fn scheduler(t: &TestStore, adapter: &Scripted) -> Scheduler {
    scheduler_with(t, adapter, TestAccounts::default(), settings(), "test-1")
}

/// A post scheduled (through the status machine) for `at`.
pub(crate) async fn scheduled_post(
    t: &TestStore,
    text: &str,
    at: DateTime<Utc>,
    max_attempts: i64,
) -> Post {
    let draft = NewPost {
        group_id: GroupId::new(),
        platform: Platform::X,
        account_id: None,
        content: PostContent {
            parts: vec![PostPart {
                text: text.into(),
                media: vec![],
            }],
        },
        max_attempts,
        created_by: "test".into(),
    }
    .into_post(now());
    t.store
        .insert_posts(std::slice::from_ref(&draft), "test")
        .await
        .unwrap();
    reschedule(t, &draft, at).await
}

async fn reschedule(t: &TestStore, post: &Post, at: DateTime<Utc>) -> Post {
    let event = PostEvent::Schedule {
        needs_approval: false,
    };
    let mut next = post.apply(event).unwrap();
    next.scheduled_at = Some(at);
    next.run_at = Some(at);
    next.schedule_tz = Some("UTC".into());
    t.store
        .update_post(post, &next, event, "test")
        .await
        .unwrap()
}

/// Makes a retried post due now, as if its back-off had passed.
async fn make_due(t: &TestStore, post: &Post) -> Post {
    let current = t.store.get_post(&post.id).await.unwrap();
    let event = PostEvent::Schedule {
        needs_approval: false,
    };
    let mut next = current.apply(event).unwrap();
    next.run_at = Some(now());
    t.store
        .update_post(&current, &next, event, "test")
        .await
        .unwrap()
}

/// Runs a scheduler in the background until the returned [`Shutdown`] fires.
fn start(
    s: Scheduler,
) -> (
    Shutdown,
    tokio::task::JoinHandle<anyhow::Result<psn::scheduler::Summary>>,
) {
    let (stop, rx) = Shutdown::new();
    (stop, tokio::spawn(async move { s.run(rx).await }))
}

/// Waits until the adapter has been asked to publish.
async fn first_publish_call(adapter: &Scripted) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while adapter.publish_calls() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the scheduler never called the platform");
}

/// The statuses of a post's publish attempts, oldest first.
pub(crate) async fn attempt_statuses(t: &TestStore, post: &Post) -> Vec<String> {
    let attempts = t.store.list_attempts(&post.id).await.unwrap();
    attempts.into_iter().map(|a| a.status).collect()
}

/// The actions in a post's audit history, oldest first.
async fn audit_actions(t: &TestStore, post: &Post) -> Vec<String> {
    let history = t.store.list_audit(post.id.as_str(), 20).await.unwrap();
    history.into_iter().map(|e| e.action).collect()
}

pub(crate) async fn get(t: &TestStore, post: &Post) -> Post {
    t.store.get_post(&post.id).await.unwrap()
}

async fn publishes_a_due_post_once_and_records_its_history(t: &TestStore) {
    let adapter = Scripted::new();
    let post = scheduled_post(t, "hello world", now(), 5).await;
    let summary = scheduler(t, &adapter).run_once().await.unwrap();
    assert_eq!(summary.claimed, 1);

    let done = get(t, &post).await;
    assert_eq!(done.status, PostStatus::Published);
    assert_eq!(
        done.platform_post_id.as_deref(),
        Some(format!("p-{}", post.id).as_str())
    );
    assert!(done.published_at.is_some() && done.locked_by.is_none() && done.lease_until.is_none());
    assert!(
        done.publish_key
            .as_deref()
            .is_some_and(|k| k.starts_with("psn-"))
    );
    assert_eq!(adapter.published()[post.id.as_str()], 1);

    let attempts = t.store.list_attempts(&post.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, "succeeded");
    assert!(attempts[0].request_sent_at.is_some() && attempts[0].finished_at.is_some());
    let actions = audit_actions(t, &post).await;
    assert_eq!(
        actions,
        ["create", "schedule", "claim", "publish_succeeded"]
    );

    // Running again publishes nothing more.
    assert_eq!(scheduler(t, &adapter).run_once().await.unwrap().claimed, 0);
    assert_eq!(adapter.publish_calls(), 1);
}

async fn leaves_future_posts_alone(t: &TestStore) {
    let adapter = Scripted::new();
    let post = scheduled_post(t, "later", now() + chrono::Duration::minutes(5), 5).await;
    assert_eq!(scheduler(t, &adapter).run_once().await.unwrap().claimed, 0);
    assert_eq!(get(t, &post).await.status, PostStatus::Scheduled);
    assert_eq!(adapter.publish_calls(), 0);
}

async fn retryable_failure_backs_off_then_publishes(t: &TestStore) {
    let adapter = Scripted::new();
    adapter.then(Step::FailEarly(PlatformError::Retryable {
        message: "connection refused".into(),
        retry_after: None,
    }));
    let post = scheduled_post(t, "flaky", now(), 5).await;
    let before = now();
    scheduler(t, &adapter).run_once().await.unwrap();
    let retried = get(t, &post).await;
    assert_eq!(retried.status, PostStatus::Scheduled);
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.last_error.as_deref(), Some("connection refused"));
    let wait = retried.run_at.unwrap() - before;
    assert!(
        wait >= chrono::Duration::milliseconds(7_500) && wait <= chrono::Duration::seconds(16),
        "{wait}"
    );
    let key = retried.publish_key.clone();

    make_due(t, &post).await;
    scheduler(t, &adapter).run_once().await.unwrap();
    let done = get(t, &post).await;
    assert_eq!(done.status, PostStatus::Published);
    assert_eq!(done.attempts, 2);
    assert_eq!(
        done.publish_key, key,
        "the publish key is kept across attempts"
    );
    let statuses = attempt_statuses(t, &post).await;
    assert_eq!(statuses, ["retryable", "succeeded"]);
}

async fn rate_limit_waits_for_the_reset(t: &TestStore) {
    let adapter = Scripted::new();
    let reset = now() + chrono::Duration::minutes(10);
    adapter.then(Step::FailEarly(PlatformError::RateLimited {
        until: reset,
        message: "Too Many Requests".into(),
    }));
    let post = scheduled_post(t, "busy", now(), 5).await;
    scheduler(t, &adapter).run_once().await.unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Scheduled);
    assert!(p.run_at.unwrap() >= reset, "{:?} < {reset}", p.run_at);
    assert!(p.last_error.unwrap().contains("rate limit"));
}

async fn gives_up_after_max_attempts(t: &TestStore) {
    let adapter = Scripted::new();
    adapter.then(Step::FailEarly(PlatformError::Retryable {
        message: "503 Service Unavailable".into(),
        retry_after: None,
    }));
    let post = scheduled_post(t, "doomed", now(), 1).await;
    scheduler(t, &adapter).run_once().await.unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Failed);
    assert_eq!(
        p.last_error.as_deref(),
        Some("gave up after 1 attempts: 503 Service Unavailable")
    );
}

async fn a_post_that_missed_its_window_fails_without_calling_the_platform(t: &TestStore) {
    let adapter = Scripted::new();
    let post = scheduled_post(t, "stale", now() - chrono::Duration::hours(2), 5).await;
    scheduler(t, &adapter).run_once().await.unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Failed);
    let why = p.last_error.unwrap();
    assert!(
        why.contains("missed its window") && why.contains("schedule_post"),
        "{why}"
    );
    assert_eq!(adapter.publish_calls(), 0);
}

async fn expired_token_is_refreshed_once_then_published(t: &TestStore) {
    let adapter = Scripted::new();
    adapter.then(Step::FailEarly(PlatformError::AuthExpired {
        message: "Unauthorized".into(),
    }));
    let accounts = TestAccounts::default();
    let post = scheduled_post(t, "auth", now(), 5).await;
    scheduler_with(t, &adapter, accounts.clone(), settings(), "test-1")
        .run_once()
        .await
        .unwrap();
    assert_eq!(get(t, &post).await.status, PostStatus::Published);
    assert_eq!(adapter.refresh_calls(), 1);
    assert_eq!(adapter.tokens_seen(), ["old-token", "fresh-token"]);
    assert_eq!(
        *accounts.saved.lock().unwrap(),
        ["fresh-token"],
        "the rotated credentials were stored"
    );
}

async fn refresh_failure_asks_the_user_to_reconnect(t: &TestStore) {
    let adapter = Scripted::new();
    adapter.then(Step::FailEarly(PlatformError::AuthExpired {
        message: "Unauthorized".into(),
    }));
    adapter.refresh_answers(Err(PlatformError::Permanent {
        message: "invalid_grant".into(),
    }));
    let accounts = TestAccounts::default();
    let post = scheduled_post(t, "auth", now(), 5).await;
    scheduler_with(t, &adapter, accounts.clone(), settings(), "test-1")
        .run_once()
        .await
        .unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Failed);
    assert!(p.last_error.unwrap().contains("psn connect x"));
    assert_eq!(accounts.reauth.lock().unwrap().len(), 1);
    assert_eq!(adapter.publish_calls(), 1);
}

async fn permanent_rejection_fails_with_the_platforms_words(t: &TestStore) {
    let adapter = Scripted::new();
    let words = "You are not allowed to create a Tweet with duplicate content.";
    adapter.then(Step::FailAfterSend(PlatformError::Permanent {
        message: words.into(),
    }));
    let post = scheduled_post(t, "dup", now(), 5).await;
    scheduler(t, &adapter).run_once().await.unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Failed);
    assert_eq!(
        p.last_error.unwrap(),
        format!("x refused the post: {words}")
    );
}

async fn unknown_then_reconciled(t: &TestStore, adapter: &Scripted) -> Post {
    adapter.then(Step::FailAfterSend(PlatformError::OutcomeUnknown {
        message: "timed out after sending".into(),
    }));
    let post = scheduled_post(t, "maybe", now(), 5).await;
    scheduler(t, adapter).run_once().await.unwrap();
    post
}

async fn unknown_outcome_is_reconciled_found(t: &TestStore) {
    let adapter = Scripted::new();
    let found = Published {
        platform_post_id: "1234".into(),
        url: Some("https://x.com/i/1234".into()),
        part_ids: vec!["1234".into()],
    };
    adapter.find_answers(Ok(Found::Yes(found)));
    let post = unknown_then_reconciled(t, &adapter).await;
    // The first run leaves it needing reconciliation; the next settles it.
    let p = get(t, &post).await;
    if p.status == PostStatus::NeedsReconcile {
        scheduler(t, &adapter).run_once().await.unwrap();
    }
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Published);
    assert_eq!(p.platform_post_id.as_deref(), Some("1234"));
    assert_eq!(adapter.publish_calls(), 1, "never re-posted");
    assert_eq!(adapter.find_calls(), 1);
}

async fn unknown_outcome_is_reconciled_not_found_then_published(t: &TestStore) {
    let adapter = Scripted::new();
    adapter.find_answers(Ok(Found::No));
    let post = unknown_then_reconciled(t, &adapter).await;
    for _ in 0..3 {
        if get(t, &post).await.status == PostStatus::Published {
            break;
        }
        scheduler(t, &adapter).run_once().await.unwrap();
    }
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Published);
    assert_eq!(
        adapter.publish_calls(),
        2,
        "published again only after the platform said it had nothing"
    );
    assert_eq!(adapter.published()[post.id.as_str()], 1);
    let actions = audit_actions(t, &post).await;
    assert!(
        actions.contains(&"outcome_unknown".to_string())
            && actions.contains(&"reconcile_not_found".to_string()),
        "{actions:?}"
    );
}

async fn unknown_outcome_that_cannot_be_checked_fails_without_reposting(t: &TestStore) {
    let adapter = Scripted::new();
    adapter.find_answers(Err(PlatformError::Permanent {
        message: "403 Forbidden".into(),
    }));
    let post = unknown_then_reconciled(t, &adapter).await;
    if get(t, &post).await.status == PostStatus::NeedsReconcile {
        scheduler(t, &adapter).run_once().await.unwrap();
    }
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Failed);
    assert!(p.last_error.unwrap().contains("look at the account"));
    assert_eq!(adapter.publish_calls(), 1);
}

pub(crate) async fn claim_one(t: &TestStore, instance: &str, lease: Duration) -> psn::store::Lease {
    let mut leases = t
        .store
        .claim_due(instance, now(), lease, 10, new_publish_key)
        .await
        .unwrap();
    assert_eq!(leases.len(), 1);
    leases.remove(0)
}

async fn lease_expiry_before_sending_reschedules(t: &TestStore) {
    let post = scheduled_post(t, "crashed early", now(), 5).await;
    let lease = claim_one(t, "dead-instance", Duration::from_millis(50)).await;
    assert_eq!(lease.post.status, PostStatus::Publishing);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let swept = t.store.sweep_expired("sweeper", now()).await.unwrap();
    assert_eq!(swept.len(), 1);
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Scheduled);
    assert!(p.locked_by.is_none());
    let attempts = t.store.list_attempts(&post.id).await.unwrap();
    assert_eq!(attempts[0].status, "lease_expired");
}

async fn lease_expiry_after_sending_needs_reconcile(t: &TestStore) {
    let post = scheduled_post(t, "crashed late", now(), 5).await;
    let lease = claim_one(t, "dead-instance", Duration::from_millis(300)).await;
    assert!(t.store.witness(&lease, now()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(350)).await;
    t.store.sweep_expired("sweeper", now()).await.unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::NeedsReconcile);
    assert!(p.last_error.unwrap().contains("after sending"));
}

async fn a_lost_lease_cannot_finish_or_witness(t: &TestStore) {
    let post = scheduled_post(t, "contested", now(), 5).await;
    let first = claim_one(t, "a", Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(
        !t.store.witness(&first, now()).await.unwrap(),
        "an expired lease witnesses nothing"
    );
    t.store.sweep_expired("b", now()).await.unwrap();
    let second = claim_one(t, "b", Duration::from_secs(30)).await;
    assert_eq!(second.post.attempts, 2);

    let done = Finish::Published {
        platform_post_id: "from-a".into(),
        url: None,
        at: now(),
    };
    assert!(
        t.store
            .finish(&first, &done, now())
            .await
            .unwrap()
            .is_none(),
        "fenced out"
    );
    assert!(!t.store.witness(&first, now()).await.unwrap());
    let p = get(t, &post).await;
    assert_eq!(
        (p.status, p.locked_by.as_deref()),
        (PostStatus::Publishing, Some("b"))
    );

    let ok = Finish::Published {
        platform_post_id: "from-b".into(),
        url: None,
        at: now(),
    };
    let finished = t.store.finish(&second, &ok, now()).await.unwrap().unwrap();
    assert_eq!(finished.platform_post_id.as_deref(), Some("from-b"));
    let statuses = attempt_statuses(t, &post).await;
    assert_eq!(statuses, ["lease_lost", "succeeded"]);
}

async fn a_post_without_credentials_fails_with_the_fix(t: &TestStore) {
    let adapter = Scripted::new();
    let accounts = TestAccounts {
        blocked: Some("no x account is connected: run `psn connect x`, then retry_post".into()),
        ..TestAccounts::default()
    };
    let post = scheduled_post(t, "nobody", now(), 5).await;
    scheduler_with(t, &adapter, accounts, settings(), "test-1")
        .run_once()
        .await
        .unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Failed);
    assert!(p.last_error.unwrap().contains("psn connect x"));
    assert_eq!(adapter.publish_calls(), 0);
}

async fn an_unreadable_account_is_retried_not_failed(t: &TestStore) {
    let adapter = Scripted::new();
    let accounts = TestAccounts {
        unavailable: Some("cannot read accounts: database is locked".into()),
        ..TestAccounts::default()
    };
    let post = scheduled_post(t, "database hiccup", now(), 5).await;
    scheduler_with(t, &adapter, accounts, settings(), "test-1")
        .run_once()
        .await
        .unwrap();
    let p = get(t, &post).await;
    assert_eq!(
        p.status,
        PostStatus::Scheduled,
        "a database hiccup is not the post's fault"
    );
    assert!(p.run_at.unwrap() > now(), "retried with back-off");
    assert!(p.last_error.unwrap().contains("could not read the account"));
    assert_eq!(adapter.publish_calls(), 0);
}

async fn cron_ticks_run_once_across_instances(t: &TestStore) {
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = runs.clone();
    let body: cron::JobBody = Arc::new(move |_ctx| {
        let counter = counter.clone();
        Box::pin(async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
    });
    let job = Job::new("every_minute", "* * * * *", chrono_tz::UTC, body).unwrap();
    let registry = cron::Registry::default().with(job);
    let at = now();
    let grace = Duration::from_secs(120);
    let (a, b, c) = tokio::join!(
        cron::run_due(&registry, &t.store, "a", at, grace),
        cron::run_due(&registry, &t.store, "b", at, grace),
        cron::run_due(&registry, &t.store, "c", at, grace),
    );
    assert_eq!(a + b + c, 1);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    let log = t.store.list_cron_runs("every_minute", 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, "succeeded");
    assert!(log[0].finished_at.is_some());
}

async fn scheduling_wakes_a_sleeping_scheduler(t: &TestStore) {
    let adapter = Scripted::new();
    // The fallback poll is an hour: only a wake-up can make this publish in time.
    let (stop, runner) = start(scheduler(t, &adapter));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let post = scheduled_post(t, "wake up", now(), 5).await;
    let published = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if get(t, &post).await.status == PostStatus::Published {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    stop.trigger();
    runner.await.unwrap().unwrap();
    assert!(
        published.is_ok(),
        "the scheduler did not wake up for a newly scheduled post"
    );
    let instances = t.store.list_instances().await.unwrap();
    assert!(
        instances.iter().any(|i| i.instance == "test-1"),
        "heartbeat recorded"
    );
}

async fn shutdown_lets_in_flight_work_finish(t: &TestStore) {
    let adapter = Scripted::new();
    adapter.then(Step::SlowSucceed(Duration::from_millis(700)));
    let post = scheduled_post(t, "slow", now(), 5).await;
    let (stop, runner) = start(scheduler(t, &adapter));
    // Wait until the publish is under way, then ask to stop.
    first_publish_call(&adapter).await;
    stop.trigger();
    runner.await.unwrap().unwrap();
    assert_eq!(
        get(t, &post).await.status,
        PostStatus::Published,
        "in-flight publish finished within the grace period"
    );
}

/// Runs a scheduler whose publish hangs, stops it after the grace period, and lets the
/// lease run out, as after a crash.
async fn hang_and_abandon(t: &TestStore, step: Step) -> (Post, Scripted) {
    let adapter = Scripted::new();
    adapter.then(step);
    let post = scheduled_post(t, "hangs", now(), 5).await;
    let s = SchedulerSettings {
        lease: Duration::from_millis(400),
        shutdown_grace: Duration::from_millis(100),
        ..settings()
    };
    let (stop, runner) = start(scheduler_with(
        t,
        &adapter,
        TestAccounts::default(),
        s,
        "doomed",
    ));
    first_publish_call(&adapter).await;
    stop.trigger();
    runner.await.unwrap().unwrap();
    assert_eq!(
        get(t, &post).await.status,
        PostStatus::Publishing,
        "abandoned work keeps its lease"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    (post, adapter)
}

async fn a_hung_publish_after_sending_is_reconciled_never_reposted(t: &TestStore) {
    let (post, _) = hang_and_abandon(t, Step::HangAfterSend).await;
    let adapter = Scripted::new();
    let found = Published {
        platform_post_id: "999".into(),
        url: None,
        part_ids: vec!["999".into()],
    };
    adapter.find_answers(Ok(Found::Yes(found)));
    let summary = scheduler(t, &adapter).run_once().await.unwrap();
    assert_eq!(summary.swept, 1);
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Published);
    assert_eq!(p.platform_post_id.as_deref(), Some("999"));
    assert_eq!(
        adapter.publish_calls(),
        0,
        "a post that may have gone out is never sent again blindly"
    );
}

async fn a_hung_publish_before_sending_is_tried_again(t: &TestStore) {
    let (post, _) = hang_and_abandon(t, Step::HangBeforeSend).await;
    let adapter = Scripted::new();
    scheduler(t, &adapter).run_once().await.unwrap();
    let p = get(t, &post).await;
    assert_eq!(p.status, PostStatus::Published);
    assert_eq!(p.attempts, 2);
    assert_eq!(
        adapter.find_calls(),
        0,
        "nothing was sent, so there is nothing to reconcile"
    );
}

async fn an_idle_scheduler_sleeps_instead_of_spinning(t: &TestStore) {
    // Things that will need it later, but not now: a future post, and a post awaiting
    // reconciliation that must settle first.
    scheduled_post(t, "tomorrow", now() + chrono::Duration::days(1), 5).await;
    let adapter = Scripted::new();
    adapter.then(Step::FailAfterSend(PlatformError::OutcomeUnknown {
        message: "timed out".into(),
    }));
    scheduled_post(t, "unknown", now(), 5).await;
    let s = SchedulerSettings {
        reconcile_delay: Duration::from_secs(60),
        ..settings()
    };
    let (stop, runner) = start(scheduler_with(
        t,
        &adapter,
        TestAccounts::default(),
        s,
        "idle",
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.trigger();
    let summary = runner.await.unwrap().unwrap();
    assert_eq!(summary.claimed, 1);
    assert_eq!(
        summary.reconciled, 0,
        "reconciliation waits for the settle delay"
    );
    // A spinning loop (its shortest sleep is 5 ms) would take ~300 turns here. The bound
    // leaves room for wake-ups from other tests: on Postgres they share one database, so
    // their NOTIFYs reach this scheduler too.
    assert!(
        summary.turns <= 20,
        "the loop spun {} times in 1.5 s while nothing was due",
        summary.turns
    );
}
