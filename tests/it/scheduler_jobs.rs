//! The scheduler's own periodic jobs, run as the registry runs them.

use std::sync::Arc;

use psn::domain::{Account, AccountId, AccountStatus, Platform, now};
use psn::platforms::fake::FakeX;
use psn::scheduler::cron::JobContext;
use psn::scheduler::runtime;
use psn::vault::Vault;

use crate::both_stores;
use crate::support::db::TestStore;

both_stores!(token_refresh_job_renews_tokens_that_expire_soon);

async fn token_refresh_job_renews_tokens_that_expire_soon(t: &TestStore) {
    let fake = FakeX::start().await.unwrap();
    let user = fake.add_user("expiring");
    let vault = Arc::new(Vault::generate().0);
    let mut creds = fake.credentials(&user);
    let soon = now() + chrono::Duration::minutes(5);
    creds.expires_at = Some(soon);
    let old_refresh = creds.refresh_token.clone().unwrap();
    let id = AccountId::new();
    let account = Account {
        credentials: Some(vault.seal_credentials(&id, Platform::X, &creds)),
        id,
        platform: Platform::X,
        handle: user.username.clone(),
        display_name: None,
        platform_user_id: Some(user.id.clone()),
        server_url: None,
        token_expires_at: Some(soon),
        scopes: None,
        status: AccountStatus::Active,
        last_error: None,
        created_at: now(),
        updated_at: now(),
    };
    t.store.upsert_account(&account).await.unwrap();

    let mut settings = t.settings.clone();
    settings.platforms.x_base_url = Some(fake.base_url().to_owned());
    settings.platforms.x_client_id = Some(psn::platforms::fake::x::CLIENT_ID.to_owned());
    let registry = runtime::jobs(
        &settings,
        &runtime::platforms(&settings),
        Some(vault.clone()),
    );
    let job = registry
        .jobs
        .iter()
        .find(|j| j.name == "token_refresh")
        .expect("token_refresh is registered");
    (job.body)(JobContext {
        store: t.store.clone(),
        tick: now(),
    })
    .await
    .unwrap();

    let stored = t.store.get_account(&account.id).await.unwrap();
    assert!(
        stored.token_expires_at.unwrap() > soon + chrono::Duration::minutes(30),
        "{:?}",
        stored.token_expires_at
    );
    assert!(
        !fake.refresh_token_valid(old_refresh.expose()),
        "the single-use refresh token was spent"
    );
    let opened = vault.open_account(&stored).unwrap();
    assert!(
        fake.refresh_token_valid(opened.refresh_token.unwrap().expose()),
        "the rotated refresh token was stored"
    );
}
