//! Databases the benchmarks own: a SQLite file under the work directory, or a Postgres
//! database created (dropped first) on the admin URL's server and dropped afterwards.
//! The only SQL here is administration (CREATE/DROP DATABASE); posts go through `Store`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::Options;
use crate::config::{Secret, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    Sqlite,
    Postgres,
}

impl Database {
    pub fn name(self) -> &'static str {
        match self {
            Database::Sqlite => "SQLite",
            Database::Postgres => "Postgres",
        }
    }
}

/// The Postgres server the harness may use, if it answered.
pub struct Postgres {
    admin_url: String,
    unavailable: Option<String>,
    /// Databases created and not yet dropped.
    created: std::sync::Mutex<Vec<String>>,
}

impl Postgres {
    /// Connects once to see whether the server is there.
    pub async fn probe(admin_url: &str) -> Postgres {
        let unavailable = match admin(admin_url).await {
            Ok(conn) => {
                let _ = conn.close().await;
                None
            }
            Err(e) => Some(format!(
                "Postgres at {} is not available ({e:#}); set PSN_BENCH_POSTGRES_URL",
                host_of(admin_url)
            )),
        };
        Postgres {
            admin_url: admin_url.to_owned(),
            unavailable,
            created: Default::default(),
        }
    }

    /// No Postgres (for metrics that never use it).
    pub fn absent() -> Postgres {
        Postgres {
            admin_url: String::new(),
            unavailable: Some("not used by this metric".into()),
            created: Default::default(),
        }
    }

    /// Drops every database this invocation created and kept (schedulers in this process
    /// listened on them until the end).
    pub async fn drop_leftovers(&self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if names.is_empty() {
            return;
        }
        match admin(&self.admin_url).await {
            Ok(mut conn) => {
                for name in names {
                    if let Err(e) = drop_database(&mut conn, &name).await {
                        tracing::warn!("could not drop the bench database {name}: {e:#}");
                    }
                }
                let _ = conn.close().await;
            }
            Err(e) => tracing::warn!("could not drop the bench databases: {e:#}"),
        }
    }

    /// Why Postgres rows are skipped, if they are.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }
}

/// A database for one benchmark, with the settings that open it.
pub struct BenchDb {
    pub db: Database,
    pub url: String,
    pub settings: Settings,
    /// The data directory (SQLite file, HOME and PSN_DATA_DIR of child processes).
    pub dir: PathBuf,
    pg: Option<(String, String)>,
}

impl BenchDb {
    /// A fresh, empty database named for `label`.
    pub async fn fresh(
        opts: &Options,
        pg: &Postgres,
        db: Database,
        label: &str,
    ) -> anyhow::Result<BenchDb> {
        let tag = if opts.smoke {
            format!("smoke_{label}_{}", std::process::id())
        } else {
            label.to_owned()
        };
        let dir = opts
            .work_dir
            .join(format!("{}-{tag}", db.name().to_lowercase()));
        if let (Database::Postgres, Some(why)) = (db, pg.unavailable()) {
            anyhow::bail!("{why}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let (url, pg_db) = match db {
            Database::Sqlite => (format!("sqlite://{}", dir.join("psn.db").display()), None),
            Database::Postgres => {
                let name = format!("psn_bench_{tag}");
                let mut conn = admin(&pg.admin_url).await?;
                drop_database(&mut conn, &name).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .context("create the bench database")?;
                let _ = conn.close().await;
                pg.created
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(name.clone());
                (
                    database_url(&pg.admin_url, &name),
                    Some((pg.admin_url.clone(), name)),
                )
            }
        };
        let mut settings = Settings::defaults(dir.clone());
        settings.database.url = Some(Secret::new(url.clone()));
        settings.log = "warn".into();
        Ok(BenchDb {
            db,
            url,
            settings,
            dir,
            pg: pg_db,
        })
    }

    /// Environment for a child `psn` on this database: nothing from the caller's
    /// environment leaks in except PATH.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let dir = self.dir.display().to_string();
        vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), dir.clone()),
            ("PSN_DATA_DIR".into(), dir),
            ("PSN_DATABASE_URL".into(), self.url.clone()),
            ("PSN_TIMEZONE".into(), "UTC".into()),
            ("PSN_LOG".into(), "warn".into()),
        ]
    }

    /// Postgres: `VACUUM (ANALYZE)` after a bulk load, as autovacuum does within a minute
    /// or so of that many inserts: planner statistics, and the visibility map that lets a
    /// count over a partial index stay an index-only scan (without it, counting the 5 %
    /// queued posts of 1M reads ~45,000 heap pages). SQLite needs neither.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        if self.pg.is_some() {
            let mut conn = admin(&self.url).await?;
            sqlx::query("VACUUM (ANALYZE)")
                .execute(&mut conn)
                .await
                .context("analyze the bench database")?;
            let _ = conn.close().await;
        }
        Ok(())
    }

    /// Postgres: transactions committed and rows written in this database so far (from
    /// `pg_stat_database`, which lags up to a second behind).
    pub async fn pg_activity(&self) -> Option<(i64, i64)> {
        self.pg.as_ref()?;
        let mut conn = admin(&self.url).await.ok()?;
        let row: (i64, i64) = sqlx::query_as(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted \
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .ok()?;
        let _ = conn.close().await;
        Some(row)
    }

    /// Postgres: ends every session on this database. A store whose scheduler ran in this
    /// process keeps its pool alive (its LISTEN task holds it), so its idle connections
    /// would otherwise stay open until the process exits; the listener reconnects alone.
    pub async fn release_connections(&self) {
        if self.pg.is_none() {
            return;
        }
        if let Ok(mut conn) = admin(&self.url).await {
            let _ = sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }

    /// Deletes the SQLite directory now; leaves a Postgres database for
    /// [`Postgres::drop_leftovers`], because a store in this process may still listen on it.
    pub fn keep(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Drops the database (Postgres) or deletes the directory (SQLite).
    pub async fn remove(self, pg: &Postgres) {
        if let Some((_, name)) = &self.pg {
            pg.created
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|n| n != name);
        }
        if let Some((admin_url, name)) = &self.pg
            && let Ok(mut conn) = admin(admin_url).await
        {
            let _ = drop_database(&mut conn, name).await;
            let _ = conn.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn admin(url: &str) -> anyhow::Result<PgConnection> {
    let opts =
        PgConnectOptions::from_str(url).context("PSN_BENCH_POSTGRES_URL is not a Postgres URL")?;
    let conn = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&opts))
        .await
        .context("timed out")??;
    Ok(conn)
}

async fn drop_database(conn: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(conn)
    .await
    .context("drop the bench database")?;
    Ok(())
}

/// `admin_url` with its database replaced by `name` (query parameters kept).
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// The host and port of a URL, without user or password, for messages.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            database_url("postgres://u:p@h/postgres?sslmode=disable", "b"),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(database_url("postgres://h:1", "b"), "postgres://h:1/b");
        assert_eq!(host_of("postgres://u:secret@h:1/db"), "h:1");
    }
}
