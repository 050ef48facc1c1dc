//! A fresh, migrated store per test. SQLite gets a file in a temporary directory;
//! Postgres gets a schema of its own in the database named by `PSN_TEST_DATABASE_URL`.
//! Without that variable Postgres tests say they were skipped, unless
//! `PSN_REQUIRE_POSTGRES=1`, in which case a missing Postgres fails the test.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use psn::config::{Secret, Settings};
use psn::store::{self, DatabaseTarget, DynStore};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// A store and what keeps it alive (the temporary directory for SQLite).
pub struct TestStore {
    pub store: DynStore,
    pub settings: Settings,
    /// For Postgres: the URL with this test's schema selected.
    pub url: Option<String>,
    _dir: tempfile::TempDir,
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::defaults(dir.path().to_owned());
    settings.database.url = Some(Secret::new(format!(
        "sqlite://{}",
        dir.path().join("psn.db").display()
    )));
    let store = store::open(&settings).await.expect("open sqlite store");
    TestStore {
        store,
        settings,
        url: None,
        _dir: dir,
    }
}

/// The Postgres URL for tests, or `None` (after saying so) when tests should skip.
pub fn postgres_url() -> Option<String> {
    match std::env::var("PSN_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("PSN_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PSN_REQUIRE_POSTGRES=1 but PSN_TEST_DATABASE_URL is not set");
            }
            eprintln!(
                "skipped: PSN_TEST_DATABASE_URL is not set, so this Postgres test did not run"
            );
            None
        }
    }
}

/// A fresh schema in the test database; `None` when Postgres tests are skipped.
pub async fn postgres() -> Option<TestStore> {
    let url = postgres_url()?;
    let schema = fresh_schema(&url).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::defaults(dir.path().to_owned());
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    settings.database.url = Some(Secret::new(scoped.clone()));
    settings.database.max_connections = 4;
    let store = store::open(&settings).await.expect("open postgres store");
    assert!(matches!(
        DatabaseTarget::from_settings(&settings),
        Ok(DatabaseTarget::Postgres(_))
    ));
    Some(TestStore {
        store,
        settings,
        url: Some(scoped),
        _dir: dir,
    })
}

async fn fresh_schema(url: &str) -> String {
    let opts = PgConnectOptions::from_str(url).expect("PSN_TEST_DATABASE_URL is a Postgres URL");
    let mut conn = match PgConnection::connect_with(&opts).await {
        Ok(c) => c,
        Err(e) => panic!("PSN_TEST_DATABASE_URL is set but Postgres is not reachable: {e}"),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Schemas left by earlier runs (a failed test keeps its schema) are dropped after a day.
    let old: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'psn_t_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for name in old {
        let born = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(born) > 86_400 {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(&mut conn)
            .await;
        }
    }
    let schema = format!("psn_t_{now}_{}", rand_suffix());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    schema
}

fn rand_suffix() -> String {
    psn::domain::PostId::new().as_str()[5..].to_ascii_lowercase()
}

/// Runs the same scenario on SQLite and on Postgres: `both_stores!(scenario_fn, …)`
/// makes `sqlite::scenario_fn` and `postgres::scenario_fn` tests.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = $crate::support::db::sqlite().await;
                    super::$name(&t).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(t) = $crate::support::db::postgres().await else { return };
                    super::$name(&t).await;
                }
            )*
        }
    };
}
