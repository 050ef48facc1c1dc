//! Several scheduler instances on one Postgres: every due post is published exactly once.

use std::sync::Arc;
use std::time::Duration;

use psn::config::SchedulerSettings;
use psn::domain::{GroupId, NewPost, Platform, PostContent, PostPart, PostStatus, now};
use psn::platforms::registry::Registry;
use psn::scheduler::{Context, Scheduler, Shutdown, cron};
use psn::store::{self, PostFilter};

use crate::support::db;
use crate::support::scripted::{Scripted, TestAccounts};

const POSTS: usize = 1000;
const INSTANCES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_publish_a_thousand_posts_exactly_once() {
    let Some(t) = db::postgres().await else {
        return;
    };
    let due = now();
    let posts: Vec<_> = (0..POSTS)
        .map(|i| {
            let mut p = NewPost {
                group_id: GroupId::new(),
                platform: Platform::X,
                account_id: None,
                content: PostContent {
                    parts: vec![PostPart {
                        text: format!("post {i}"),
                        media: vec![],
                    }],
                },
                max_attempts: 5,
                created_by: "test".into(),
            }
            .into_post(due);
            p.status = PostStatus::Scheduled;
            p.scheduled_at = Some(due);
            p.run_at = Some(due);
            p
        })
        .collect();
    for chunk in posts.chunks(200) {
        t.store.insert_posts(chunk, "test").await.unwrap();
    }

    let adapter = Scripted::new();
    let (stop, rx) = Shutdown::new();
    let mut runners = Vec::new();
    for i in 0..INSTANCES {
        // Each instance has its own pool, as separate processes would.
        let own_store = store::open(&t.settings).await.unwrap();
        let ctx = Context {
            store: own_store,
            platforms: Registry::new().with(Arc::new(adapter.clone())),
            accounts: Arc::new(TestAccounts::default()),
            settings: SchedulerSettings {
                enabled: true,
                batch_size: 8,
                lease: Duration::from_secs(30),
                max_attempts: 5,
                missed_window: Duration::from_secs(3600),
                fallback_poll: Duration::from_secs(1),
                reconcile_delay: Duration::ZERO,
                shutdown_grace: Duration::from_secs(5),
                instance: None,
            },
            instance: format!("instance-{i}"),
        };
        let s = Arc::new(Scheduler::new(ctx, cron::Registry::default()));
        let rx = rx.clone();
        runners.push(tokio::spawn(async move { s.run(rx).await.unwrap() }));
    }

    let published = PostFilter {
        statuses: vec![PostStatus::Published],
        ..PostFilter::default()
    };
    let done = tokio::time::timeout(Duration::from_secs(120), async {
        while t.store.count_posts(&published).await.unwrap() < POSTS as u64 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    stop.trigger();
    let mut claimed_per_instance = Vec::new();
    for r in runners {
        claimed_per_instance.push(r.await.unwrap().claimed);
    }
    assert!(done.is_ok(), "not all posts were published in time");

    let counts = adapter.published();
    let duplicates = counts.values().filter(|&&n| n > 1).count();
    eprintln!(
        "multi-instance: {} posts, {} published once, {} duplicates; claims per instance {:?}",
        POSTS,
        counts.values().filter(|&&n| n == 1).count(),
        duplicates,
        claimed_per_instance
    );
    assert_eq!(counts.len(), POSTS, "every post published");
    assert_eq!(duplicates, 0, "no post published twice");
    assert_eq!(
        claimed_per_instance.iter().sum::<usize>(),
        POSTS,
        "each post claimed exactly once"
    );
}
