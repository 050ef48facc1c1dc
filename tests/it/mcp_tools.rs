//! Every tool's happy path and main failures, through the real binary, on SQLite and
//! Postgres. The test seeds what no tool can create (accounts, failed posts) through
//! the store the server uses.

use chrono::{Duration, Utc};
use psn::domain::{
    Account, AccountId, AccountStatus, GroupId, NewPost, Platform, Post, PostContent, PostEvent,
    PostId, PostPart, PostStatus, now,
};
use serde_json::{Value, json};

use crate::both_stores;
use crate::support::db::TestStore;
use crate::support::mcp::{McpClient, store_env, text};

both_stores!(
    create_schedule_list_get_cancel,
    create_refuses_invalid_posts_and_saves_nothing,
    schedule_refuses_bad_times_ids_and_statuses,
    update_edits_content_and_respects_status,
    retry_requeues_failed_posts_only,
    accounts_are_listed_resolved_and_checked,
    ideas_are_captured_and_listed,
    list_pending_filters_and_pages,
    company_hub_sends_posts_for_approval,
    get_post_shows_publish_attempts,
);

fn future(hours: i64) -> String {
    (Utc::now() + Duration::hours(hours)).to_rfc3339()
}

fn server(t: &TestStore) -> McpClient {
    McpClient::start(&store_env(t))
}

async fn seed_account(
    t: &TestStore,
    platform: Platform,
    handle: &str,
    status: AccountStatus,
) -> Account {
    let at = now();
    let account = Account {
        id: AccountId::new(),
        platform,
        handle: handle.into(),
        display_name: Some("Test".into()),
        platform_user_id: None,
        server_url: None,
        credentials: None,
        token_expires_at: Some(at + Duration::days(30)),
        scopes: None,
        status,
        last_error: None,
        created_at: at,
        updated_at: at,
    };
    t.store
        .upsert_account(&account)
        .await
        .expect("seed account")
}

/// A post driven through the status machine to `failed` or `needs_reconcile`.
async fn seed_stuck_post(t: &TestStore, outcome: PostEvent) -> Post {
    let post = NewPost {
        group_id: GroupId::new(),
        platform: Platform::Bluesky,
        account_id: None,
        content: PostContent {
            parts: vec![PostPart {
                text: "stuck".into(),
                media: vec![],
            }],
        },
        max_attempts: 5,
        created_by: "test".into(),
    }
    .into_post(now());
    t.store
        .insert_posts(std::slice::from_ref(&post), "test")
        .await
        .unwrap();
    let mut steps = vec![
        PostEvent::Schedule {
            needs_approval: false,
        },
        PostEvent::Claim,
        outcome,
    ];
    let mut current = post;
    for event in steps.drain(..) {
        let mut next = current.apply(event).unwrap();
        match event {
            PostEvent::Schedule { .. } => {
                next.scheduled_at = Some(now() - Duration::minutes(5));
                next.schedule_tz = Some("Europe/Berlin".into());
                next.run_at = next.scheduled_at;
            }
            PostEvent::Claim => {
                next.attempts += 1;
                next.locked_by = Some("test-scheduler".into());
                next.lease_until = Some(now() + Duration::minutes(1));
            }
            _ => {
                next.locked_by = None;
                next.lease_until = None;
                next.last_error = Some("bluesky said 500 three times".into());
            }
        }
        current = t
            .store
            .update_post(&current, &next, event, "test")
            .await
            .unwrap();
    }
    current
}

async fn create_schedule_list_get_cancel(t: &TestStore) {
    let mut c = server(t);
    let created = c.ok(
        "create_post",
        json!({
            "targets": [{"platform": "bluesky"}, {"platform": "x"}],
            "parts": [{"text": "Launch day 🚀 https://example.com/launch"}, {"text": "Second part"}]
        }),
    );
    let group = created["group_id"].as_str().unwrap().to_owned();
    assert!(group.starts_with("grp_"));
    let posts = created["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().all(|p| p["status"] == "draft"));
    let x = posts.iter().find(|p| p["platform"] == "x").unwrap();
    // On X the rocket weighs 2 and the URL 23: "Launch day " (11) + 2 + " " (1) + 23.
    assert_eq!(x["measures"][0]["limit"], 280);
    assert_eq!(x["measures"][0]["length"], 11 + 2 + 1 + 23);
    assert_eq!(x["measures"].as_array().unwrap().len(), 2);
    let warnings = created["warnings"].to_string();
    assert!(warnings.contains("psn connect x"), "{warnings}");

    // Drafts are not pending.
    let r = c.call("list_pending", json!({}));
    assert_eq!(r["structuredContent"]["total"], 0);
    assert_eq!(text(&r), "Nothing is queued and nothing needs attention.");

    let at = future(30);
    let r = c.call("schedule_post", json!({"id": group, "at": at}));
    assert_eq!(r["isError"], false, "{}", text(&r));
    let scheduled = &r["structuredContent"];
    assert_eq!(scheduled["posts"].as_array().unwrap().len(), 2);
    assert_eq!(scheduled["zone"], "Europe/Berlin");
    assert_eq!(scheduled["needs_approval"], false);
    assert!(
        scheduled["warnings"]
            .to_string()
            .contains("psn connect bluesky")
    );
    assert!(text(&r).starts_with("Scheduled 2 posts"), "{}", text(&r));

    let pending = c.ok("list_pending", json!({}));
    assert_eq!(pending["total"], 2);
    assert!(
        pending["posts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "scheduled")
    );
    let first_id = pending["posts"][0]["id"].as_str().unwrap().to_owned();

    let r = c.call("get_post", json!({"post_id": first_id}));
    let post = &r["structuredContent"];
    assert_eq!(post["status"], "scheduled");
    assert_eq!(post["group_id"], group.as_str());
    assert_eq!(post["content"]["parts"][1]["text"], "Second part");
    assert_eq!(post["schedule_tz"], "Europe/Berlin");
    assert!(
        post["scheduled_local"]
            .as_str()
            .unwrap()
            .contains("Europe/Berlin")
    );
    let actions: Vec<&str> = post["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "schedule"]);
    assert!(post["history"][1]["actor"] == "mcp");
    assert!(
        text(&r).contains(&first_id) && text(&r).contains("Launch day"),
        "{}",
        text(&r)
    );

    let cancelled = c.ok("cancel_post", json!({"id": first_id}));
    assert_eq!(cancelled["posts"][0]["status"], "cancelled");
    let again = c.ok("cancel_post", json!({"id": first_id}));
    assert_eq!(again["already_cancelled"][0], first_id.as_str());
    assert_eq!(again["posts"].as_array().unwrap().len(), 0);
    let pending = c.ok("list_pending", json!({}));
    assert_eq!(pending["total"], 1);

    // Unschedule the rest of the group back to draft.
    let back = c.ok("cancel_post", json!({"id": group, "keep_draft": true}));
    assert_eq!(back["posts"][0]["status"], "draft");
    assert_eq!(back["already_cancelled"][0], first_id.as_str());
    assert_eq!(c.ok("list_pending", json!({}))["total"], 0);
    let drafts = c.ok("list_pending", json!({"statuses": ["draft"]}));
    assert_eq!(drafts["total"], 1);
    assert!(drafts["posts"][0]["run_at"].is_null());
    assert!(c.shutdown());
}

async fn create_refuses_invalid_posts_and_saves_nothing(t: &TestStore) {
    let mut c = server(t);
    let long = "word ".repeat(70);
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "x"}, {"platform": "linkedin"}], "parts": [{"text": long}]}),
    );
    assert!(e.contains("x:") && e.contains("280"), "{e}");
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "instagram"}], "parts": [{"text": "no picture"}]}),
    );
    assert!(e.contains("instagram"), "{e}");
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "x", "account": "@nobody"}], "parts": [{"text": "hi"}]}),
    );
    assert!(
        e.contains("x account @nobody is not connected: run `psn connect x`"),
        "{e}"
    );
    let e = c.err(
        "create_post",
        json!({"targets": [], "parts": [{"text": "hi"}]}),
    );
    assert!(e.contains("no targets"), "{e}");
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "x"}], "parts": []}),
    );
    assert!(e.contains("at least one part"), "{e}");
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "x"}, {"platform": "x"}], "parts": [{"text": "hi"}]}),
    );
    assert!(e.contains("named twice"), "{e}");
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "bluesky"}], "parts": [{"text": "pic", "media": [{"source": "/nope/missing.png"}]}]}),
    );
    assert!(e.contains("does not exist"), "{e}");
    // Several problems are listed together, one per line.
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "bluesky"}], "parts": [{"text": "a\u{0}"}, {"text": " "}]}),
    );
    assert!(
        e.contains("NUL") && e.contains("part 2") && e.contains("\n- "),
        "{e}"
    );
    let all = c.ok("list_pending", json!({"statuses": ["draft"]}));
    assert_eq!(all["total"], 0, "a refused create_post saved something");

    // A real image is inspected and attached.
    let png = c.dir().join("pic.png");
    std::fs::write(&png, [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 64][..]].concat()).unwrap();
    let created = c.ok(
        "create_post",
        json!({"targets": [{"platform": "instagram"}], "parts": [{"text": "with a picture", "media": [{"source": png, "alt": "a test"}]}]}),
    );
    let id = created["posts"][0]["post_id"].clone();
    let post = c.ok("get_post", json!({"post_id": id}));
    assert_eq!(post["content"]["parts"][0]["media"][0]["mime"], "image/png");
    assert_eq!(post["content"]["parts"][0]["media"][0]["alt"], "a test");
}

async fn schedule_refuses_bad_times_ids_and_statuses(t: &TestStore) {
    let mut c = server(t);
    let created = c.ok(
        "create_post",
        json!({"targets": [{"platform": "mastodon"}], "parts": [{"text": "timely"}]}),
    );
    let id = created["posts"][0]["post_id"].as_str().unwrap().to_owned();
    let e = c.err(
        "schedule_post",
        json!({"id": id, "at": "2020-01-01T09:00:00Z"}),
    );
    assert!(e.contains("in the past"), "{e}");
    // 02:30 on the last Sunday of March 2027 does not exist in Berlin.
    let e = c.err(
        "schedule_post",
        json!({"id": id, "at": "2027-03-28 02:30", "zone": "Europe/Berlin"}),
    );
    assert!(
        e.contains("does not exist") || e.contains("nonexistent") || e.contains("skipped"),
        "{e}"
    );
    // 02:30 on the last Sunday of October 2027 happens twice.
    let e = c.err(
        "schedule_post",
        json!({"id": id, "at": "2027-10-31 02:30", "zone": "Europe/Berlin"}),
    );
    assert!(
        e.contains("+01:00") && e.contains("+02:00"),
        "ambiguous time should offer both: {e}"
    );
    let e = c.err("schedule_post", json!({"id": id, "at": "next blue moon"}));
    assert!(!e.is_empty());
    let e = c.err(
        "schedule_post",
        json!({"id": id, "at": "2027-06-01 09:00", "zone": "Mars/Olympus"}),
    );
    assert!(e.contains("Mars/Olympus"), "{e}");
    let e = c.err(
        "schedule_post",
        json!({"id": "post_000000000000", "at": future(1)}),
    );
    assert!(
        e.contains("no post with id post_000000000000") && e.contains("list_pending"),
        "{e}"
    );
    let e = c.err(
        "schedule_post",
        json!({"id": "grp_000000000000", "at": future(1)}),
    );
    assert!(e.contains("no post group"), "{e}");
    let e = c.err("schedule_post", json!({"id": "hello", "at": future(1)}));
    assert!(e.contains("not a post id"), "{e}");

    // A local time in the given zone is echoed in UTC and local time.
    let s = c.ok(
        "schedule_post",
        json!({"id": id, "at": "2027-06-01 09:00", "zone": "America/New_York"}),
    );
    assert_eq!(s["utc"], "2027-06-01T13:00:00Z");
    assert!(s["local"].as_str().unwrap().contains("09:00"), "{s}");
    assert_eq!(s["zone"], "America/New_York");
    // Rescheduling moves the time.
    let s = c.ok(
        "schedule_post",
        json!({"id": id, "at": "2027-06-02T10:00:00+02:00"}),
    );
    assert_eq!(s["utc"], "2027-06-02T08:00:00Z");
    let s = c.ok("schedule_post", json!({"id": id, "at": "now"}));
    assert_eq!(s["posts"][0]["status"], "scheduled");

    c.ok("cancel_post", json!({"id": id}));
    let e = c.err("schedule_post", json!({"id": id, "at": future(2)}));
    assert!(
        e.contains(
            "is cancelled, and only draft, scheduled or pending_approval posts can be scheduled"
        ),
        "{e}"
    );
}

async fn update_edits_content_and_respects_status(t: &TestStore) {
    let mut c = server(t);
    let created = c.ok(
        "create_post",
        json!({"targets": [{"platform": "x"}], "parts": [{"text": "frist draft"}]}),
    );
    let id = created["posts"][0]["post_id"].as_str().unwrap().to_owned();
    c.ok("schedule_post", json!({"id": id, "at": future(5)}));
    let r = c.call(
        "update_post",
        json!({"post_id": id, "parts": [{"text": "first draft"}, {"text": "and a reply"}]}),
    );
    assert_eq!(r["isError"], false, "{}", text(&r));
    assert_eq!(r["structuredContent"]["post"]["status"], "scheduled");
    assert_eq!(r["structuredContent"]["post"]["parts"], 2);
    assert_eq!(r["structuredContent"]["approval_voided"], false);
    assert!(text(&r).contains(&id));
    let post = c.ok("get_post", json!({"post_id": id}));
    assert_eq!(post["content"]["parts"][0]["text"], "first draft");
    assert_eq!(post["version"], 3);

    let e = c.err(
        "update_post",
        json!({"post_id": id, "parts": [{"text": "y".repeat(400)}]}),
    );
    assert!(e.contains("does not fit x") && e.contains("280"), "{e}");
    let e = c.err(
        "update_post",
        json!({"post_id": "post_000000000000", "parts": [{"text": "y"}]}),
    );
    assert!(e.contains("no post with id"), "{e}");
    c.ok("cancel_post", json!({"id": id}));
    let e = c.err(
        "update_post",
        json!({"post_id": id, "parts": [{"text": "late"}]}),
    );
    assert!(e.contains("is cancelled, and only draft, scheduled, pending_approval or failed posts can be edited"), "{e}");
}

async fn retry_requeues_failed_posts_only(t: &TestStore) {
    let failed = seed_stuck_post(t, PostEvent::PermanentFailure).await;
    let unknown = seed_stuck_post(t, PostEvent::OutcomeUnknown).await;
    assert_eq!(failed.status, PostStatus::Failed);
    let mut c = server(t);
    let pending = c.ok("list_pending", json!({}));
    assert_eq!(pending["total"], 2);
    let listed = pending.to_string();
    assert!(
        listed.contains("failed") && listed.contains("needs_reconcile"),
        "{listed}"
    );

    let r = c.call("retry_post", json!({"post_id": failed.id}));
    assert_eq!(r["isError"], false, "{}", text(&r));
    let out = &r["structuredContent"];
    assert_eq!(out["post"]["status"], "scheduled");
    assert_eq!(
        out["post"]["attempts"], failed.attempts,
        "attempts are never reset: each fences its own lease"
    );
    assert_eq!(out["previous_error"], "bluesky said 500 three times");
    let stored = t.store.get_post(&failed.id).await.unwrap();
    assert_eq!(stored.status, PostStatus::Scheduled);
    assert!(stored.last_error.is_none());
    let due = stored.run_at.unwrap();
    assert!(
        (now() - due).num_seconds().abs() < 60,
        "retry should be due now"
    );

    // A post whose request may have reached the platform is reconciled first, never
    // re-sent blindly; `force` is the person saying they checked and it is not there.
    let r = c.call("retry_post", json!({"post_id": unknown.id}));
    assert_eq!(r["isError"], false, "{}", text(&r));
    assert_eq!(r["structuredContent"]["post"]["status"], "needs_reconcile");
    let r = c.call("retry_post", json!({"post_id": unknown.id, "force": true}));
    assert_eq!(r["isError"], false, "{}", text(&r));
    assert_eq!(r["structuredContent"]["post"]["status"], "scheduled");
    let e = c.err("retry_post", json!({"post_id": failed.id}));
    assert!(
        e.contains("is scheduled, and only failed or needs_reconcile posts can be retried"),
        "{e}"
    );
    let e = c.err("retry_post", json!({"post_id": PostId::new()}));
    assert!(e.contains("no post with id"), "{e}");
}

async fn accounts_are_listed_resolved_and_checked(t: &TestStore) {
    let good = seed_account(t, Platform::X, "psn_app", AccountStatus::Active).await;
    seed_account(
        t,
        Platform::Bluesky,
        "psn.bsky.social",
        AccountStatus::NeedsReauth,
    )
    .await;
    let mut c = server(t);
    let r = c.call("list_accounts", json!({}));
    let list = &r["structuredContent"];
    assert_eq!(list["accounts"].as_array().unwrap().len(), 2);
    let bsky = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["platform"] == "bluesky")
        .unwrap();
    assert_eq!(bsky["health"], "needs_reauth");
    assert_eq!(bsky["fix"], "psn connect bluesky --handle psn.bsky.social");
    let missing: Vec<&str> = list["not_connected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"].as_str().unwrap())
        .collect();
    assert!(
        missing.contains(&"linkedin") && !missing.contains(&"x"),
        "{missing:?}"
    );
    let linkedin = list["not_connected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"] == "linkedin")
        .unwrap();
    assert!(linkedin["connect_with"].is_null(), "{linkedin}");
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "linkedin", "account": "acme"}], "parts": [{"text": "hi"}]}),
    );
    assert!(
        e.contains("psn cannot connect linkedin accounts yet"),
        "{e}"
    );
    assert!(text(&r).contains(good.id.as_str()), "{}", text(&r));
    assert!(!r.to_string().contains("credentials"));

    // By handle (with or without @), by id, or implicitly the only active one.
    for account in [
        json!("@psn_app"),
        json!("psn_app"),
        json!(good.id),
        Value::Null,
    ] {
        let created = c.ok(
            "create_post",
            json!({"targets": [{"platform": "x", "account": account}], "parts": [{"text": "hi"}]}),
        );
        assert_eq!(
            created["posts"][0]["account_id"],
            good.id.as_str(),
            "{account}"
        );
        assert_eq!(created["posts"][0]["account_handle"], "psn_app");
    }
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "bluesky", "account": "psn.bsky.social"}], "parts": [{"text": "hi"}]}),
    );
    assert!(
        e.contains("needs_reauth") && e.contains("psn connect bluesky"),
        "{e}"
    );
    let e = c.err(
        "create_post",
        json!({"targets": [{"platform": "bluesky", "account": good.id}], "parts": [{"text": "hi"}]}),
    );
    assert!(e.contains("is a x account"), "{e}");
    let drafts = c.ok(
        "list_pending",
        json!({"statuses": ["draft"], "account": "@psn_app"}),
    );
    assert_eq!(drafts["total"], 4);
    let e = c.err("list_pending", json!({"account": "@ghost"}));
    assert!(
        e.contains("no account") && e.contains("list_accounts"),
        "{e}"
    );
}

async fn ideas_are_captured_and_listed(t: &TestStore) {
    let mut c = server(t);
    let first = c.ok(
        "capture_idea",
        json!({"text": "  Thread on keyset pagination  ", "tags": ["#Rust", "rust", "DB"], "pillar": "education", "source": "https://example.com"}),
    );
    assert_eq!(first["idea"]["text"], "Thread on keyset pagination");
    assert_eq!(first["idea"]["tags"], json!(["rust", "db"]));
    assert_eq!(first["idea"]["status"], "new");
    c.ok(
        "capture_idea",
        json!({"text": "Behind the scenes photo", "pillar": "bts"}),
    );
    c.ok(
        "capture_idea",
        json!({"text": "Launch recap", "tags": ["launch"]}),
    );

    let all = c.ok("list_ideas", json!({}));
    let texts: Vec<&str> = all["ideas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Launch recap",
            "Behind the scenes photo",
            "Thread on keyset pagination"
        ]
    );
    let tagged = c.ok("list_ideas", json!({"tag": "#RUST"}));
    assert_eq!(tagged["ideas"].as_array().unwrap().len(), 1);
    let pillar = c.ok("list_ideas", json!({"pillar": "bts", "status": "new"}));
    assert_eq!(pillar["ideas"][0]["text"], "Behind the scenes photo");
    let page1 = c.ok("list_ideas", json!({"limit": 2}));
    assert_eq!(page1["ideas"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let page2 = c.ok("list_ideas", json!({"limit": 2, "cursor": cursor}));
    assert_eq!(page2["ideas"][0]["text"], "Thread on keyset pagination");
    assert!(page2["next_cursor"].is_null());

    let e = c.err("capture_idea", json!({"text": "   "}));
    assert!(e.contains("empty"), "{e}");
    let e = c.err("capture_idea", json!({"text": "x", "tags": vec!["t"; 30]}));
    assert!(e.contains("30 tags"), "{e}");
    let e = c.err("list_ideas", json!({"cursor": "bogus"}));
    assert!(e.contains("cursor"), "{e}");
    let e = c.err("list_ideas", json!({"status": "maybe"}));
    assert!(e.contains("unknown variant"), "{e}");
}

async fn list_pending_filters_and_pages(t: &TestStore) {
    let mut c = server(t);
    let mut ids = Vec::new();
    for (i, platform) in ["x", "bluesky", "x"].iter().enumerate() {
        let created = c.ok(
            "create_post",
            json!({"targets": [{"platform": platform}], "parts": [{"text": format!("post {i}")}]}),
        );
        let id = created["posts"][0]["post_id"].as_str().unwrap().to_owned();
        c.ok(
            "schedule_post",
            json!({"id": id, "at": future(10 + i as i64)}),
        );
        ids.push(id);
    }
    let page1 = c.ok("list_pending", json!({"limit": 2}));
    assert_eq!(page1["total"], 3);
    let got: Vec<&str> = page1["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str(), ids[1].as_str()], "ordered by time");
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let page2 = c.ok("list_pending", json!({"limit": 2, "cursor": cursor}));
    assert_eq!(page2["posts"][0]["id"], ids[2].as_str());
    assert!(page2["next_cursor"].is_null());

    let xs = c.ok("list_pending", json!({"platform": "x"}));
    assert_eq!(xs["total"], 2);
    let window = c.ok(
        "list_pending",
        json!({"from": future(9), "to": future(11) }),
    );
    assert_eq!(window["total"], 2);
    let failed = c.ok("list_pending", json!({"statuses": ["failed"]}));
    assert_eq!(failed["total"], 0);
    let r = c.call("list_pending", json!({"statuses": ["failed"]}));
    assert!(text(&r).starts_with("No posts are failed"), "{}", text(&r));
    let e = c.err("list_pending", json!({"from": future(11), "to": future(9)}));
    assert!(e.contains("swap"), "{e}");
    let e = c.err("list_pending", json!({"statuses": ["lost"]}));
    assert!(e.contains("unknown variant"), "{e}");
    let e = c.err("list_pending", json!({"cursor": "zzz"}));
    assert!(e.contains("next_cursor"), "{e}");
}

async fn company_hub_sends_posts_for_approval(t: &TestStore) {
    let mut env = store_env(t);
    env.push(("PSN_HUB_KIND".into(), "company".into()));
    let mut c = McpClient::start(&env);
    let created = c.ok(
        "create_post",
        json!({"targets": [{"platform": "linkedin"}], "parts": [{"text": "Quarterly update"}]}),
    );
    let id = created["posts"][0]["post_id"].as_str().unwrap().to_owned();
    let r = c.call("schedule_post", json!({"id": id, "at": future(48)}));
    assert_eq!(r["structuredContent"]["needs_approval"], true);
    assert_eq!(
        r["structuredContent"]["posts"][0]["status"],
        "pending_approval"
    );
    assert!(text(&r).contains("approval"), "{}", text(&r));
    let updated = c.ok(
        "update_post",
        json!({"post_id": id, "parts": [{"text": "Quarterly update, fixed"}]}),
    );
    assert_eq!(updated["post"]["status"], "pending_approval");
    let pending = c.ok("list_pending", json!({"statuses": ["pending_approval"]}));
    assert_eq!(pending["total"], 1);
}

async fn get_post_shows_publish_attempts(t: &TestStore) {
    use psn::store::Finish;
    let mut c = server(t);
    let created = c.ok(
        "create_post",
        json!({"targets": [{"platform": "bluesky"}], "parts": [{"text": "attempted"}]}),
    );
    let id = created["posts"][0]["post_id"].as_str().unwrap().to_owned();
    c.ok("schedule_post", json!({"id": id, "at": "now"}));
    // Play the scheduler: claim the due post and fail it for good.
    let leases = t
        .store
        .claim_due(
            "test-instance",
            now() + Duration::seconds(1),
            std::time::Duration::from_secs(60),
            10,
            psn::scheduler::new_publish_key,
        )
        .await
        .unwrap();
    assert_eq!(leases.len(), 1);
    let failed = Finish::Failed {
        error: "bluesky refused: InvalidRequest".into(),
    };
    t.store
        .finish(&leases[0], &failed, now())
        .await
        .unwrap()
        .unwrap();

    let r = c.call("get_post", json!({"post_id": id}));
    let post = &r["structuredContent"];
    assert_eq!(post["status"], "failed");
    let attempts = post["publish_attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{post}");
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[0]["status"], "failed");
    assert_eq!(attempts[0]["instance"], "test-instance");
    assert_eq!(attempts[0]["error"], "bluesky refused: InvalidRequest");
    let summary = text(&r);
    assert!(summary.contains("attempt 1 failed"), "{summary}");
    assert!(
        summary.contains("retry_post"),
        "the next step names the fix: {summary}"
    );
    let actions: Vec<&str> = post["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "schedule", "claim", "permanent_failure"]
    );
}
