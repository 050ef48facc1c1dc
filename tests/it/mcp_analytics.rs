//! fetch_metrics and score_opportunities end to end: the real `psn serve` over stdio,
//! reading the fake X and Bluesky servers with an account sealed by the same key, on
//! both stores. Progress notifications arrive only when a progress token is given.

use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use chrono::Duration;
use psn::domain::now;
use psn::platforms::fake::x::FakeMetrics;
use serde_json::{Value, json};

use crate::both_stores;
use crate::metrics::{Env, env, publish_all, published};
use crate::support::db::TestStore;
use crate::support::mcp::{McpClient, store_env};

both_stores!(
    fetch_metrics_sends_progress_with_a_token_and_a_chart_on_request,
    score_opportunities_ranks_then_remembers,
);

fn server_env(t: &TestStore, e: &Env, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut vars = store_env(t);
    vars.push(("PSN_ENCRYPTION_KEY".into(), e.key.expose().to_owned()));
    vars.push(("PSN_X_BASE_URL".into(), e.x.base_url().to_owned()));
    vars.push(("PSN_BLUESKY_PDS_URL".into(), e.bsky.base_url().to_owned()));
    for (k, v) in extra {
        vars.push(((*k).to_owned(), v.clone()));
    }
    vars
}

/// Calls a tool with optional progress token; returns (progress notifications, result).
fn call(
    c: &mut McpClient,
    id: i64,
    tool: &str,
    args: Value,
    token: Option<&str>,
) -> (Vec<Value>, Value) {
    let mut params = json!({"name": tool, "arguments": args});
    if let Some(t) = token {
        params["_meta"] = json!({"progressToken": t});
    }
    c.send_raw(
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string(),
    );
    let deadline = Instant::now() + StdDuration::from_secs(60);
    let mut progress = Vec::new();
    loop {
        let msg = c.next_message(deadline).expect("an answer within a minute");
        if msg["id"] == json!(id) {
            let result = msg["result"].clone();
            assert!(result.is_object(), "{tool}: {msg}");
            return (progress, result);
        }
        if msg["method"] == "notifications/progress" {
            progress.push(msg["params"].clone());
        }
    }
}

async fn fetch_metrics_sends_progress_with_a_token_and_a_chart_on_request(t: &TestStore) {
    let e = env(t).await;
    let mut posts = Vec::new();
    for i in 0..3u64 {
        let id =
            e.x.seed_post(&e.x_user, &format!("stdio {i}"), now() - Duration::hours(1));
        e.x.set_metrics(
            &id,
            FakeMetrics {
                impressions: 500,
                likes: 5 * i,
                replies: i,
                ..FakeMetrics::default()
            },
        );
        posts.push(published(&e.x_account, &id, 30 - i as i64));
    }
    let uri = e
        .bsky
        .seed_post(&e.b_user, "stdio sky", now() - Duration::hours(1));
    posts.push(published(&e.b_account, &uri, 10));
    publish_all(t, &posts).await;
    let vars = server_env(t, &e, &[]);
    let ids: Vec<String> = posts.iter().map(|p| p.id.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut c = McpClient::start(&vars);
        let (progress, result) = call(
            &mut c,
            100,
            "fetch_metrics",
            json!({"max_age_secs": 0, "chart": true}),
            Some("tok-1"),
        );
        assert_eq!(result["isError"], json!(false), "{result}");
        let out = &result["structuredContent"];
        assert_eq!(out["collected"], 4, "{out}");
        let got: Vec<&str> = out["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["post_id"].as_str().unwrap())
            .collect();
        for id in &ids {
            assert!(got.contains(&id.as_str()), "{id} missing");
        }
        // A start and one report per batch (one X, one Bluesky), in order, ending at the total.
        assert_eq!(progress.len(), 3, "{progress:?}");
        for p in &progress {
            assert_eq!(p["progressToken"], "tok-1");
            assert_eq!(p["total"], 4.0);
        }
        assert_eq!(progress.last().unwrap()["progress"], 4.0);
        assert!(
            progress
                .windows(2)
                .all(|w| w[0]["progress"].as_f64() <= w[1]["progress"].as_f64())
        );
        // The summary first, then the chart, then the JSON.
        let content = result["content"].as_array().unwrap();
        assert_eq!(content[0]["type"], "text");
        assert!(
            content[0]["text"]
                .as_str()
                .unwrap()
                .contains("4 collected now")
        );
        assert_eq!(content[1]["type"], "image");
        assert_eq!(content[1]["mimeType"], "image/png");
        let png = base64::engine::general_purpose::STANDARD
            .decode(content[1]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(&png[..4], b"\x89PNG");

        // Without a token: no notifications, and fresh numbers are reused.
        let (progress, result) = call(&mut c, 101, "fetch_metrics", json!({}), None);
        assert!(progress.is_empty(), "{progress:?}");
        assert_eq!(result["structuredContent"]["fresh"], 4);
        assert_eq!(
            result["content"].as_array().unwrap().len(),
            2,
            "no chart unless asked"
        );

        // Domain failures are isError results that say what to do.
        let (_, bad) = call(
            &mut c,
            102,
            "fetch_metrics",
            json!({"post": "post_nope"}),
            None,
        );
        assert_eq!(bad["isError"], json!(true));
        assert!(c.shutdown());
    })
    .await
    .unwrap();
}

async fn score_opportunities_ranks_then_remembers(t: &TestStore) {
    let e = env(t).await;
    let alice = e.x.add_user("alice");
    let id = e.x.seed_post(
        &alice,
        "Our cron scheduler for social media",
        now() - Duration::minutes(20),
    );
    e.x.set_metrics(
        &id,
        FakeMetrics {
            likes: 50,
            replies: 10,
            retweets: 5,
            ..FakeMetrics::default()
        },
    );
    let carol = e.bsky.add_account("carol.test");
    e.bsky
        .seed_post(&carol, "a scheduler in Rust", now() - Duration::minutes(10));
    let dir = tempfile::tempdir().unwrap();
    let strategy = dir.path().join("strategy.toml");
    std::fs::write(
        &strategy,
        "[[pillars]]\nname = \"scheduling\"\nkeywords = [\"scheduler\", \"cron\"]\nphrases = [\"social media\"]\n",
    )
    .unwrap();
    let vars = server_env(
        t,
        &e,
        &[("PSN_STRATEGY_FILE", strategy.display().to_string())],
    );
    tokio::task::spawn_blocking(move || {
        let mut c = McpClient::start(&vars);
        let (progress, first) = call(&mut c, 200, "score_opportunities", json!({}), Some("s-1"));
        assert_eq!(first["isError"], json!(false), "{first}");
        let out = &first["structuredContent"];
        let opps = out["opportunities"].as_array().unwrap();
        assert!(!opps.is_empty(), "{out}");
        assert_eq!(opps[0]["platform_post_id"], json!(id));
        assert_eq!(opps[0]["tier"], "act_now", "{}", opps[0]);
        assert!(opps[0]["reason"].as_str().unwrap().contains("scheduling"));
        for key in ["relevance", "influence", "velocity", "window"] {
            assert!(opps[0]["factors"][key].is_number(), "{key}");
        }
        // Three terms on two platforms.
        assert_eq!(
            progress.last().map(|p| p["progress"].clone()),
            Some(json!(6.0))
        );
        let (_, second) = call(&mut c, 201, "score_opportunities", json!({}), None);
        let out = &second["structuredContent"];
        assert!(out["opportunities"].as_array().unwrap().is_empty(), "{out}");
        assert_eq!(out["already_seen"].as_u64(), Some(opps.len() as u64));
        assert!(c.shutdown());
    })
    .await
    .unwrap();
}
