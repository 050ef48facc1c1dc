//! The adapter contract suite: the same scenarios run through the real X and Bluesky
//! adapters against each platform's fake. Then platform-specific cases, and a canary test
//! that no token ever shows in logs or errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use psn::config::Secret;
use psn::domain::{Media, MediaKind, PostContent, PostPart};
use psn::platforms::bluesky::{BlueskyClient, new_tid, part_rkey};
use psn::platforms::fake::bluesky::{FakeAccount, FakeBskyMetrics};
use psn::platforms::fake::x::{FakeMetrics, FakeUser};
use psn::platforms::fake::{Endpoint, FakeBluesky, FakeX, Fault};
use psn::platforms::x::XClient;
use psn::platforms::{
    Credentials, Found, NoWitness, PlatformClient, PlatformError, PublishRequest, SearchQuery,
    Witness, http,
};

/// Counts how often an adapter said it was about to send a create.
#[derive(Default)]
struct CountingWitness(AtomicUsize);

#[async_trait]
impl Witness for CountingWitness {
    async fn request_sent(&self) -> Result<(), PlatformError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A witness whose lease was lost.
struct LostLease;

#[async_trait]
impl Witness for LostLease {
    async fn request_sent(&self) -> Result<(), PlatformError> {
        Err(PlatformError::LeaseLost {
            message: "another instance took the post".into(),
        })
    }
}

enum Fake {
    X(FakeX, FakeUser),
    Bluesky(FakeBluesky, FakeAccount),
}

/// One platform's fake, an adapter pointed at it, and credentials it accepts.
struct Env {
    client: Arc<dyn PlatformClient>,
    creds: Credentials,
    fake: Fake,
    /// Keeps temporary media files alive.
    dir: tempfile::TempDir,
}

/// Short time-outs so outcome-unknown cases finish quickly.
fn test_http() -> reqwest::Client {
    http::build_client(Duration::from_secs(2), Duration::from_millis(1500))
}

impl Env {
    async fn x() -> Env {
        let fake = FakeX::start().await.unwrap();
        let user = fake.add_user("psn_test");
        let creds = fake.credentials(&user);
        let client = XClient::new(
            fake.base_url(),
            Some(psn::platforms::fake::x::CLIENT_ID.to_owned()),
            None,
            test_http(),
        )
        .with_max_poll_wait(Duration::from_millis(10));
        Env {
            client: Arc::new(client),
            creds,
            fake: Fake::X(fake, user),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn bluesky() -> Env {
        let fake = FakeBluesky::start().await.unwrap();
        let account = fake.add_account("psn.test");
        let creds = fake.credentials(&account);
        let client = BlueskyClient::new(fake.base_url(), test_http());
        Env {
            client: Arc::new(client),
            creds,
            fake: Fake::Bluesky(fake, account),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Another adapter for the same fake, sharing nothing with `client`.
    fn fresh_client(&self) -> Arc<dyn PlatformClient> {
        match &self.fake {
            Fake::X(f, _) => Arc::new(XClient::new(
                f.base_url(),
                Some(psn::platforms::fake::x::CLIENT_ID.to_owned()),
                None,
                test_http(),
            )),
            Fake::Bluesky(f, _) => Arc::new(BlueskyClient::new(f.base_url(), test_http())),
        }
    }

    fn request(&self, parts: &[&str]) -> PublishRequest {
        PublishRequest {
            post_id: psn::domain::PostId::new().to_string(),
            content: PostContent {
                parts: parts
                    .iter()
                    .map(|t| PostPart {
                        text: (*t).to_owned(),
                        media: vec![],
                    })
                    .collect(),
            },
            publish_key: new_tid(),
            not_before: Utc::now() - chrono::Duration::seconds(1),
        }
    }

    fn image(&self, name: &str, alt: &str) -> Media {
        let path = self.dir.path().join(name);
        // A 1×1 PNG.
        let png: &[u8] = &[
            0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
            0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
        ];
        std::fs::write(&path, png).unwrap();
        Media {
            source: path.display().to_string(),
            kind: MediaKind::Image,
            mime: "image/png".into(),
            size_bytes: Some(png.len() as u64),
            alt: Some(alt.into()),
        }
    }

    fn inject(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        match &self.fake {
            Fake::X(f, _) => f.inject(endpoint, fault, times),
            Fake::Bluesky(f, _) => f.inject(endpoint, fault, times),
        }
    }

    fn inject_after(&self, endpoint: Endpoint, skip: u32, fault: Fault, times: u32) {
        match &self.fake {
            Fake::X(f, _) => f.inject_after(endpoint, skip, fault, times),
            Fake::Bluesky(f, _) => f.inject_after(endpoint, skip, fault, times),
        }
    }

    /// Live posts on the fake as (id, text, parent id).
    fn posts(&self) -> Vec<(String, String, Option<String>)> {
        match &self.fake {
            Fake::X(f, _) => f
                .posts()
                .into_iter()
                .map(|t| (t.id, t.text, t.reply_to))
                .collect(),
            Fake::Bluesky(f, _) => f
                .posts()
                .into_iter()
                .map(|r| (r.uri, r.text, r.reply_parent))
                .collect(),
        }
    }

    fn creates_with_text(&self, text: &str) -> usize {
        match &self.fake {
            Fake::X(f, _) => f.creates_with_text(text),
            Fake::Bluesky(f, _) => f.creates_with_text(text),
        }
    }

    fn create_requests(&self) -> u64 {
        match &self.fake {
            Fake::X(f, _) => f.create_requests(),
            Fake::Bluesky(f, _) => f.create_requests(),
        }
    }

    fn expire(&self, token: &Secret) {
        match &self.fake {
            Fake::X(f, _) => f.expire_access_token(token.expose()),
            Fake::Bluesky(f, _) => f.expire_access_token(token.expose()),
        }
    }

    fn refresh_valid(&self, token: &Secret) -> bool {
        match &self.fake {
            Fake::X(f, _) => f.refresh_token_valid(token.expose()),
            Fake::Bluesky(f, _) => f.refresh_token_valid(token.expose()),
        }
    }

    /// A post by somebody else, for search.
    fn seed_other(&self, text: &str) -> String {
        match &self.fake {
            Fake::X(f, _) => {
                let other = f.add_user("someone_else");
                f.seed_post(&other, text, Utc::now())
            }
            Fake::Bluesky(f, _) => {
                let other = f.add_account("someone.else");
                f.seed_post(&other, text, Utc::now())
            }
        }
    }

    fn set_likes(&self, id: &str, likes: u64) {
        match &self.fake {
            Fake::X(f, _) => f.set_metrics(
                id,
                FakeMetrics {
                    likes,
                    impressions: 10 * likes,
                    ..FakeMetrics::default()
                },
            ),
            Fake::Bluesky(f, _) => f.set_metrics(
                id,
                FakeBskyMetrics {
                    likes,
                    ..FakeBskyMetrics::default()
                },
            ),
        }
    }
}

/// Runs each scenario against both fakes.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod x {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Env::x().await).await;
                }
            )*
        }
        mod bluesky {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Env::bluesky().await).await;
                }
            )*
        }
    };
}

contract!(
    publishes_text_once,
    publishes_an_image_with_alt_text,
    publishes_a_thread_as_a_reply_chain,
    reads_metrics_with_partial_failure,
    searches_recent_posts,
    reconciles_a_lost_answer_as_found,
    reconciles_an_unsent_post_as_not_found,
    rate_limit_carries_the_reset_time,
    expired_token_refreshes_and_rotates,
    permanent_rejection_is_permanent,
    lost_lease_sends_nothing,
    deletes_a_post,
    concurrent_refreshes_spend_the_token_once,
);

async fn publishes_text_once(env: Env) {
    let req = env.request(&["hello from psn #launch"]);
    let witness = CountingWitness::default();
    let published = env
        .client
        .publish(&env.creds, &req, &witness)
        .await
        .unwrap();
    assert_eq!(witness.0.load(Ordering::SeqCst), 1);
    assert_eq!(published.part_ids, vec![published.platform_post_id.clone()]);
    assert!(published.url.is_some());
    let posts = env.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, published.platform_post_id);
    assert_eq!(posts[0].1, "hello from psn #launch");
    assert_eq!(env.creates_with_text("hello from psn #launch"), 1);
    let rl = env.client.rate_limit().expect("rate-limit headers seen");
    assert!(rl.limit.is_some() && rl.reset_at.is_some(), "{rl:?}");
}

async fn publishes_an_image_with_alt_text(env: Env) {
    let mut req = env.request(&["a picture"]);
    req.content.parts[0].media = vec![env.image("cat.png", "a cat on a keyboard")];
    let published = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap();
    match &env.fake {
        Fake::X(f, _) => {
            let post = &f.posts()[0];
            assert_eq!(post.id, published.platform_post_id);
            assert_eq!(post.media_ids.len(), 1);
            let media = f.media();
            assert_eq!(media[0].id, post.media_ids[0]);
            assert_eq!(media[0].category, "tweet_image");
            assert_eq!(media[0].alt_text.as_deref(), Some("a cat on a keyboard"));
        }
        Fake::Bluesky(f, _) => {
            let post = &f.posts()[0];
            assert_eq!(post.images.len(), 1);
            assert_eq!(post.images[0].alt, "a cat on a keyboard");
            assert_eq!(f.blobs()[0].cid, post.images[0].blob_cid);
            assert_eq!(f.blobs()[0].mime, "image/png");
        }
    }
}

async fn publishes_a_thread_as_a_reply_chain(env: Env) {
    let req = env.request(&["1/3 a thread", "2/3 goes on", "3/3 and ends"]);
    let witness = CountingWitness::default();
    let published = env
        .client
        .publish(&env.creds, &req, &witness)
        .await
        .unwrap();
    assert_eq!(
        witness.0.load(Ordering::SeqCst),
        1,
        "one witness, before the first create"
    );
    assert_eq!(published.part_ids.len(), 3);
    let posts = env.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].2, None);
    assert_eq!(posts[1].2.as_deref(), Some(published.part_ids[0].as_str()));
    assert_eq!(posts[2].2.as_deref(), Some(published.part_ids[1].as_str()));
    if let Fake::Bluesky(f, _) = &env.fake {
        let all = f.posts();
        assert!(
            all[1..]
                .iter()
                .all(|r| r.reply_root.as_deref() == Some(all[0].uri.as_str()))
        );
        for (k, r) in all.iter().enumerate() {
            assert_eq!(r.rkey, part_rkey(&req.publish_key, k));
        }
    }
}

async fn reads_metrics_with_partial_failure(env: Env) {
    let a = env
        .client
        .publish(&env.creds, &env.request(&["first"]), &NoWitness)
        .await
        .unwrap();
    let b = env
        .client
        .publish(&env.creds, &env.request(&["second"]), &NoWitness)
        .await
        .unwrap();
    env.set_likes(&a.platform_post_id, 7);
    let other = env.seed_other("somebody else's post");
    env.inject(
        Endpoint::Metrics,
        Fault::PartialMetrics {
            failing_ids: vec![b.platform_post_id.clone()],
        },
        1,
    );
    let ids = vec![
        a.platform_post_id.clone(),
        b.platform_post_id.clone(),
        other.clone(),
    ];
    let batch = env.client.metrics(&env.creds, &ids).await.unwrap();
    let of = |id: &str| batch.metrics.iter().find(|m| m.platform_post_id == id);
    assert_eq!(of(&a.platform_post_id).unwrap().likes, Some(7));
    assert!(
        of(&other).is_some(),
        "public metrics of others' posts: {batch:?}"
    );
    assert_eq!(batch.errors.len(), 1, "{batch:?}");
    assert_eq!(batch.errors[0].platform_post_id, b.platform_post_id);
}

async fn searches_recent_posts(env: Env) {
    env.seed_other("Rustaceans love exactly-once delivery");
    env.seed_other("unrelated chatter");
    env.seed_other("more rustaceans here");
    let page = env
        .client
        .search(
            &env.creds,
            &SearchQuery {
                query: "rustaceans".into(),
                limit: 10,
                since: Some(Utc::now() - chrono::Duration::hours(1)),
                latest: true,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.hits.len(), 2, "{page:?}");
    assert!(
        page.hits
            .iter()
            .all(|h| h.text.to_lowercase().contains("rustaceans"))
    );
    assert!(
        page.hits
            .iter()
            .all(|h| h.author_handle.is_some() && h.url.is_some())
    );
}

async fn reconciles_a_lost_answer_as_found(env: Env) {
    let req = env.request(&["did this go out?", "second part"]);
    if matches!(env.fake, Fake::Bluesky(..)) {
        // Bluesky checks its own record key at once after a lost answer; make that check
        // fail too, so the outcome stays unknown until reconciliation.
        env.inject(Endpoint::Lookup, Fault::server_error(503), 1);
    }
    // The fake creates each part, then answers too late for the client: unknown outcome.
    env.inject(
        Endpoint::Create,
        Fault::hang_after(Duration::from_millis(2500)),
        1,
    );
    let err = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    assert_eq!(
        env.posts().len(),
        1,
        "the first part exists on the platform"
    );
    match env.client.find(&env.creds, &req).await {
        Err(PlatformError::Permanent { message }) => {
            // X: part 1 is live, part 2 never went out. Neither "found" (a thread cut
            // short) nor "not found" (part 1 again): the error names the live part.
            assert!(matches!(env.fake, Fake::X(..)));
            assert!(message.contains(&env.posts()[0].0), "{message}");
            assert!(message.contains("partly published"), "{message}");
        }
        Ok(Found::No) => {
            // Bluesky reports a thread cut short as not there: a retry resumes it at the
            // same record keys without writing the first part again.
            assert!(matches!(env.fake, Fake::Bluesky(..)));
            let done = env
                .client
                .publish(&env.creds, &req, &NoWitness)
                .await
                .unwrap();
            assert_eq!(done.part_ids.len(), 2);
            assert_eq!(env.creates_with_text("did this go out?"), 1);
            assert_eq!(env.posts().len(), 2);
        }
        other => panic!("unexpected reconciliation of a thread cut short: {other:?}"),
    }
    // A single post lost the same way is found.
    let single = env.request(&["single lost answer"]);
    env.inject(Endpoint::Create, Fault::DropAfter, 1);
    if matches!(env.fake, Fake::Bluesky(..)) {
        env.inject(Endpoint::Lookup, Fault::server_error(503), 1);
    }
    let err = env
        .client
        .publish(&env.creds, &single, &NoWitness)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    let Found::Yes(p) = env.client.find(&env.creds, &single).await.unwrap() else {
        panic!("the post exists and must be found");
    };
    assert!(
        env.posts()
            .iter()
            .any(|(id, text, _)| id == &p.platform_post_id && text == "single lost answer")
    );
    assert_eq!(env.creates_with_text("single lost answer"), 1);
}

async fn reconciles_an_unsent_post_as_not_found(env: Env) {
    // A post with the same text from long before the claim does not count.
    if let Fake::X(f, user) = &env.fake {
        f.seed_post(user, "never sent", Utc::now() - chrono::Duration::hours(2));
    }
    let req = env.request(&["never sent"]);
    assert_eq!(env.client.find(&env.creds, &req).await.unwrap(), Found::No);
    // A connection refused before sending is a definite non-delivery.
    env.inject(Endpoint::Create, Fault::server_error(503), 1);
    let err = env
        .client
        .publish(
            &env.creds,
            &env.request(&["refused at the door"]),
            &NoWitness,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::Retryable { .. }), "{err:?}");
    assert_eq!(env.creates_with_text("refused at the door"), 0);
}

async fn rate_limit_carries_the_reset_time(env: Env) {
    env.inject(
        Endpoint::Create,
        Fault::rate_limited(Duration::from_secs(120)),
        1,
    );
    let before = Utc::now();
    let err = env
        .client
        .publish(&env.creds, &env.request(&["too fast"]), &NoWitness)
        .await
        .unwrap_err();
    let PlatformError::RateLimited { until, .. } = err else {
        panic!("expected RateLimited, got {err:?}");
    };
    let expected = before + chrono::Duration::seconds(120);
    assert!(
        (until - expected).num_seconds().abs() <= 3,
        "{until} vs {expected}"
    );
    assert_eq!(env.creates_with_text("too fast"), 0);
    assert_eq!(env.client.rate_limit().unwrap().remaining, Some(0));
}

async fn expired_token_refreshes_and_rotates(env: Env) {
    env.expire(&env.creds.access_token);
    let req = env.request(&["after refresh"]);
    let err = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::AuthExpired { .. }), "{err:?}");
    let fresh = env.client.refresh(&env.creds).await.unwrap();
    let old_refresh = env.creds.refresh_token.clone().unwrap();
    let new_refresh = fresh.refresh_token.clone().unwrap();
    assert_ne!(fresh.access_token, env.creds.access_token);
    assert_ne!(new_refresh, old_refresh, "the refresh token rotates");
    assert!(
        env.refresh_valid(&new_refresh),
        "the new refresh token is the one returned"
    );
    assert!(
        !env.refresh_valid(&old_refresh),
        "the old refresh token is spent"
    );
    assert_eq!(fresh.user_id, env.creds.user_id);
    assert!(fresh.expires_at.is_some_and(|t| t > Utc::now()));
    env.client.publish(&fresh, &req, &NoWitness).await.unwrap();
    assert_eq!(env.creates_with_text("after refresh"), 1);
    // A second refresh of the same (now spent) token through this adapter answers with
    // what the first one got, so two posts of one account refreshing at once both work.
    let twice = env.client.refresh(&env.creds).await.unwrap();
    assert_eq!(twice.access_token, fresh.access_token);
    // Anyone else trying the spent refresh token is refused.
    let again = env.fresh_client().refresh(&env.creds).await.unwrap_err();
    assert!(
        matches!(again, PlatformError::AuthExpired { .. }),
        "{again:?}"
    );
}

async fn concurrent_refreshes_spend_the_token_once(env: Env) {
    let (a, b) = tokio::join!(
        env.client.refresh(&env.creds),
        env.client.refresh(&env.creds)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.access_token, b.access_token);
    assert_eq!(a.refresh_token, b.refresh_token);
    assert!(env.refresh_valid(a.refresh_token.as_ref().unwrap()));
}

async fn permanent_rejection_is_permanent(env: Env) {
    env.inject(
        Endpoint::Create,
        Fault::reject("this post breaks the rules"),
        1,
    );
    let err = env
        .client
        .publish(&env.creds, &env.request(&["rejected"]), &NoWitness)
        .await
        .unwrap_err();
    let PlatformError::Permanent { message } = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(message.contains("this post breaks the rules"), "{message}");
    // The platform's own validation is reported in its own words.
    let too_long = "word ".repeat(100);
    let err = env
        .client
        .publish(&env.creds, &env.request(&[too_long.trim()]), &NoWitness)
        .await
        .unwrap_err();
    let PlatformError::Permanent { message } = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(
        message.contains("too long") || message.contains("300 graphemes"),
        "{message}"
    );
    assert_eq!(env.posts().len(), 0);
}

async fn lost_lease_sends_nothing(env: Env) {
    let mut req = env.request(&["not mine any more"]);
    req.content.parts[0].media = vec![env.image("dog.png", "a dog")];
    let err = env
        .client
        .publish(&env.creds, &req, &LostLease)
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::LeaseLost { .. }), "{err:?}");
    assert_eq!(env.create_requests(), 0);
}

async fn deletes_a_post(env: Env) {
    let p = env
        .client
        .publish(&env.creds, &env.request(&["short-lived"]), &NoWitness)
        .await
        .unwrap();
    env.client
        .delete(&env.creds, &p.platform_post_id)
        .await
        .unwrap();
    assert!(env.posts().is_empty());
}

// ---- X only ----

#[tokio::test]
async fn x_duplicate_and_usage_cap_are_permanent() {
    let env = Env::x().await;
    env.client
        .publish(&env.creds, &env.request(&["same words"]), &NoWitness)
        .await
        .unwrap();
    let err = env
        .client
        .publish(&env.creds, &env.request(&["same words"]), &NoWitness)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PlatformError::Permanent { message } if message.contains("duplicate content")),
        "{err:?}"
    );
    env.inject(Endpoint::Create, Fault::UsageCapped, 1);
    let err = env
        .client
        .publish(&env.creds, &env.request(&["capped"]), &NoWitness)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PlatformError::Permanent { message } if message.contains("usage cap")),
        "{err:?}"
    );
}

#[tokio::test]
async fn x_daily_limit_waits_for_the_24_hour_reset() {
    let env = Env::x().await;
    env.inject(
        Endpoint::Create,
        Fault::DailyLimit {
            reset_in_secs: 6 * 3600,
        },
        1,
    );
    let before = Utc::now();
    let err = env
        .client
        .publish(&env.creds, &env.request(&["one too many"]), &NoWitness)
        .await
        .unwrap_err();
    let PlatformError::RateLimited { until, message } = err else {
        panic!("expected RateLimited, got {err:?}");
    };
    let expected = before + chrono::Duration::hours(6);
    assert!(
        (until - expected).num_seconds().abs() <= 3,
        "{until} vs {expected}"
    );
    assert!(message.contains("24-hour"), "{message}");
}

#[tokio::test]
async fn x_5xx_on_create_is_unknown_unless_503() {
    let env = Env::x().await;
    env.inject(Endpoint::Create, Fault::server_error(500), 1);
    let err = env
        .client
        .publish(&env.creds, &env.request(&["five hundred"]), &NoWitness)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    env.inject(Endpoint::Search, Fault::server_error(500), 1);
    let err = env
        .client
        .search(
            &env.creds,
            &SearchQuery {
                query: "x".into(),
                limit: 10,
                since: None,
                latest: true,
                cursor: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::Retryable { .. }), "{err:?}");
}

#[tokio::test]
async fn x_thread_failing_midway_never_reposts_part_one() {
    let env = Env::x().await;
    env.inject_after(Endpoint::Create, 1, Fault::server_error(503), 1);
    let req = env.request(&["part one", "part two", "part three"]);
    let err = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap_err();
    let PlatformError::Permanent { message } = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    let live = env.posts();
    assert_eq!(live.len(), 1);
    assert!(
        message.contains(&live[0].0),
        "names the live part: {message}"
    );
    assert!(message.contains("part 2"), "{message}");
    assert_eq!(env.creates_with_text("part one"), 1);
}

#[tokio::test]
async fn x_chunked_video_upload_waits_for_processing() {
    let env = Env::x().await;
    let path = env.dir.path().join("clip.mp4");
    // Bigger than one 4 MB chunk, so it goes in two.
    std::fs::write(&path, vec![7u8; 5 * 1024 * 1024]).unwrap();
    let mut req = env.request(&["watch this"]);
    req.content.parts[0].media = vec![Media {
        source: path.display().to_string(),
        kind: MediaKind::Video,
        mime: "video/mp4".into(),
        size_bytes: None,
        alt: None,
    }];
    env.client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap();
    let Fake::X(f, _) = &env.fake else {
        unreachable!()
    };
    let media = f.media();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].segments, vec![0, 1]);
    assert_eq!(media[0].received_bytes, 5 * 1024 * 1024);
    assert_eq!(media[0].state, "succeeded");
    assert!(media[0].status_polls >= 2, "polled until processed");
    assert_eq!(f.posts()[0].media_ids, vec![media[0].id.clone()]);
}

#[tokio::test]
async fn x_reconciliation_matches_despite_link_rewriting() {
    let env = Env::x().await;
    let req = env.request(&["read https://example.com/post?a=1 & enjoy"]);
    env.inject(Endpoint::Create, Fault::DropAfter, 1);
    let err = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PlatformError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    let found = env.client.find(&env.creds, &req).await.unwrap();
    assert!(matches!(found, Found::Yes(_)), "{found:?}");
}

// ---- Bluesky only ----

#[tokio::test]
async fn bluesky_facets_resolve_mentions_to_dids() {
    let env = Env::bluesky().await;
    let Fake::Bluesky(f, _) = &env.fake else {
        unreachable!()
    };
    let friend = f.add_account("friend.bsky.social");
    let text = "héllo @friend.bsky.social see https://psn.dev #rust";
    env.client
        .publish(&env.creds, &env.request(&[text]), &NoWitness)
        .await
        .unwrap();
    let record = &f.posts()[0].record;
    let facets = record["facets"].as_array().unwrap();
    assert_eq!(facets.len(), 3);
    let mention = &facets[0];
    assert_eq!(mention["features"][0]["did"], friend.did.as_str());
    let (s, e) = (
        mention["index"]["byteStart"].as_u64().unwrap() as usize,
        mention["index"]["byteEnd"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[s..e], "@friend.bsky.social");
    assert_eq!(facets[1]["features"][0]["uri"], "https://psn.dev");
    assert_eq!(facets[2]["features"][0]["tag"], "rust");
}

#[tokio::test]
async fn bluesky_thread_retry_resumes_without_duplicates() {
    let env = Env::bluesky().await;
    env.inject_after(Endpoint::Create, 1, Fault::server_error(503), 1);
    let req = env.request(&["one", "two", "three"]);
    let err = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::Retryable { .. }), "{err:?}");
    let done = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap();
    assert_eq!(done.part_ids.len(), 3);
    let Fake::Bluesky(f, _) = &env.fake else {
        unreachable!()
    };
    for k in 0..3 {
        assert_eq!(f.creates_with_rkey(&part_rkey(&req.publish_key, k)), 1);
    }
    assert_eq!(
        env.client.find(&env.creds, &req).await.unwrap(),
        Found::Yes(done)
    );
}

#[tokio::test]
async fn bluesky_lost_answers_are_settled_at_once_by_record_key() {
    let env = Env::bluesky().await;
    let Fake::Bluesky(f, _) = &env.fake else {
        unreachable!()
    };
    // Part 1's answer is lost (the record exists), part 2's connection drops after the
    // create: both are found at their keys straight away and the thread completes.
    env.inject(
        Endpoint::Create,
        Fault::hang_after(Duration::from_millis(2500)),
        1,
    );
    env.inject_after(Endpoint::Create, 0, Fault::DropAfter, 1);
    let req = env.request(&["lost one", "lost two", "fine three"]);
    let done = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap();
    assert_eq!(done.part_ids.len(), 3);
    for k in 0..3 {
        assert_eq!(f.creates_with_rkey(&part_rkey(&req.publish_key, k)), 1);
    }
    let posts = f.posts();
    assert_eq!(
        posts[1].reply_parent.as_deref(),
        Some(posts[0].uri.as_str())
    );
    assert_eq!(
        posts[2].reply_parent.as_deref(),
        Some(posts[1].uri.as_str())
    );
}

#[tokio::test]
async fn bluesky_sessions_come_from_app_passwords() {
    let env = Env::bluesky().await;
    let Fake::Bluesky(f, account) = &env.fake else {
        unreachable!()
    };
    let client = BlueskyClient::new(f.base_url(), test_http());
    let creds = client
        .create_session(
            None,
            &account.handle,
            &Secret::new(account.app_password.clone()),
        )
        .await
        .unwrap();
    assert_eq!(creds.user_id.as_deref(), Some(account.did.as_str()));
    assert_eq!(creds.server_url.as_deref(), Some(f.base_url()));
    assert!(
        creds.expires_at.is_some_and(|t| t > Utc::now()),
        "expiry read from the JWT"
    );
    assert_eq!(f.sessions_created(), 1);
    // Logging in through another address of the server (an entryway): the session
    // names the PDS from the account's DID document, and later calls go there.
    let entryway = f.base_url().replace("127.0.0.1", "localhost");
    let via = client
        .create_session(
            Some(&entryway),
            &account.did,
            &Secret::new(account.app_password.clone()),
        )
        .await
        .unwrap();
    assert_eq!(via.server_url.as_deref(), Some(f.base_url()));
    let err = client
        .create_session(None, &account.handle, &Secret::new("wrong-pass-word-1234"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Invalid identifier or password"),
        "{err}"
    );
}

// ---- secrets ----

/// Keeps what an error shows, to search it for secrets.
fn record(shown: &mut Vec<String>, e: &PlatformError) {
    shown.push(format!("{e} {e:?}"));
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_token_appears_in_logs_or_errors() {
    const CANARY: &str = "canary-7d1f0c9e";
    let logs = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut shown: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = vec![CANARY.to_owned()];

    // X: a confidential client whose secret is the canary, a token that expires, a
    // refresh, a failed refresh, a rate limit and a transport failure.
    let x = Env::x().await;
    let Fake::X(fx, _) = &x.fake else {
        unreachable!()
    };
    let client = XClient::new(
        fx.base_url(),
        Some(psn::platforms::fake::x::CLIENT_ID.into()),
        Some(Secret::new(CANARY)),
        test_http(),
    );
    secrets.push(x.creds.access_token.expose().to_owned());
    secrets.push(x.creds.refresh_token.clone().unwrap().expose().to_owned());
    shown.push(format!("{client:?} {:?}", x.creds));
    client
        .publish(&x.creds, &x.request(&["canary run"]), &NoWitness)
        .await
        .unwrap();
    x.expire(&x.creds.access_token);
    record(
        &mut shown,
        &client
            .publish(&x.creds, &x.request(&["expired"]), &NoWitness)
            .await
            .unwrap_err(),
    );
    let fresh = client.refresh(&x.creds).await.unwrap();
    secrets.push(fresh.access_token.expose().to_owned());
    secrets.push(fresh.refresh_token.clone().unwrap().expose().to_owned());
    shown.push(format!("{fresh:?}"));
    record(
        &mut shown,
        &x.fresh_client().refresh(&x.creds).await.unwrap_err(),
    );
    fx.inject(
        Endpoint::Create,
        Fault::rate_limited(Duration::from_secs(60)),
        1,
    );
    record(
        &mut shown,
        &client
            .publish(&fresh, &x.request(&["limited"]), &NoWitness)
            .await
            .unwrap_err(),
    );
    fx.inject(Endpoint::Create, Fault::DropAfter, 1);
    record(
        &mut shown,
        &client
            .publish(&fresh, &x.request(&["dropped"]), &NoWitness)
            .await
            .unwrap_err(),
    );
    let mut canary_creds = fresh.clone();
    canary_creds.access_token = Secret::new(CANARY);
    record(
        &mut shown,
        &client
            .publish(&canary_creds, &x.request(&["bad token"]), &NoWitness)
            .await
            .unwrap_err(),
    );

    // Bluesky: an app password that is the canary, a session, an expired JWT, a refresh.
    let b = Env::bluesky().await;
    let Fake::Bluesky(fb, _) = &b.fake else {
        unreachable!()
    };
    let bclient = BlueskyClient::new(fb.base_url(), test_http());
    record(
        &mut shown,
        &bclient
            .create_session(None, "psn.test", &Secret::new(CANARY))
            .await
            .unwrap_err(),
    );
    secrets.push(b.creds.access_token.expose().to_owned());
    secrets.push(b.creds.refresh_token.clone().unwrap().expose().to_owned());
    b.expire(&b.creds.access_token);
    record(
        &mut shown,
        &bclient
            .publish(&b.creds, &b.request(&["expired"]), &NoWitness)
            .await
            .unwrap_err(),
    );
    let fresh = bclient.refresh(&b.creds).await.unwrap();
    secrets.push(fresh.access_token.expose().to_owned());
    secrets.push(fresh.refresh_token.clone().unwrap().expose().to_owned());
    shown.push(format!("{fresh:?} {bclient:?}"));
    record(
        &mut shown,
        &b.fresh_client().refresh(&b.creds).await.unwrap_err(),
    );
    bclient
        .publish(&fresh, &b.request(&["canary run"]), &NoWitness)
        .await
        .unwrap();

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("published on X"), "the capture works: {logs}");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        for s in &shown {
            assert!(!s.contains(secret.as_str()), "a secret is shown: {s}");
        }
    }
}

#[tokio::test]
async fn x_find_follows_a_whole_thread() {
    let env = Env::x().await;
    let req = env.request(&["thread head", "thread middle", "thread tail"]);
    let published = env
        .client
        .publish(&env.creds, &req, &NoWitness)
        .await
        .unwrap();
    // Every part is found by following replied_to from the head.
    assert_eq!(
        env.client.find(&env.creds, &req).await.unwrap(),
        Found::Yes(published)
    );
}

// ---- the fakes from another process ----

#[tokio::test]
async fn fakes_are_driven_over_http_by_other_processes() {
    use psn::domain::Platform;
    use psn::platforms::fake::serve_fake;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let browser = test_http();
    for platform in [Platform::X, Platform::Bluesky] {
        let fake = serve_fake(platform, addr).await.unwrap();
        let base = fake.base_url().to_owned();
        let user: serde_json::Value = browser
            .post(format!("{base}/_fake/users"))
            .json(&serde_json::json!({ "handle": "remote.test" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let creds = Credentials {
            access_token: Secret::new(user["access_token"].as_str().unwrap()),
            refresh_token: Some(Secret::new(user["refresh_token"].as_str().unwrap())),
            expires_at: None,
            user_id: Some(user["id"].as_str().unwrap().to_owned()),
            handle: "remote.test".into(),
            server_url: Some(base.clone()),
        };
        let client: Arc<dyn PlatformClient> = match platform {
            Platform::X => Arc::new(XClient::new(&base, None, None, test_http())),
            _ => Arc::new(BlueskyClient::new(&base, test_http())),
        };
        let fault = serde_json::json!({
            "endpoint": "create", "fault": { "kind": "server_error", "status": 503 }, "times": 1,
        });
        let status = browser
            .post(format!("{base}/_fake/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 204);
        let req = PublishRequest {
            post_id: "post_remote".into(),
            content: PostContent {
                parts: vec![PostPart {
                    text: "from afar".into(),
                    media: vec![],
                }],
            },
            publish_key: new_tid(),
            not_before: Utc::now(),
        };
        let err = client.publish(&creds, &req, &NoWitness).await.unwrap_err();
        assert!(matches!(err, PlatformError::Retryable { .. }), "{err:?}");
        client.publish(&creds, &req, &NoWitness).await.unwrap();
        let state: serde_json::Value = browser
            .get(format!("{base}/_fake/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let posts = state["posts"].as_array().unwrap();
        assert_eq!(posts.len(), 1, "{platform}: {state}");
        assert_eq!(posts[0]["text"], "from afar");
        assert_eq!(state["create_requests"], 2);
    }
    assert!(serve_fake(Platform::Linkedin, addr).await.is_err());
}

#[tokio::test]
async fn media_can_come_from_a_url() {
    // A tiny file server standing in for wherever the user's image lives.
    let png = vec![0x89u8, b'P', b'N', b'G', 1, 2, 3, 4];
    let served = png.clone();
    let app = axum::Router::new().route(
        "/cat.png",
        axum::routing::get(move || {
            let body = served.clone();
            async move { ([("content-type", "image/png")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    for env in [Env::x().await, Env::bluesky().await] {
        let mut req = env.request(&["from the web"]);
        req.content.parts[0].media = vec![Media {
            source: format!("{base}/cat.png"),
            kind: MediaKind::Image,
            mime: "image/png".into(),
            size_bytes: None,
            alt: Some("a cat".into()),
        }];
        env.client
            .publish(&env.creds, &req, &NoWitness)
            .await
            .unwrap();
        match &env.fake {
            Fake::X(f, _) => assert_eq!(f.media()[0].total_bytes, png.len()),
            Fake::Bluesky(f, _) => assert_eq!(f.blobs()[0].size, png.len()),
        }
        // A URL that is not there is a permanent failure before anything is sent.
        let mut missing = env.request(&["missing picture"]);
        missing.content.parts[0].media = vec![Media {
            source: format!("{base}/dog.png"),
            kind: MediaKind::Image,
            mime: "image/png".into(),
            size_bytes: None,
            alt: None,
        }];
        let err = env
            .client
            .publish(&env.creds, &missing, &CountingWitness::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PlatformError::Permanent { message } if message.contains("404")),
            "{err:?}"
        );
        assert_eq!(env.creates_with_text("missing picture"), 0);
    }

    // A video by URL goes through X's chunked upload.
    let x = Env::x().await;
    let mut req = x.request(&["a clip from the web"]);
    req.content.parts[0].media = vec![Media {
        source: format!("{base}/cat.png"),
        kind: MediaKind::Video,
        mime: "video/mp4".into(),
        size_bytes: None,
        alt: None,
    }];
    x.client.publish(&x.creds, &req, &NoWitness).await.unwrap();
    let Fake::X(f, _) = &x.fake else {
        unreachable!()
    };
    let media = f.media();
    assert_eq!(
        (media[0].received_bytes, media[0].state.as_str()),
        (png.len(), "succeeded")
    );
}

#[tokio::test]
async fn the_fakes_refuse_what_the_platforms_refuse() {
    let http = test_http();
    // X: unknown fields, a missing or unknown token, too many metrics ids.
    let x = Env::x().await;
    let Fake::X(fx, _) = &x.fake else {
        unreachable!()
    };
    let token = x.creds.access_token.expose();
    let post = |body: serde_json::Value, token: Option<&str>| {
        let mut req = http.post(format!("{}/2/tweets", fx.base_url())).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let r = post(serde_json::json!({ "text": "hi", "foo": 1 }), Some(token))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("$.foo"));
    let r = post(serde_json::json!({ "text": "hi" }), None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = post(serde_json::json!({ "text": "hi" }), Some("made-up"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let ids: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let r = http
        .get(format!("{}/2/tweets", fx.base_url()))
        .bearer_auth(token)
        .query(&[("ids", ids.join(","))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(fx.posts().len(), 0);

    // Bluesky: record type, record key format, the repo of somebody else.
    let b = Env::bluesky().await;
    let Fake::Bluesky(fb, account) = &b.fake else {
        unreachable!()
    };
    let create = |body: serde_json::Value| {
        http.post(format!(
            "{}/xrpc/com.atproto.repo.createRecord",
            fb.base_url()
        ))
        .bearer_auth(b.creds.access_token.expose())
        .json(&body)
        .send()
    };
    let record = |t: &str| serde_json::json!({ "$type": t, "text": "hi", "createdAt": "2026-01-01T00:00:00.000Z" });
    let cases = [
        (
            serde_json::json!({ "repo": account.did, "collection": "app.bsky.feed.post", "record": record("app.bsky.feed.like") }),
            "InvalidRecord",
        ),
        (
            serde_json::json!({ "repo": account.did, "collection": "app.bsky.feed.post", "rkey": "post-1", "record": record("app.bsky.feed.post") }),
            "InvalidRequest",
        ),
        (
            serde_json::json!({ "repo": "did:plc:someoneelse", "collection": "app.bsky.feed.post", "record": record("app.bsky.feed.post") }),
            "InvalidRequest",
        ),
    ];
    for (body, error) in cases {
        let r = create(body).await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], error, "{v}");
    }
    assert_eq!(fb.posts().len(), 0);
}
