//! Connecting accounts and rotating the key, end to end through the real binary against
//! the fake X authorization server and the fake Bluesky PDS.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use psn::config::{Secret, Settings};
use psn::domain::{Account, AccountId, AccountStatus, Platform};
use psn::platforms::fake::{FakeBluesky, FakeX};
use psn::platforms::x::XClient;
use psn::platforms::{Credentials, NoWitness, PlatformClient, PublishRequest, http};
use psn::store::DynStore;
use psn::vault::{Tokens, Vault};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

fn psn(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_psn"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PSN_DATA_DIR", dir)
        .env(
            "PSN_DATABASE_URL",
            format!("sqlite://{}", dir.join("psn.db").display()),
        )
        .env("PSN_LOG", "warn")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn settings(dir: &Path) -> Settings {
    let mut s = Settings::defaults(dir.to_owned());
    s.database.url = Some(Secret::new(format!(
        "sqlite://{}",
        dir.join("psn.db").display()
    )));
    s
}

async fn store(dir: &Path) -> DynStore {
    psn::store::open(&settings(dir)).await.unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs `psn connect x` and plays the browser: opens the printed URL, which the fake
/// approves and redirects to psn's loopback listener.
async fn connect_x(dir: &Path, fake: &FakeX) -> (bool, String, String) {
    let auth_url = fake.authorize_url();
    let mut child = psn(
        dir,
        &[
            ("PSN_X_BASE_URL", fake.base_url()),
            ("PSN_X_AUTH_URL", &auth_url),
            ("PSN_X_CLIENT_ID", psn::platforms::fake::x::CLIENT_ID),
        ],
    )
    .args(["connect", "x", "--timeout", "30", "--no-browser"])
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match lines.next_line().await.unwrap() {
                Some(l) if l.starts_with("http") => break l,
                Some(_) => continue,
                None => panic!("psn connect x printed no URL"),
            }
        }
    })
    .await
    .expect("the authorize URL within 30 s");
    assert!(url.starts_with(&auth_url), "{url}");
    let browser = http::client();
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("X is connected"));
    let mut rest = String::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        rest.push_str(&l);
        rest.push('\n');
    }
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.success(),
        rest,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_x_end_to_end_stores_sealed_tokens_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeX::start().await.unwrap();
    let user = fake.add_user("psn_test");
    fake.set_authorizing_user(&user);

    let (ok, stdout, stderr) = connect_x(dir.path(), &fake).await;
    assert!(ok, "psn connect x failed: {stderr}");
    assert!(stdout.contains("connected x account @psn_test"), "{stdout}");
    assert!(stderr.contains("created the encryption key"), "{stderr}");
    let key_file = dir.path().join("key");
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);

    let store = store(dir.path()).await;
    let accounts = store.list_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account.platform, Platform::X);
    assert_eq!(account.platform_user_id.as_deref(), Some(user.id.as_str()));
    assert!(account.token_expires_at.is_some());
    let vault = Vault::from_settings(&settings(dir.path()).vault).unwrap();
    let creds = vault.open_account(account).unwrap();
    assert!(creds.refresh_token.is_some());

    // The stored token is one the platform accepts.
    let client = XClient::new(
        fake.base_url(),
        Some(psn::platforms::fake::x::CLIENT_ID.into()),
        None,
        http::client(),
    );
    let req = PublishRequest {
        post_id: "post_connecttest1".into(),
        content: psn::domain::PostContent {
            parts: vec![psn::domain::PostPart {
                text: "connected".into(),
                media: vec![],
            }],
        },
        publish_key: "k".into(),
        not_before: chrono::Utc::now(),
    };
    client.publish(&creds, &req, &NoWitness).await.unwrap();
    assert_eq!(fake.creates_with_text("connected"), 1);

    // Connecting again replaces the tokens on the same account.
    let (ok, stdout, stderr) = connect_x(dir.path(), &fake).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("reconnected x account @psn_test"),
        "{stdout}"
    );
    let again = store.list_accounts().await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, account.id);
    let fresh = vault.open_account(&again[0]).unwrap();
    assert_ne!(fresh.access_token, creds.access_token);
    // Nothing secret was printed.
    for secret in [&creds.access_token, &fresh.access_token] {
        assert!(!stdout.contains(secret.expose()) && !stderr.contains(secret.expose()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_x_without_a_client_id_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = psn(dir.path(), &[])
        .args(["connect", "x", "--no-browser"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PSN_X_CLIENT_ID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_bluesky_reads_the_app_password_from_stdin_or_env() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeBluesky::start().await.unwrap();
    let account = fake.add_account("psn.test");

    // Standard input.
    let mut child = psn(dir.path(), &[("PSN_BLUESKY_PDS_URL", fake.base_url())])
        .args(["connect", "bluesky", "--handle", "@psn.test"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", account.app_password).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("connected bluesky account @psn.test"),
        "{stdout}"
    );
    assert!(!stdout.contains(&account.app_password) && !stderr.contains(&account.app_password));

    let store = store(dir.path()).await;
    let stored = store
        .find_account(Platform::Bluesky, "psn.test")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored.platform_user_id.as_deref(),
        Some(account.did.as_str())
    );
    assert_eq!(stored.server_url.as_deref(), Some(fake.base_url()));
    let vault = Vault::from_settings(&settings(dir.path()).vault).unwrap();
    let creds = vault.open_account(&stored).unwrap();
    assert!(fake.refresh_token_valid(creds.refresh_token.as_ref().unwrap().expose()));

    // The environment variable; a wrong password fails with Bluesky's words.
    let out = psn(
        dir.path(),
        &[
            ("PSN_BLUESKY_PDS_URL", fake.base_url()),
            ("PSN_BLUESKY_APP_PASSWORD", "nope-nope-nope-nope"),
        ],
    )
    .args(["connect", "bluesky", "--handle", "psn.test"])
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Invalid identifier or password"),
        "{stderr}"
    );
    assert!(!stderr.contains("nope-nope-nope-nope"), "{stderr}");
    let out = psn(
        dir.path(),
        &[
            ("PSN_BLUESKY_PDS_URL", fake.base_url()),
            ("PSN_BLUESKY_APP_PASSWORD", &account.app_password),
        ],
    )
    .args(["connect", "bluesky", "--handle", "psn.test"])
    .output()
    .await
    .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("reconnected bluesky account"));
    assert_eq!(fake.sessions_created(), 2);
}

fn tokens(n: usize) -> Tokens {
    Tokens {
        access_token: Secret::new(format!("access-{n}")),
        refresh_token: Some(Secret::new(format!("refresh-{n}"))),
        expires_at: None,
        user_id: Some(format!("user-{n}")),
        extras: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_reseals_every_account_and_keeps_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    assert!(psn::vault::ensure_key_file(&s.vault.key_file).unwrap());
    let old = Vault::from_settings(&s.vault).unwrap();
    let store = store(dir.path()).await;
    let mut ids = Vec::new();
    for (n, platform) in [Platform::X, Platform::Bluesky, Platform::X]
        .into_iter()
        .enumerate()
    {
        let id = AccountId::new();
        let now = psn::domain::now();
        store
            .upsert_account(&Account {
                id: id.clone(),
                platform,
                handle: format!("user{n}"),
                display_name: None,
                platform_user_id: None,
                server_url: None,
                credentials: Some(old.seal(&id, platform, &tokens(n))),
                token_expires_at: None,
                scopes: None,
                status: AccountStatus::Active,
                last_error: None,
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
        ids.push(id);
    }

    let out = psn(dir.path(), &[])
        .args(["keys", "rotate"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3 account(s) re-sealed"), "{stdout}");
    let kept = dir.path().join(format!("key.old-{}", old.key_id()));
    assert!(kept.exists(), "{stdout}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&kept), 0o600);
        assert_eq!(mode(&s.vault.key_file), 0o600);
    }

    // Every token still opens, under the new key, even with the old key file gone.
    std::fs::remove_file(&kept).unwrap();
    let new = Vault::from_settings(&s.vault).unwrap();
    assert_ne!(new.key_id(), old.key_id());
    for account in store.list_accounts().await.unwrap() {
        let sealed = account.credentials.as_ref().unwrap();
        assert_eq!(sealed.key_id, new.key_id());
        let n = ids.iter().position(|i| *i == account.id).unwrap();
        let creds: Credentials = new.open_account(&account).unwrap();
        assert_eq!(creds.access_token, tokens(n).access_token);
        assert_eq!(creds.refresh_token, tokens(n).refresh_token);
        // The old key alone no longer opens it, and says which key it needs.
        let msg = old.open_account(&account).unwrap_err().to_string();
        assert!(
            msg.contains(account.id.as_str()) && msg.contains(new.key_id()),
            "{msg}"
        );
    }

    // A key that comes from the environment cannot be rotated by rewriting a file.
    let out = psn(
        dir.path(),
        &[(
            "PSN_ENCRYPTION_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )],
    )
    .args(["keys", "rotate"])
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PSN_ENCRYPTION_KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rotation_leaves_every_account_readable_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    psn::vault::ensure_key_file(&s.vault.key_file).unwrap();
    let first = Vault::from_settings(&s.vault).unwrap();
    let store = store(dir.path()).await;
    let now = psn::domain::now();
    let account = |n: usize, vault: &Vault| {
        let id = AccountId::new();
        Account {
            credentials: Some(vault.seal(&id, Platform::X, &tokens(n))),
            id,
            platform: Platform::X,
            handle: format!("h{n}"),
            display_name: None,
            platform_user_id: None,
            server_url: None,
            token_expires_at: None,
            scopes: None,
            status: AccountStatus::Active,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    };
    store.upsert_account(&account(0, &first)).await.unwrap();

    // What a rotation that died after swapping the key files but before re-sealing
    // anything leaves behind: a new `key`, the old one as `key.old-<id>`.
    let old_text = std::fs::read_to_string(&s.vault.key_file).unwrap();
    let kept = dir.path().join(format!("key.old-{}", first.key_id()));
    std::fs::write(&kept, &old_text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::remove_file(&s.vault.key_file).unwrap();
    psn::vault::ensure_key_file(&s.vault.key_file).unwrap();
    let half = Vault::from_settings(&s.vault).unwrap();
    assert_ne!(half.key_id(), first.key_id());
    // One account written under the new key since.
    store.upsert_account(&account(1, &half)).await.unwrap();
    for a in store.list_accounts().await.unwrap() {
        half.open_account(&a).expect("old and new keys both open");
    }

    // Running the rotation again finishes the job.
    let r = psn::vault::rotate(&s.vault, store.as_ref()).await.unwrap();
    assert_eq!(r.resealed, 2);
    let done = Vault::from_settings(&s.vault).unwrap();
    assert_eq!(done.key_id(), r.new_key_id);
    for a in store.list_accounts().await.unwrap() {
        assert_eq!(a.credentials.as_ref().unwrap().key_id, r.new_key_id);
        done.open_account(&a).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_soon_are_refreshed_ahead_of_time() {
    use psn::app::tokens::{Refreshed, refresh_expiring};
    use psn::platforms::bluesky::BlueskyClient;
    use psn::platforms::registry::Registry;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let (vault, _) = Vault::generate();
    let x = FakeX::start().await.unwrap();
    let bsky = FakeBluesky::start().await.unwrap();
    let registry = Registry::new()
        .with(Arc::new(XClient::new(
            x.base_url(),
            Some(psn::platforms::fake::x::CLIENT_ID.into()),
            None,
            http::client(),
        )))
        .with(Arc::new(BlueskyClient::new(
            bsky.base_url(),
            http::client(),
        )));

    let soon = chrono::Utc::now() + chrono::Duration::minutes(10);
    let later = chrono::Utc::now() + chrono::Duration::hours(5);
    let save = |platform: Platform, handle: &str, mut creds: Credentials, expires| {
        creds.expires_at = Some(expires);
        let id = AccountId::new();
        let now = psn::domain::now();
        Account {
            credentials: Some(vault.seal_credentials(&id, platform, &creds)),
            id,
            platform,
            handle: handle.into(),
            display_name: None,
            platform_user_id: creds.user_id.clone(),
            server_url: creds.server_url.clone(),
            token_expires_at: Some(expires),
            scopes: None,
            status: AccountStatus::Active,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    };
    let xu = x.add_user("expiring");
    let x_creds = x.credentials(&xu);
    let expiring = save(Platform::X, "expiring", x_creds.clone(), soon);
    let fine = save(
        Platform::X,
        "fine",
        x.credentials(&x.add_user("fine")),
        later,
    );
    // A refresh token that was spent elsewhere and never stored here: refused.
    let revoked_creds = x.credentials(&x.add_user("revoked"));
    let other = XClient::new(
        x.base_url(),
        Some(psn::platforms::fake::x::CLIENT_ID.into()),
        None,
        http::client(),
    );
    other.refresh(&revoked_creds).await.unwrap();
    let revoked = save(Platform::X, "revoked", revoked_creds, soon);
    let ba = bsky.add_account("sky.test");
    let sky = save(Platform::Bluesky, "sky.test", bsky.credentials(&ba), soon);
    for a in [&expiring, &fine, &revoked, &sky] {
        store.upsert_account(a).await.unwrap();
    }

    let results = refresh_expiring(
        store.as_ref(),
        &vault,
        &registry,
        chrono::Duration::minutes(30),
    )
    .await
    .unwrap();
    let of = |id: &AccountId| {
        results
            .iter()
            .find(|r| &r.account == id)
            .map(|r| r.result.clone())
    };
    assert!(
        matches!(of(&expiring.id), Some(Refreshed::Renewed { .. })),
        "{results:?}"
    );
    assert!(
        matches!(of(&sky.id), Some(Refreshed::Renewed { .. })),
        "{results:?}"
    );
    assert_eq!(of(&fine.id), None, "not due yet");
    let Some(Refreshed::NeedsReauth { reason }) = of(&revoked.id) else {
        panic!("{results:?}");
    };
    assert!(reason.contains("psn connect x"), "{reason}");

    // The stored tokens are the new ones, the platform accepts them, and the expiry moved.
    let stored = store.get_account(&expiring.id).await.unwrap();
    let creds = vault.open_account(&stored).unwrap();
    assert_ne!(creds.access_token, x_creds.access_token);
    assert!(x.refresh_token_valid(creds.refresh_token.as_ref().unwrap().expose()));
    assert!(stored.token_expires_at.unwrap() > soon);
    let revoked_now = store.get_account(&revoked.id).await.unwrap();
    assert_eq!(revoked_now.status, AccountStatus::NeedsReauth);
    assert!(revoked_now.last_error.unwrap().contains("psn connect x"));
}
