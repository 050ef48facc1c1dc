//! list_pending's total is exact up to `TOTAL_CAP` posts and "10,000+" beyond, through
//! the MCP tool and `psn pending`, on SQLite and Postgres.

use chrono::Duration;
use psn::app::posts::TOTAL_CAP;
use psn::domain::{GroupId, NewPost, Platform, Post, PostContent, PostPart, PostStatus, now};
use serde_json::{Value, json};

use crate::both_stores;
use crate::cli_posts::psn;
use crate::support::db::TestStore;
use crate::support::mcp::{McpClient, store_env, text};

both_stores!(the_total_is_exact_up_to_the_cap_then_more_than);

fn queued(platform: Platform, i: u64) -> Post {
    let mut post = NewPost {
        group_id: GroupId::new(),
        platform,
        account_id: None,
        content: PostContent {
            parts: vec![PostPart {
                text: format!("queued {i}"),
                media: vec![],
            }],
        },
        max_attempts: 5,
        created_by: "test".into(),
    }
    .into_post(now());
    let at = now() + Duration::days(1) + Duration::seconds(i as i64);
    post.status = PostStatus::Scheduled;
    post.scheduled_at = Some(at);
    post.run_at = Some(at);
    post.schedule_tz = Some("UTC".into());
    post
}

/// `psn pending ARGS…` against the test's store; its stdout.
fn pending(t: &TestStore, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let env = store_env(t);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = psn(dir.path(), &env, &[&["pending"], args].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "psn pending {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn pending_json(t: &TestStore, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = pending(t, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn the_total_is_exact_up_to_the_cap_then_more_than(t: &TestStore) {
    assert_eq!(
        TOTAL_CAP, 10_000,
        "the tool's description and docs say 10,000"
    );
    let posts: Vec<Post> = (0..TOTAL_CAP).map(|i| queued(Platform::X, i)).collect();
    for chunk in posts.chunks(2_500) {
        t.store.insert_posts(chunk, "test").await.unwrap();
    }

    // Exactly at the cap: the count is exact.
    let mut c = McpClient::start(&store_env(t));
    let r = c.call("list_pending", json!({}));
    let page = &r["structuredContent"];
    assert_eq!(page["total"], 10_000);
    assert_eq!(page["total_exact"], true);
    assert!(text(&r).starts_with("50 of 10,000 posts:"), "{}", text(&r));
    let cli = pending(t, &["--limit", "3"]);
    assert!(cli.starts_with("3 of 10,000 posts:"), "{cli}");
    let cli = pending_json(t, &[]);
    assert_eq!(
        (&cli["total"], &cli["total_exact"]),
        (&json!(10_000), &json!(true))
    );

    // One more: the count stops at the cap and says so.
    t.store
        .insert_posts(&[queued(Platform::Bluesky, TOTAL_CAP)], "test")
        .await
        .unwrap();
    let r = c.call("list_pending", json!({"limit": 2}));
    let page = &r["structuredContent"];
    assert_eq!(page["total"], 10_000);
    assert_eq!(page["total_exact"], false);
    assert!(text(&r).starts_with("2 of 10,000+ posts:"), "{}", text(&r));
    // A later page reports the same bounded total.
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = c.ok("list_pending", json!({"limit": 2, "cursor": cursor}));
    assert_eq!(
        (&next["total"], &next["total_exact"]),
        (&json!(10_000), &json!(false))
    );
    assert_ne!(next["posts"][0]["id"], page["posts"][0]["id"]);
    // Narrower filters count exactly again.
    let r = c.call("list_pending", json!({"platform": "bluesky"}));
    assert_eq!(r["structuredContent"]["total"], 1);
    assert_eq!(r["structuredContent"]["total_exact"], true);
    assert!(text(&r).starts_with("1 of 1 post:"), "{}", text(&r));

    let cli = pending(t, &["--limit", "3"]);
    assert!(cli.starts_with("3 of 10,000+ posts:"), "{cli}");
    let cli = pending_json(t, &[]);
    assert_eq!(
        (&cli["total"], &cli["total_exact"]),
        (&json!(10_000), &json!(false))
    );
    let cli = pending(t, &["--platform", "bluesky"]);
    assert!(cli.starts_with("1 of 1 post:"), "{cli}");
    assert!(c.shutdown());
}
