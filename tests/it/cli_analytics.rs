//! `psn metrics` and `psn opportunities`: the real binary against the fakes, both stores.

use std::path::Path;
use std::process::Output;

use chrono::Duration;
use psn::domain::now;
use psn::platforms::fake::x::FakeMetrics;
use serde_json::Value;

use crate::both_stores;
use crate::metrics::{Env, env, publish_all, published};
use crate::support::db::TestStore;
use crate::support::mcp::store_env;

both_stores!(
    psn_metrics_collects_and_draws_charts,
    psn_opportunities_needs_a_strategy_then_ranks,
);

async fn psn(
    t: &TestStore,
    e: &Env,
    dir: &Path,
    extra: &[(&str, String)],
    args: &[&str],
) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_psn"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("PSN_DATA_DIR", dir)
        .env("PSN_LOG", "warn")
        .env("PSN_ENCRYPTION_KEY", e.key.expose())
        .env("PSN_X_BASE_URL", e.x.base_url())
        .env("PSN_BLUESKY_PDS_URL", e.bsky.base_url())
        .current_dir(dir);
    for (k, v) in store_env(t) {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().await.expect("run psn")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn psn_metrics_collects_and_draws_charts(t: &TestStore) {
    let e = env(t).await;
    let mut posts = Vec::new();
    for i in 0..2u64 {
        let id =
            e.x.seed_post(&e.x_user, &format!("cli {i}"), now() - Duration::hours(1));
        e.x.set_metrics(
            &id,
            FakeMetrics {
                impressions: 100,
                likes: 3 + i,
                ..FakeMetrics::default()
            },
        );
        posts.push(published(&e.x_account, &id, 20));
    }
    publish_all(t, &posts).await;
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let svg_arg = svg.display().to_string();
    let out = psn(
        t,
        &e,
        dir.path(),
        &[],
        &["metrics", "--max-age", "0", "--json", "--chart", &svg_arg],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["collected"], 2, "{json}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg") && drawn.contains("Engagement score over time"));

    // PNG, for one post, from the stored numbers (no platform call).
    let png = dir.path().join("chart.png");
    let png_arg = png.display().to_string();
    let calls = e.x.calls();
    let post = posts[0].id.to_string();
    let out = psn(
        t,
        &e,
        dir.path(),
        &[],
        &["metrics", "--post", &post, "--chart", &png_arg],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(e.x.calls(), calls, "fresh numbers are reused");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 post(s)") && text.contains(&post), "{text}");
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");

    // A chart name psn cannot draw is refused before collecting.
    let out = psn(
        t,
        &e,
        dir.path(),
        &[],
        &["metrics", "--max-age", "0", "--chart", "c.gif"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(".svg or .png"), "{}", stderr(&out));
    assert_eq!(e.x.calls(), calls);
}

async fn psn_opportunities_needs_a_strategy_then_ranks(t: &TestStore) {
    let e = env(t).await;
    let alice = e.x.add_user("alice");
    let id = e.x.seed_post(
        &alice,
        "a cron scheduler that works",
        now() - Duration::minutes(15),
    );
    e.x.set_metrics(
        &id,
        FakeMetrics {
            likes: 40,
            replies: 8,
            ..FakeMetrics::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let out = psn(t, &e, dir.path(), &[], &["opportunities"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("strategy.example.toml"),
        "{}",
        stderr(&out)
    );

    let strategy = dir.path().join("s.toml");
    std::fs::write(
        &strategy,
        "[[pillars]]\nname = \"ops\"\nkeywords = [\"cron\"]\n",
    )
    .unwrap();
    let vars = [("PSN_STRATEGY_FILE", strategy.display().to_string())];
    let out = psn(
        t,
        &e,
        dir.path(),
        &vars,
        &["opportunities", "--platform", "x"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1 opportunity"), "{text}");
    assert!(
        text.contains(&format!("https://x.com/alice/status/{id}")),
        "{text}"
    );
    let out = psn(
        t,
        &e,
        dir.path(),
        &vars,
        &["opportunities", "--json", "--include-seen"],
    )
    .await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["opportunities"][0]["seen_before"], true, "{json}");
}
