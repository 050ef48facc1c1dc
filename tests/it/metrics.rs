//! fetch_metrics against the fake X and Bluesky servers, on both stores: collection in
//! batches, rate limits, partial answers, freshness, change, outliers and progress.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use psn::app::Ctx;
use psn::app::access::Access;
use psn::app::metrics::{FetchMetricsInput, FetchMetricsOutput, Progress, fetch_metrics};
use psn::config::Secret;
use psn::domain::score::{Counts, engagement_score};
use psn::domain::{
    Account, AccountId, AccountStatus, GroupId, NewPost, Platform, Post, PostContent, PostPart,
    PostStatus, now,
};
use psn::platforms::bluesky::BlueskyClient;
use psn::platforms::fake::bluesky::{FakeAccount, FakeBskyMetrics};
use psn::platforms::fake::x::{FakeMetrics, FakeUser};
use psn::platforms::fake::{Endpoint, FakeBluesky, FakeX, Fault};
use psn::platforms::registry::Registry;
use psn::platforms::x::XClient;
use psn::platforms::{Credentials, http};
use psn::store::Finish;
use psn::vault::Vault;

use crate::both_stores;
use crate::support::db::TestStore;

both_stores!(
    collects_across_batches_and_reports_progress,
    fresh_snapshots_are_reused_and_change_is_reported,
    a_rate_limit_keeps_what_came_back_and_names_the_reset,
    a_partial_answer_stores_the_rest_and_names_the_missing,
    outliers_are_flagged_in_result_and_store,
    posts_without_a_usable_account_say_how_to_fix_it,
    an_expired_token_is_refreshed_once_and_stored,
);

/// Fakes, connected accounts in the store, and the access to read them.
pub struct Env {
    pub x: FakeX,
    pub bsky: FakeBluesky,
    pub x_user: FakeUser,
    pub b_user: FakeAccount,
    pub x_account: Account,
    pub b_account: Account,
    pub access: Access,
    /// The vault key, for a `psn` child process (`PSN_ENCRYPTION_KEY`).
    pub key: Secret,
    /// The X credentials sealed into `x_account`.
    pub x_creds: Credentials,
}

fn account(platform: Platform, handle: &str, user_id: &str) -> Account {
    Account {
        id: AccountId::new(),
        platform,
        handle: handle.into(),
        display_name: None,
        platform_user_id: Some(user_id.into()),
        server_url: None,
        credentials: None,
        token_expires_at: None,
        scopes: None,
        status: AccountStatus::Active,
        last_error: None,
        created_at: now(),
        updated_at: now(),
    }
}

pub async fn env(t: &TestStore) -> Env {
    let x = FakeX::start().await.unwrap();
    let bsky = FakeBluesky::start().await.unwrap();
    let x_user = x.add_user("psn_metrics");
    let b_user = bsky.add_account("psn.metrics.test");
    let (vault, key) = Vault::generate();
    let mut x_account = account(Platform::X, &x_user.username, &x_user.id);
    let x_creds = x.credentials(&x_user);
    x_account.credentials = Some(vault.seal_credentials(&x_account.id, Platform::X, &x_creds));
    let mut b_account = account(Platform::Bluesky, &b_user.handle, &b_user.did);
    b_account.server_url = Some(bsky.base_url().to_owned());
    b_account.credentials =
        Some(vault.seal_credentials(&b_account.id, Platform::Bluesky, &bsky.credentials(&b_user)));
    let x_account = t.store.upsert_account(&x_account).await.unwrap();
    let b_account = t.store.upsert_account(&b_account).await.unwrap();
    let http = http::build_client(StdDuration::from_secs(5), StdDuration::from_secs(5));
    let platforms = Registry::new()
        .with(Arc::new(XClient::new(
            x.base_url(),
            Some(psn::platforms::fake::x::CLIENT_ID.to_owned()),
            None,
            http.clone(),
        )))
        .with(Arc::new(BlueskyClient::new(bsky.base_url(), http)));
    Env {
        x,
        bsky,
        x_user,
        b_user,
        x_account,
        b_account,
        access: Access::new(platforms, Some(Arc::new(vault))),
        key,
        x_creds,
    }
}

/// A draft for `account`, ready for [`publish_all`].
pub fn published(account: &Account, platform_post_id: &str, minutes_ago: i64) -> Post {
    let mut p = NewPost {
        group_id: GroupId::new(),
        platform: account.platform,
        account_id: Some(account.id.clone()),
        content: PostContent {
            parts: vec![PostPart {
                text: format!("post {platform_post_id}"),
                media: vec![],
            }],
        },
        max_attempts: 5,
        created_by: "test".into(),
    }
    .into_post(now());
    // Carried to `publish_all`, which publishes it the way the scheduler does.
    p.platform_post_id = Some(platform_post_id.into());
    p.published_at = Some(now() - Duration::minutes(minutes_ago));
    p
}

/// Stores the posts and takes them through the scheduler's claim and fenced finish,
/// so they end `published` with their platform ids and times.
pub async fn publish_all(t: &TestStore, posts: &[Post]) {
    let due = now() - Duration::seconds(1);
    let rows: Vec<Post> = posts
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.platform_post_id = None;
            p.published_at = None;
            p.status = PostStatus::Scheduled;
            p.scheduled_at = Some(due);
            p.run_at = Some(due);
            p
        })
        .collect();
    t.store.insert_posts(&rows, "test").await.unwrap();
    let leases = t
        .store
        .claim_due("test", now(), StdDuration::from_secs(60), 1000, |_| {
            "k".into()
        })
        .await
        .unwrap();
    assert_eq!(leases.len(), posts.len());
    for lease in leases {
        let want = posts.iter().find(|p| p.id == lease.post.id).unwrap();
        let finish = Finish::Published {
            platform_post_id: want.platform_post_id.clone().unwrap(),
            url: None,
            at: want.published_at.unwrap(),
        };
        assert!(
            t.store
                .finish(&lease, &finish, now())
                .await
                .unwrap()
                .is_some()
        );
    }
}

impl Env {
    /// `n` posts on the fake X with growing like counts, stored as published.
    async fn x_posts(&self, t: &TestStore, n: usize) -> Vec<Post> {
        let mut posts = Vec::new();
        for i in 0..n {
            let id = self
                .x
                .seed_post(&self.x_user, &format!("x {i}"), now() - Duration::hours(2));
            self.x.set_metrics(
                &id,
                FakeMetrics {
                    impressions: 1000,
                    likes: i as u64,
                    replies: 1,
                    ..FakeMetrics::default()
                },
            );
            posts.push(published(&self.x_account, &id, (n - i) as i64));
        }
        publish_all(t, &posts).await;
        posts
    }

    async fn b_posts(&self, t: &TestStore, n: usize) -> Vec<Post> {
        let mut posts = Vec::new();
        for i in 0..n {
            let uri =
                self.bsky
                    .seed_post(&self.b_user, &format!("b {i}"), now() - Duration::hours(1));
            self.bsky.set_metrics(
                &uri,
                FakeBskyMetrics {
                    likes: 2 * i as u64,
                    reposts: 1,
                    replies: 0,
                    quotes: 0,
                },
            );
            posts.push(published(&self.b_account, &uri, (n - i) as i64));
        }
        publish_all(t, &posts).await;
        posts
    }
}

fn input(max_age: u64) -> FetchMetricsInput {
    FetchMetricsInput {
        max_age_secs: Some(max_age),
        limit: Some(1000),
        ..FetchMetricsInput::default()
    }
}

async fn fetch(t: &TestStore, e: &Env, input: &FetchMetricsInput) -> FetchMetricsOutput {
    let cx = Ctx::new(t.store.as_ref(), &t.settings, "test");
    fetch_metrics(cx, &e.access, input, &|_| {}).await.unwrap()
}

async fn collects_across_batches_and_reports_progress(t: &TestStore) {
    let e = env(t).await;
    let xs = e.x_posts(t, 130).await; // two X requests: 100 + 30
    let bs = e.b_posts(t, 30).await; // two Bluesky requests: 25 + 5
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    let cx = Ctx::new(t.store.as_ref(), &t.settings, "test");
    let out = fetch_metrics(cx, &e.access, &input(0), &move |p| {
        sink.lock().unwrap().push(p)
    })
    .await
    .unwrap();
    assert_eq!(out.collected, 160, "{}", out.summary());
    assert!(out.not_collected.is_empty(), "{:?}", out.not_collected);
    assert_eq!(out.posts.len(), 160);
    // Progress: a start, then one report per batch, ending at the total.
    let progress = seen.lock().unwrap().clone();
    assert_eq!(progress.len(), 5, "{progress:?}");
    assert_eq!(progress.last().map(|p| (p.done, p.total)), Some((160, 160)));
    assert!(progress.windows(2).all(|w| w[0].done <= w[1].done));

    let x7 = out
        .posts
        .iter()
        .find(|p| p.post_id == xs[7].id.as_str())
        .unwrap();
    let latest = x7.latest.as_ref().unwrap();
    assert_eq!(
        (latest.impressions, latest.likes, latest.replies),
        (Some(1000), Some(7), Some(1))
    );
    let expected = engagement_score(&Counts {
        impressions: Some(1000),
        likes: Some(7),
        replies: Some(1),
        reposts: Some(0),
        quotes: Some(0),
        bookmarks: Some(0),
        link_clicks: Some(0),
    });
    assert_eq!(x7.score, Some(expected));
    assert_eq!(latest.raw["platform"], "x");
    let stored = t.store.get_post(&xs[7].id).await.unwrap();
    assert_eq!(stored.engagement_score, Some(expected));

    let b3 = out
        .posts
        .iter()
        .find(|p| p.post_id == bs[3].id.as_str())
        .unwrap();
    let latest = b3.latest.as_ref().unwrap();
    assert_eq!(latest.impressions, None, "Bluesky reports no views");
    assert_eq!((latest.likes, latest.reposts), (Some(6), Some(1)));
    assert_eq!(
        b3.score,
        Some(engagement_score(&Counts {
            likes: Some(6),
            reposts: Some(1),
            replies: Some(0),
            quotes: Some(0),
            ..Counts::default()
        }))
    );
    assert_eq!(
        t.store.recent_snapshots(&bs[3].id, 10).await.unwrap().len(),
        1
    );
}

async fn fresh_snapshots_are_reused_and_change_is_reported(t: &TestStore) {
    let e = env(t).await;
    let xs = e.x_posts(t, 2).await;
    let first = fetch(t, &e, &input(3600)).await;
    assert_eq!((first.collected, first.fresh), (2, 0));
    assert!(first.posts.iter().all(|p| p.change.is_none()));
    let calls = e.x.calls();
    let again = fetch(t, &e, &input(3600)).await;
    assert_eq!((again.collected, again.fresh), (0, 2));
    assert_eq!(e.x.calls(), calls, "fresh numbers are not asked for again");
    let id = xs[1].platform_post_id.clone().unwrap();
    e.x.set_metrics(
        &id,
        FakeMetrics {
            impressions: 1500,
            likes: 11,
            replies: 1,
            ..FakeMetrics::default()
        },
    );
    let one = FetchMetricsInput {
        post: Some(xs[1].id.to_string()),
        ..input(0)
    };
    let later = fetch(t, &e, &one).await;
    assert_eq!(later.posts.len(), 1);
    let change = later.posts[0].change.as_ref().expect("a change");
    assert_eq!(
        (change.impressions, change.likes, change.replies),
        (Some(500), Some(10), Some(0))
    );
    assert!(later.posts[0].collected_now);
}

async fn a_rate_limit_keeps_what_came_back_and_names_the_reset(t: &TestStore) {
    let e = env(t).await;
    let xs = e.x_posts(t, 130).await;
    e.x.inject_after(
        Endpoint::Metrics,
        1,
        Fault::rate_limited(StdDuration::from_secs(600)),
        5,
    );
    let out = fetch(t, &e, &input(0)).await;
    assert_eq!(
        out.collected,
        100,
        "the first batch is stored: {}",
        out.summary()
    );
    assert_eq!(out.not_collected.len(), 30);
    let miss = &out.not_collected[0];
    assert!(miss.reason.contains("rate limit"), "{}", miss.reason);
    let retry = miss.retry_at.expect("the reset time");
    assert!(retry > now() + Duration::minutes(8), "{retry}");
    assert!(t.store.recent_snapshots(&xs[0].id, 1).await.unwrap().len() == 1);
    assert!(
        t.store
            .recent_snapshots(&xs[129].id, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(out.summary().contains("not collected"));
}

async fn a_partial_answer_stores_the_rest_and_names_the_missing(t: &TestStore) {
    let e = env(t).await;
    let xs = e.x_posts(t, 3).await;
    let bs = e.b_posts(t, 2).await;
    let failing_x = xs[1].platform_post_id.clone().unwrap();
    let failing_b = bs[0].platform_post_id.clone().unwrap();
    e.x.inject(
        Endpoint::Metrics,
        Fault::PartialMetrics {
            failing_ids: vec![failing_x],
        },
        1,
    );
    e.bsky.inject(
        Endpoint::Metrics,
        Fault::PartialMetrics {
            failing_ids: vec![failing_b],
        },
        1,
    );
    let out = fetch(t, &e, &input(0)).await;
    assert_eq!(out.collected, 3, "{}", out.summary());
    let mut missing: Vec<&str> = out
        .not_collected
        .iter()
        .map(|n| n.post_id.as_str())
        .collect();
    missing.sort_unstable();
    let mut expected = vec![xs[1].id.as_str(), bs[0].id.as_str()];
    expected.sort_unstable();
    assert_eq!(missing, expected);
    for n in &out.not_collected {
        assert!(n.retry_at.is_none());
        assert!(!n.reason.is_empty());
    }
    assert!(
        t.store
            .recent_snapshots(&xs[1].id, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.store.recent_snapshots(&xs[2].id, 1).await.unwrap().len(),
        1
    );
}

async fn outliers_are_flagged_in_result_and_store(t: &TestStore) {
    let e = env(t).await;
    let xs = e.x_posts(t, 4).await; // likes 0..3 at 1,000 views: scores of a few points
    let star = xs[0].platform_post_id.clone().unwrap();
    e.x.set_metrics(
        &star,
        FakeMetrics {
            impressions: 1000,
            likes: 80,
            replies: 10,
            retweets: 5,
            ..FakeMetrics::default()
        },
    );
    let out = fetch(t, &e, &input(0)).await;
    assert_eq!(
        out.outliers,
        vec![xs[0].id.to_string()],
        "{}",
        out.summary()
    );
    let flagged: Vec<bool> = out.posts.iter().map(|p| p.is_outlier).collect();
    assert_eq!(flagged.iter().filter(|f| **f).count(), 1);
    assert!(t.store.get_post(&xs[0].id).await.unwrap().is_outlier);
    assert!(!t.store.get_post(&xs[1].id).await.unwrap().is_outlier);
    assert!(out.summary().contains("OUTLIER"));
}

async fn posts_without_a_usable_account_say_how_to_fix_it(t: &TestStore) {
    let e = env(t).await;
    let xs = e.x_posts(t, 1).await;
    let mut broken = e.x_account.clone();
    broken.status = AccountStatus::NeedsReauth;
    t.store.upsert_account(&broken).await.unwrap();
    let out = fetch(t, &e, &input(0)).await;
    assert_eq!(out.collected, 0);
    assert_eq!(out.not_collected.len(), 1);
    assert_eq!(out.not_collected[0].post_id, xs[0].id.to_string());
    assert!(
        out.not_collected[0].reason.contains("psn connect x"),
        "{}",
        out.not_collected[0].reason
    );
    // A post that is not published is refused with the reason.
    let cx = Ctx::new(t.store.as_ref(), &t.settings, "test");
    let draft = published(&e.x_account, "1", 0);
    t.store
        .insert_posts(std::slice::from_ref(&draft), "test")
        .await
        .unwrap();
    let err = fetch_metrics(
        cx,
        &e.access,
        &FetchMetricsInput {
            post: Some(draft.id.to_string()),
            ..input(0)
        },
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("only for published posts"),
        "{err}"
    );
}

async fn an_expired_token_is_refreshed_once_and_stored(t: &TestStore) {
    let e = env(t).await;
    let xs = e.x_posts(t, 3).await;
    e.x.expire_access_token(e.x_creds.access_token.expose());
    let out = fetch(t, &e, &input(0)).await;
    assert_eq!(out.collected, 3, "{}", out.summary());
    let stored = t.store.get_account(&e.x_account.id).await.unwrap();
    let vault = e.access.vault.as_ref().unwrap();
    let now_sealed = vault.open_account(&stored).unwrap();
    assert_ne!(
        now_sealed.access_token.expose(),
        e.x_creds.access_token.expose(),
        "the refreshed tokens are stored"
    );
    // A refresh token that no longer works stops the account with the fix.
    e.x.expire_access_token(now_sealed.access_token.expose());
    e.x.inject(Endpoint::Refresh, Fault::reject("invalid_grant"), 5);
    let out = fetch(t, &e, &input(0)).await;
    assert_eq!(out.collected, 0);
    assert_eq!(out.not_collected.len(), xs.len());
    assert!(
        out.not_collected[0].reason.contains("psn connect x"),
        "{}",
        out.not_collected[0].reason
    );
}
