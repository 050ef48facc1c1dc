//! Crash test: `psn scheduler` runs as a child process publishing 500 posts to the fake X
//! and is killed with SIGKILL at random moments, at least 20 times, and restarted each
//! time. Afterwards no post may have been published twice, and none may be lost: each is
//! published (and on the fake exactly once), or failed / needs_reconcile with a reason.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use psn::domain::{Account, AccountId, AccountStatus, GroupId, NewPost, Platform, Post, PostContent, PostPart, PostStatus, now};
use psn::platforms::fake::FakeX;
use psn::store::{PageRequest, PostFilter};
use psn::vault::Vault;

use crate::both_stores;
use crate::support::db::TestStore;

both_stores!(kill_9_while_publishing_never_doubles_or_loses_a_post);

const POSTS: usize = 500;
const KILLS: usize = 20;

struct Child9 {
    child: Child,
}

impl Drop for Child9 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(env: &[(String, String)], log: &std::path::Path) -> Child9 {
    let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_psn"));
    cmd.arg("scheduler")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    Child9 { child: cmd.spawn().expect("spawn psn scheduler") }
}

async fn all_posts(t: &TestStore) -> Vec<Post> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = t.store.list_posts(&PostFilter::default(), &page).await.unwrap();
        out.extend(got.items);
        match got.next_cursor {
            Some(c) => page.after = Some(psn::store::Cursor::decode(&c).unwrap()),
            None => return out,
        }
    }
}

async fn kill_9_while_publishing_never_doubles_or_loses_a_post(t: &TestStore) {
    let fake = FakeX::start().await.unwrap();
    let user = fake.add_user("crash_test");
    let (vault, key) = Vault::generate();
    let at = now();
    let account = Account {
        id: AccountId::new(),
        platform: Platform::X,
        handle: user.username.clone(),
        display_name: None,
        platform_user_id: Some(user.id.clone()),
        server_url: None,
        credentials: None,
        token_expires_at: None,
        scopes: None,
        status: AccountStatus::Active,
        last_error: None,
        created_at: at,
        updated_at: at,
    };
    let creds = fake.credentials(&user);
    let account = Account {
        credentials: Some(vault.seal_credentials(&account.id, Platform::X, &creds)),
        token_expires_at: creds.expires_at,
        ..account
    };
    t.store.upsert_account(&account).await.unwrap();

    // 500 posts falling due over the first few seconds.
    let posts: Vec<Post> = (0..POSTS)
        .map(|i| {
            let mut p = NewPost {
                group_id: GroupId::new(),
                platform: Platform::X,
                account_id: Some(account.id.clone()),
                content: PostContent { parts: vec![PostPart { text: format!("crash test post #{i}"), media: vec![] }] },
                max_attempts: 10,
                created_by: "crash-test".into(),
            }
            .into_post(at);
            let due = at + chrono::Duration::milliseconds((i as i64 * 8_000) / POSTS as i64);
            p.status = PostStatus::Scheduled;
            p.scheduled_at = Some(due);
            p.run_at = Some(due);
            p
        })
        .collect();
    for chunk in posts.chunks(100) {
        t.store.insert_posts(chunk, "crash-test").await.unwrap();
    }

    let url = t.url.clone().unwrap_or_else(|| t.settings.database.url.as_ref().unwrap().expose().to_owned());
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("PSN_DATABASE_URL", url.as_str()),
        ("PSN_DATA_DIR", dir.path().to_str().unwrap()),
        ("PSN_ENCRYPTION_KEY", key.expose()),
        ("PSN_X_BASE_URL", fake.base_url()),
        ("PSN_SCHEDULER_LEASE_SECS", "5"),
        ("PSN_SCHEDULER_RECONCILE_DELAY_SECS", "0"),
        ("PSN_SCHEDULER_BATCH_SIZE", "16"),
        ("PSN_SCHEDULER_POLL_SECS", "1"),
        ("PSN_SCHEDULER_INSTANCE", "crash-child"),
        ("PSN_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let log = dir.path().join("scheduler.log");

    let mut kills = 0;
    while kills < KILLS {
        let child = spawn(&env, &log);
        tokio::time::sleep(Duration::from_millis(rand::random_range(150..900))).await;
        drop(child); // SIGKILL
        kills += 1;
    }

    // A last run without interruption settles everything (expired leases, reconciliation).
    let settled = {
        let _child = spawn(&env, &log);
        let start = Instant::now();
        loop {
            let open = all_posts(t)
                .await
                .iter()
                .filter(|p| matches!(p.status, PostStatus::Scheduled | PostStatus::Publishing | PostStatus::NeedsReconcile))
                .count();
            if open == 0 || start.elapsed() > Duration::from_secs(120) {
                break open;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };

    let stored = all_posts(t).await;
    let mut by_status: HashMap<PostStatus, usize> = HashMap::new();
    let mut duplicates = 0;
    let mut lost = Vec::new();
    for p in &stored {
        *by_status.entry(p.status).or_default() += 1;
        let on_fake = fake.creates_with_text(&p.content.parts[0].text);
        if on_fake > 1 {
            duplicates += 1;
        }
        let accounted = match p.status {
            PostStatus::Published => on_fake == 1 && p.platform_post_id.is_some(),
            PostStatus::Failed | PostStatus::NeedsReconcile => p.last_error.is_some(),
            _ => false,
        };
        if !accounted {
            lost.push(format!("{} {} on_fake={on_fake} error={:?}", p.id, p.status, p.last_error));
        }
    }
    eprintln!(
        "crash test ({}): {} posts, {kills} SIGKILLs, published {}, failed {}, needs_reconcile {}, still open {settled}; \
         {} create requests reached the fake; duplicates {duplicates}, lost {}",
        t.store.backend().name(),
        stored.len(),
        by_status.get(&PostStatus::Published).copied().unwrap_or(0),
        by_status.get(&PostStatus::Failed).copied().unwrap_or(0),
        by_status.get(&PostStatus::NeedsReconcile).copied().unwrap_or(0),
        fake.create_requests(),
        lost.len()
    );
    if !lost.is_empty() || duplicates > 0 {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: String = tail.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        eprintln!("scheduler log (last lines):\n{tail}");
    }
    assert_eq!(stored.len(), POSTS);
    assert_eq!(duplicates, 0, "posts published twice");
    assert!(lost.is_empty(), "lost posts: {lost:#?}");
    assert!(kills >= KILLS);
}
