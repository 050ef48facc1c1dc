//! Posts and accounts for the benchmarks, loaded through `Store` (no SQL of our own).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    Account, AccountId, AccountStatus, GroupId, NewPost, Platform, Post, PostContent, PostPart,
    PostStatus, now,
};
use crate::platforms::fake::FakeX;
use crate::store::DynStore;
use crate::vault::Vault;

/// A post on X with this text, in `status`, due (or listed) at `at`.
pub fn post(
    text: String,
    status: PostStatus,
    at: Option<DateTime<Utc>>,
    account: Option<&AccountId>,
    created: DateTime<Utc>,
) -> Post {
    let mut p = NewPost {
        group_id: GroupId::new(),
        platform: Platform::X,
        account_id: account.cloned(),
        content: PostContent {
            parts: vec![PostPart {
                text,
                media: vec![],
            }],
        },
        max_attempts: 5,
        created_by: "bench".into(),
    }
    .into_post(created);
    p.status = status;
    p.scheduled_at = at;
    p.run_at = at;
    if at.is_some() {
        p.schedule_tz = Some("UTC".into());
    }
    p
}

/// The stored mix of a hub with history: 90 % published over the past three years, 5 %
/// scheduled over the next 90 days, 5 % drafts. `list_pending` (by default: the queue and
/// what needs attention) sees the 5 % scheduled.
fn history_post(i: usize, at: DateTime<Utc>) -> Post {
    let spread = |secs: i64| Duration::seconds((i as i64 * 7919) % secs);
    match i % 20 {
        0 => post(
            format!("queued bench post #{i}"),
            PostStatus::Scheduled,
            Some(at + Duration::hours(1) + spread(90 * 86_400)),
            None,
            at,
        ),
        1 => post(
            format!("draft bench post #{i}"),
            PostStatus::Draft,
            None,
            None,
            at - spread(365 * 86_400),
        ),
        _ => {
            let when = at - Duration::hours(1) - spread(3 * 365 * 86_400);
            post(
                format!("published bench post #{i}"),
                PostStatus::Published,
                Some(when),
                None,
                when,
            )
        }
    }
}

/// Loads `total` history posts in transactions of `chunk` posts, `parallel` loaders at
/// once (Postgres takes several writers; SQLite one).
pub async fn load_history(
    store: &DynStore,
    total: usize,
    chunk: usize,
    parallel: usize,
) -> anyhow::Result<()> {
    let at = now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut loaders = tokio::task::JoinSet::new();
    for _ in 0..parallel.max(1) {
        let store = store.clone();
        let next = next.clone();
        loaders.spawn(async move {
            loop {
                let start = next.fetch_add(chunk, std::sync::atomic::Ordering::Relaxed);
                if start >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                let posts: Vec<Post> = (start..(start + chunk).min(total))
                    .map(|i| history_post(i, at))
                    .collect();
                store.insert_posts(&posts, "bench").await?;
            }
        });
    }
    while let Some(done) = loaders.join_next().await {
        done??;
    }
    Ok(())
}

/// Connects a user of the fake X as an account: its tokens sealed with `vault`, the way
/// `psn connect x` stores them.
pub async fn connect_fake_x(
    store: &DynStore,
    fake: &FakeX,
    vault: &Vault,
) -> anyhow::Result<Account> {
    // A handle of its own: `upsert_account` would otherwise update an earlier run's account,
    // keeping that row's id, which the new sealed tokens are not bound to.
    let id = AccountId::new();
    let user = fake.add_user(&format!("psn_bench_{}", &id.as_str()[5..]));
    let creds = fake.credentials(&user);
    let at = now();
    let account = Account {
        credentials: Some(vault.seal_credentials(&id, Platform::X, &creds)),
        id,
        platform: Platform::X,
        handle: user.username.clone(),
        display_name: None,
        platform_user_id: Some(user.id.clone()),
        server_url: None,
        token_expires_at: creds.expires_at,
        scopes: None,
        status: AccountStatus::Active,
        last_error: None,
        created_at: at,
        updated_at: at,
    };
    Ok(store.upsert_account(&account).await?)
}
