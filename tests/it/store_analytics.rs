//! AnalyticsStore conformance: snapshots, published-post windows, scores and outlier
//! flags, trailing averages and opportunities, the same on SQLite and Postgres.

use chrono::Duration;
use psn::domain::{AccountId, Platform, PostId, now};
use psn::store::{PublishedFilter, Snapshot, StoreError, StoredOpportunity};

use crate::both_stores;
use crate::metrics::{env, publish_all, published};
use crate::support::db::TestStore;

both_stores!(
    snapshots_round_trip_newest_first,
    published_posts_filter_by_window_account_group_and_post,
    scores_and_trailing_averages,
    opportunities_upsert_keep_the_first_id_and_count_by_day,
);

fn snapshot(post: &PostId, minutes_ago: i64, likes: i64) -> Snapshot {
    Snapshot {
        post_id: post.clone(),
        collected_at: now() - Duration::minutes(minutes_ago),
        impressions: None,
        likes: Some(likes),
        replies: Some(0),
        reposts: None,
        quotes: None,
        bookmarks: None,
        link_clicks: Some(i64::MAX),
        score: likes as f64 / 2.0,
        raw: serde_json::json!({ "likes": likes, "ünï": "cödé" }),
    }
}

async fn snapshots_round_trip_newest_first(t: &TestStore) {
    let e = env(t).await;
    let p = published(&e.x_account, "1", 5);
    publish_all(t, std::slice::from_ref(&p)).await;
    let old = snapshot(&p.id, 60, 1);
    let new = snapshot(&p.id, 1, 9);
    t.store.insert_snapshot(&old).await.unwrap();
    t.store.insert_snapshot(&new).await.unwrap();
    assert_eq!(
        t.store.recent_snapshots(&p.id, 2).await.unwrap(),
        vec![new.clone(), old.clone()]
    );
    assert_eq!(
        t.store.recent_snapshots(&p.id, 1).await.unwrap(),
        vec![new.clone()]
    );
    assert_eq!(
        t.store.snapshot_history(&p.id, None).await.unwrap(),
        vec![old.clone(), new.clone()]
    );
    let since = now() - Duration::minutes(30);
    assert_eq!(
        t.store.snapshot_history(&p.id, Some(since)).await.unwrap(),
        vec![new]
    );
    assert!(
        t.store
            .recent_snapshots(&PostId::new(), 5)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn published_posts_filter_by_window_account_group_and_post(t: &TestStore) {
    let e = env(t).await;
    let a = published(&e.x_account, "a", 60 * 24 * 40); // 40 days ago
    let b = published(&e.x_account, "b", 60);
    let c = published(&e.b_account, "at://c", 30);
    publish_all(t, &[a.clone(), b.clone(), c.clone()]).await;
    let ids = |posts: Vec<psn::domain::Post>| posts.into_iter().map(|p| p.id).collect::<Vec<_>>();
    let all = PublishedFilter {
        limit: 10,
        ..PublishedFilter::default()
    };
    assert_eq!(
        ids(t.store.published_posts(&all).await.unwrap()),
        vec![a.id.clone(), b.id.clone(), c.id.clone()]
    );
    let recent = PublishedFilter {
        since: Some(now() - Duration::days(30)),
        ..all.clone()
    };
    assert_eq!(
        ids(t.store.published_posts(&recent).await.unwrap()),
        vec![b.id.clone(), c.id.clone()]
    );
    let x_only = PublishedFilter {
        account: Some(e.x_account.id.clone()),
        ..recent.clone()
    };
    assert_eq!(
        ids(t.store.published_posts(&x_only).await.unwrap()),
        vec![b.id.clone()]
    );
    let group = PublishedFilter {
        group: Some(c.group_id.clone()),
        ..all.clone()
    };
    assert_eq!(
        ids(t.store.published_posts(&group).await.unwrap()),
        vec![c.id.clone()]
    );
    let one = PublishedFilter {
        post: Some(a.id.clone()),
        platform: Some(Platform::X),
        ..all.clone()
    };
    assert_eq!(
        ids(t.store.published_posts(&one).await.unwrap()),
        vec![a.id.clone()]
    );
    let limited = PublishedFilter { limit: 1, ..all };
    assert_eq!(t.store.published_posts(&limited).await.unwrap().len(), 1);
}

async fn scores_and_trailing_averages(t: &TestStore) {
    let e = env(t).await;
    let posts: Vec<_> = (0..4)
        .map(|i| published(&e.x_account, &format!("p{i}"), 10 + i))
        .collect();
    publish_all(t, &posts).await;
    let since = now() - Duration::days(30);
    let (avg, n) = t
        .store
        .trailing_average(Platform::X, Some(&e.x_account.id), since, &posts[0].id)
        .await
        .unwrap();
    assert_eq!((avg, n), (None, 0), "no scores yet");
    for (p, s) in posts.iter().zip([50.0, 10.0, 20.0, 30.0]) {
        t.store.set_post_score(&p.id, s, false).await.unwrap();
    }
    let before = t.store.get_post(&posts[0].id).await.unwrap();
    t.store
        .set_post_score(&posts[0].id, 50.0, true)
        .await
        .unwrap();
    let after = t.store.get_post(&posts[0].id).await.unwrap();
    assert_eq!(
        (after.engagement_score, after.is_outlier),
        (Some(50.0), true)
    );
    assert_eq!(
        after.version,
        before.version + 1,
        "a score write is a change"
    );
    let (avg, n) = t
        .store
        .trailing_average(Platform::X, Some(&e.x_account.id), since, &posts[0].id)
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert!((avg.unwrap() - 20.0).abs() < 1e-9, "{avg:?}");
    let other = t
        .store
        .trailing_average(Platform::X, Some(&AccountId::new()), since, &posts[0].id)
        .await
        .unwrap();
    assert_eq!(other, (None, 0));
    let none = t
        .store
        .trailing_average(Platform::X, None, since, &posts[0].id)
        .await
        .unwrap();
    assert_eq!(
        none.1, 0,
        "posts with an account are not counted as account-less"
    );
    assert!(matches!(
        t.store.set_post_score(&PostId::new(), 1.0, false).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn opportunity(
    id: &str,
    platform_post_id: &str,
    score: f64,
    minutes_ago: i64,
) -> StoredOpportunity {
    let at = now() - Duration::minutes(minutes_ago);
    StoredOpportunity {
        id: id.into(),
        platform: Platform::Bluesky,
        platform_post_id: platform_post_id.into(),
        url: Some("https://bsky.app/x".into()),
        author_handle: Some("alice.test".into()),
        text: "about scheduling — ünïcödé".into(),
        score,
        breakdown: serde_json::json!({ "tier": "digest" }),
        pillar: Some("scheduling".into()),
        first_seen_at: at,
        last_seen_at: at,
    }
}

async fn opportunities_upsert_keep_the_first_id_and_count_by_day(t: &TestStore) {
    let s = &t.store;
    let first = opportunity("opp_aaaaaaaaaaaa", "at://1", 61.0, 10);
    assert_eq!(s.upsert_opportunity(&first).await.unwrap(), first.id);
    let again = StoredOpportunity {
        score: 72.5,
        ..opportunity("opp_bbbbbbbbbbbb", "at://1", 0.0, 1)
    };
    assert_eq!(
        s.upsert_opportunity(&again).await.unwrap(),
        first.id,
        "the same platform post keeps its first id"
    );
    let other = opportunity("opp_cccccccccccc", "at://2", 45.0, 5);
    s.upsert_opportunity(&other).await.unwrap();
    let listed = s.list_opportunities(None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, first.id, "best first");
    assert_eq!(listed[0].score, 72.5);
    assert_eq!(listed[0].first_seen_at, first.first_seen_at);
    assert_eq!(listed[0].last_seen_at, again.last_seen_at);
    assert_eq!(listed[0].text, first.text);
    let seen = s
        .seen_opportunities(Platform::Bluesky, &["at://1".into(), "at://3".into()])
        .await
        .unwrap();
    assert_eq!(seen, vec!["at://1".to_owned()]);
    assert!(
        s.seen_opportunities(Platform::X, &["at://1".into()])
            .await
            .unwrap()
            .is_empty()
    );
    let since = now() - Duration::minutes(7);
    assert_eq!(s.count_opportunities_since(since).await.unwrap(), 1);
    assert_eq!(
        s.list_opportunities(Some(since), 10).await.unwrap().len(),
        1
    );
    // Many ids at once stay within both databases' parameter limits.
    let many: Vec<String> = (0..1200).map(|i| format!("at://{i}")).collect();
    assert_eq!(
        s.seen_opportunities(Platform::Bluesky, &many)
            .await
            .unwrap()
            .len(),
        2
    );
}
