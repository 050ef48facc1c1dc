//! The acceptance path: posts the scheduler publishes to the X and Bluesky fakes
//! show their metrics through fetch_metrics after collection, on both stores.

use std::sync::Arc;

use chrono::Duration;
use psn::app::Ctx;
use psn::app::metrics::{FetchMetricsInput, fetch_metrics};
use psn::domain::{PostStatus, now};
use psn::platforms::fake::bluesky::FakeBskyMetrics;
use psn::platforms::fake::x::FakeMetrics;
use psn::scheduler::{Context, Scheduler, VaultAccounts, cron};

use crate::both_stores;
use crate::metrics::{env, published};
use crate::support::db::TestStore;

both_stores!(posts_published_by_the_scheduler_show_metrics);

async fn posts_published_by_the_scheduler_show_metrics(t: &TestStore) {
    let e = env(t).await;
    let due = now() - Duration::seconds(1);
    let posts: Vec<_> = [&e.x_account, &e.b_account]
        .into_iter()
        .map(|account| {
            let mut p = published(account, "unused", 0);
            p.content.parts[0].text = format!("acceptance on {}", account.platform);
            p.platform_post_id = None;
            p.published_at = None;
            p.status = PostStatus::Scheduled;
            p.scheduled_at = Some(due);
            p.run_at = Some(due);
            p
        })
        .collect();
    t.store.insert_posts(&posts, "test").await.unwrap();
    let scheduler = Scheduler::new(
        Context {
            store: t.store.clone(),
            platforms: e.access.platforms.clone(),
            accounts: Arc::new(VaultAccounts::new(t.store.clone(), e.access.vault.clone())),
            settings: t.settings.scheduler.clone(),
            instance: "acceptance".into(),
        },
        cron::Registry::default(),
    );
    scheduler.run_once().await.unwrap();
    for p in &posts {
        let now_stored = t.store.get_post(&p.id).await.unwrap();
        assert_eq!(
            now_stored.status,
            PostStatus::Published,
            "{:?}",
            now_stored.last_error
        );
    }
    let tweet =
        e.x.posts()
            .into_iter()
            .find(|t| t.text == "acceptance on x")
            .unwrap();
    e.x.set_metrics(
        &tweet.id,
        FakeMetrics {
            impressions: 2000,
            likes: 40,
            replies: 6,
            retweets: 4,
            quotes: 1,
            bookmarks: 3,
            link_clicks: 12,
            ..FakeMetrics::default()
        },
    );
    let record = e
        .bsky
        .posts()
        .into_iter()
        .find(|r| r.text == "acceptance on bluesky")
        .unwrap();
    e.bsky.set_metrics(
        &record.uri,
        FakeBskyMetrics {
            likes: 25,
            reposts: 3,
            replies: 4,
            quotes: 2,
        },
    );

    let cx = Ctx::new(t.store.as_ref(), &t.settings, "test");
    let input = FetchMetricsInput {
        max_age_secs: Some(0),
        ..FetchMetricsInput::default()
    };
    let out = fetch_metrics(cx, &e.access, &input, &|_| {}).await.unwrap();
    assert_eq!(out.collected, 2, "{}", out.summary());
    let x = out
        .posts
        .iter()
        .find(|p| p.post_id == posts[0].id.as_str())
        .unwrap();
    let c = x.latest.as_ref().unwrap();
    assert_eq!(x.platform_post_id.as_deref(), Some(tweet.id.as_str()));
    assert_eq!(
        (
            c.impressions,
            c.likes,
            c.replies,
            c.reposts,
            c.quotes,
            c.bookmarks,
            c.link_clicks
        ),
        (
            Some(2000),
            Some(40),
            Some(6),
            Some(4),
            Some(1),
            Some(3),
            Some(12)
        )
    );
    assert!(x.score.unwrap() > 0.0);
    let b = out
        .posts
        .iter()
        .find(|p| p.post_id == posts[1].id.as_str())
        .unwrap();
    let c = b.latest.as_ref().unwrap();
    assert_eq!(b.platform_post_id.as_deref(), Some(record.uri.as_str()));
    assert_eq!(
        (c.likes, c.reposts, c.replies, c.quotes),
        (Some(25), Some(3), Some(4), Some(2))
    );
    assert_eq!(c.impressions, None);
}
