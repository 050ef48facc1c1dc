//! score_opportunities against the fake X and Bluesky search, on both stores: ranked and
//! explained results, own and irrelevant posts left out, dedup across runs, the daily
//! cap, and a rate-limited platform.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use psn::app::Ctx;
use psn::app::opportunities::{ScoreOpportunitiesInput, ScoreOpportunitiesOutput, Strategy, run};
use psn::domain::score::Tier;
use psn::domain::{Platform, now};
use psn::platforms::fake::bluesky::FakeBskyMetrics;
use psn::platforms::fake::x::FakeMetrics;
use psn::platforms::fake::{Endpoint, Fault};

use crate::both_stores;
use crate::metrics::{Env, env};
use crate::support::db::TestStore;

both_stores!(
    ranks_and_explains_matching_conversations,
    returned_opportunities_are_not_new_again,
    the_daily_cap_holds_back_the_rest,
    a_rate_limited_platform_is_reported_and_the_other_searched,
    periodic_jobs_collect_metrics_and_score_opportunities,
);

fn strategy(cap: u32) -> Strategy {
    Strategy::parse(
        &format!(
            "daily_cap = {cap}\nper_query = 50\n\
             [[pillars]]\nname = \"scheduling\"\nkeywords = [\"scheduler\", \"cron\"]\nphrases = [\"social media\"]\n\
             [[pillars]]\nname = \"rust\"\nkeywords = [\"rust\"]\n"
        ),
        Path::new("test.toml"),
    )
    .unwrap()
}

/// Conversations on both fakes: relevant ones with engagement, an irrelevant one, and
/// one by the connected account itself.
fn seed(e: &Env) -> Vec<String> {
    let alice = e.x.add_user("alice");
    let bob = e.x.add_user("bob");
    let fresh = now() - Duration::minutes(30);
    let hot = e.x.seed_post(
        &alice,
        "Our scheduler for social media posts now retries on cron",
        fresh,
    );
    e.x.set_metrics(
        &hot,
        FakeMetrics {
            likes: 60,
            replies: 12,
            retweets: 8,
            ..FakeMetrics::default()
        },
    );
    let calm =
        e.x.seed_post(&bob, "a cron job question", now() - Duration::hours(3));
    e.x.set_metrics(
        &calm,
        FakeMetrics {
            likes: 3,
            ..FakeMetrics::default()
        },
    );
    e.x.seed_post(&bob, "lunch was great today", fresh);
    e.x.seed_post(&e.x_user, "my own scheduler post", fresh);
    let carol = e.bsky.add_account("carol.test");
    let sky = e
        .bsky
        .seed_post(&carol, "Writing a Rust scheduler for social media", fresh);
    e.bsky.set_metrics(
        &sky,
        FakeBskyMetrics {
            likes: 40,
            reposts: 6,
            replies: 9,
            quotes: 1,
        },
    );
    vec![hot, calm, sky]
}

async fn score(
    t: &TestStore,
    e: &Env,
    strategy: &Strategy,
    input: &ScoreOpportunitiesInput,
) -> ScoreOpportunitiesOutput {
    let cx = Ctx::new(t.store.as_ref(), &t.settings, "test");
    run(cx, &e.access, strategy, input, &|_| {}).await.unwrap()
}

async fn ranks_and_explains_matching_conversations(t: &TestStore) {
    let e = env(t).await;
    let ids = seed(&e);
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let cx = Ctx::new(t.store.as_ref(), &t.settings, "test");
    let out = run(
        cx,
        &e.access,
        &strategy(20),
        &ScoreOpportunitiesInput::default(),
        &move |p| sink.lock().unwrap().push((p.done, p.total)),
    )
    .await
    .unwrap();
    // Four terms (scheduler, cron, social media, rust) on two platforms.
    assert_eq!(out.searches, 8, "{}", out.summary());
    assert_eq!(heard.lock().unwrap().last(), Some(&(8, 8)));
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    let found: Vec<&str> = out
        .opportunities
        .iter()
        .map(|o| o.platform_post_id.as_str())
        .collect();
    assert!(
        found.contains(&ids[0].as_str()) && found.contains(&ids[2].as_str()),
        "{}",
        out.summary()
    );
    assert!(
        out.opportunities
            .iter()
            .all(|o| !o.text.contains("my own") && !o.text.contains("lunch")),
        "own and irrelevant posts are left out"
    );
    for w in out.opportunities.windows(2) {
        assert!(w[0].score >= w[1].score, "ranked best first");
    }
    for o in &out.opportunities {
        assert!(o.score >= 40.0 && o.tier != Tier::Dropped, "{o:?}");
        assert_eq!(o.tier, Tier::of(o.score));
        assert!(o.id.starts_with("opp_") && !o.seen_before);
        assert!(
            o.reason.contains(o.tier.as_str()) && o.reason.contains(&o.pillar),
            "{}",
            o.reason
        );
        assert!(o.factors.relevance > 0.0 && o.factors.window > 0.5);
    }
    let hot = out
        .opportunities
        .iter()
        .find(|o| o.platform_post_id == ids[0])
        .unwrap();
    assert_eq!(hot.platform, Platform::X);
    assert_eq!(hot.pillar, "scheduling");
    assert_eq!(hot.matched, vec!["scheduler", "cron", "social media"]);
    assert_eq!(hot.author.handle.as_deref(), Some("alice"));
    assert_eq!(hot.author.followers, Some(1000));
    assert_eq!(hot.tier, Tier::ActNow, "{}", hot.reason);
    let sky = out
        .opportunities
        .iter()
        .find(|o| o.platform_post_id == ids[2])
        .unwrap();
    assert_eq!(sky.platform, Platform::Bluesky);
    let stored = t.store.list_opportunities(None, 50).await.unwrap();
    assert_eq!(stored.len(), out.opportunities.len());
    assert_eq!(stored[0].id, out.opportunities[0].id);
    assert_eq!(
        stored[0].breakdown["tier"],
        serde_json::json!(out.opportunities[0].tier)
    );
}

async fn returned_opportunities_are_not_new_again(t: &TestStore) {
    let e = env(t).await;
    seed(&e);
    let s = strategy(20);
    let first = score(t, &e, &s, &ScoreOpportunitiesInput::default()).await;
    assert!(!first.opportunities.is_empty());
    let second = score(t, &e, &s, &ScoreOpportunitiesInput::default()).await;
    assert!(second.opportunities.is_empty(), "{}", second.summary());
    assert_eq!(second.already_seen as usize, first.opportunities.len());
    let with_seen = ScoreOpportunitiesInput {
        include_seen: true,
        ..ScoreOpportunitiesInput::default()
    };
    let third = score(t, &e, &s, &with_seen).await;
    assert_eq!(third.opportunities.len(), first.opportunities.len());
    for o in &third.opportunities {
        assert!(o.seen_before);
        assert!(
            first.opportunities.iter().any(|f| f.id == o.id),
            "same ids as first returned"
        );
    }
    assert_eq!(
        t.store.list_opportunities(None, 50).await.unwrap().len(),
        first.opportunities.len()
    );
}

async fn the_daily_cap_holds_back_the_rest(t: &TestStore) {
    let e = env(t).await;
    seed(&e);
    let s = strategy(1);
    let first = score(t, &e, &s, &ScoreOpportunitiesInput::default()).await;
    assert_eq!(first.opportunities.len(), 1, "{}", first.summary());
    assert!(first.over_daily_cap >= 1);
    assert_eq!(first.daily_cap, 1);
    let second = score(t, &e, &s, &ScoreOpportunitiesInput::default()).await;
    assert!(second.opportunities.is_empty());
    assert_eq!(
        second.over_daily_cap, first.over_daily_cap,
        "held back, not stored"
    );
    assert_eq!(t.store.list_opportunities(None, 50).await.unwrap().len(), 1);
}

async fn a_rate_limited_platform_is_reported_and_the_other_searched(t: &TestStore) {
    let e = env(t).await;
    let ids = seed(&e);
    e.x.inject(
        Endpoint::Search,
        Fault::rate_limited(StdDuration::from_secs(900)),
        10,
    );
    let out = score(t, &e, &strategy(20), &ScoreOpportunitiesInput::default()).await;
    assert_eq!(out.skipped.len(), 1, "{:?}", out.skipped);
    let skip = &out.skipped[0];
    assert_eq!(skip.platform, Platform::X);
    assert!(
        skip.retry_at
            .is_some_and(|r| r > now() + Duration::minutes(10))
    );
    assert!(skip.reason.contains("rate-limited"), "{}", skip.reason);
    assert_eq!(out.searches, 5, "one X search, then four on Bluesky");
    assert!(
        out.opportunities
            .iter()
            .all(|o| o.platform == Platform::Bluesky)
    );
    assert!(
        out.opportunities
            .iter()
            .any(|o| o.platform_post_id == ids[2])
    );
    // Filtering by pillar and platform narrows the searches.
    e.x.clear_faults();
    let only = ScoreOpportunitiesInput {
        pillar: Some("rust".into()),
        platforms: Some(vec![Platform::X]),
        ..ScoreOpportunitiesInput::default()
    };
    assert_eq!(score(t, &e, &strategy(20), &only).await.searches, 1);
    let cx = Ctx::new(t.store.as_ref(), &t.settings, "test");
    let unknown = ScoreOpportunitiesInput {
        pillar: Some("gardening".into()),
        ..ScoreOpportunitiesInput::default()
    };
    let err = run(cx, &e.access, &strategy(20), &unknown, &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("gardening"), "{err}");
}

/// The analytics jobs as the scheduler registers and runs them.
async fn periodic_jobs_collect_metrics_and_score_opportunities(t: &TestStore) {
    use psn::scheduler::cron::JobContext;
    let e = env(t).await;
    let ids = seed(&e);
    let mine =
        e.x.seed_post(&e.x_user, "our launch", now() - Duration::hours(1));
    crate::metrics::publish_all(t, &[crate::metrics::published(&e.x_account, &mine, 60)]).await;
    let dir = tempfile::tempdir().unwrap();
    let strategy = dir.path().join("strategy.toml");
    std::fs::write(
        &strategy,
        "[[pillars]]\nname = \"s\"\nkeywords = [\"scheduler\"]\n",
    )
    .unwrap();
    let mut settings = t.settings.clone();
    settings.platforms.x_base_url = Some(e.x.base_url().to_owned());
    settings.platforms.bluesky_pds_url = Some(e.bsky.base_url().to_owned());
    settings.vault.key = Some(e.key.clone());
    settings.jobs.strategy_file = Some(strategy);
    settings.jobs.active_hours = (0, 24);
    let jobs = |settings: &psn::config::Settings| {
        // Without a vault the token refresh job has nothing to open, so it is left out.
        psn::scheduler::runtime::jobs(
            settings,
            &psn::scheduler::runtime::platforms(settings),
            None,
        )
    };
    let with_vault = psn::scheduler::runtime::jobs(
        &settings,
        &psn::scheduler::runtime::platforms(&settings),
        Some(std::sync::Arc::new(psn::vault::Vault::generate().0)),
    );
    let names: Vec<&str> = with_vault.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["token_refresh", "metrics", "engagement"]);
    let registry = jobs(&settings);
    let names: Vec<&str> = registry.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["metrics", "engagement"]);
    for job in &registry.jobs {
        let ran = (job.body)(JobContext {
            store: t.store.clone(),
            tick: now(),
        })
        .await;
        assert_eq!(ran, Ok(()), "{}", job.name);
    }
    assert_eq!(
        t.store
            .published_posts(&psn::store::PublishedFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()[0]
            .engagement_score,
        Some(0.0)
    );
    let stored = t.store.list_opportunities(None, 10).await.unwrap();
    assert!(
        stored.iter().any(|o| o.platform_post_id == ids[0]),
        "{stored:?}"
    );

    // Outside the active hours the monitor does nothing; `off` removes a job.
    settings.jobs.active_hours = (3, 4);
    settings.timezone = chrono_tz::UTC;
    settings.jobs.metrics_cron = None;
    let registry = jobs(&settings);
    assert_eq!(registry.jobs.len(), 1);
    settings.jobs.engagement_cron = Some("not a cron".into());
    assert!(jobs(&settings).jobs.is_empty(), "a bad cron is left out");
}
