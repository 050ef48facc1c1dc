//! The binary itself: exit codes and messages for bad set-ups, `psn doctor`.

use std::process::{Command, Output};

fn psn(env: &[(&str, &str)], args: &[&str], data_dir: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_psn"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("PSN_DATA_DIR", data_dir).current_dir(data_dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run psn")
}

/// Environment, expected exit code, expected words on stderr.
type Case<'a> = (&'a [(&'a str, &'a str)], i32, &'a str);

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = psn(&[], &["--version"], dir.path());
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("psn "));
    for sub in ["serve", "scheduler", "migrate", "doctor"] {
        let out = psn(&[], &[sub, "--help"], dir.path());
        assert!(out.status.success(), "{sub} --help");
        assert!(text(&out.stdout).contains("Usage: psn"), "{sub}");
    }
    let out = psn(&[], &["frobnicate"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn doctor_is_healthy_on_a_fresh_machine_and_does_not_create_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = psn(&[], &["doctor"], dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("healthy"), "{stdout}");
    assert!(stdout.contains("not created yet"), "{stdout}");
    assert!(!dir.path().join("psn.db").exists());

    let out = psn(&[], &["migrate"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("psn.db").exists());
    let out = psn(&[], &["doctor", "--json"], dir.path());
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let migrations = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "migrations")
        .unwrap();
    assert_eq!(migrations["health"], "ok");
}

#[test]
fn doctor_reports_a_missing_postgres_clearly() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) has no Postgres on any machine we run on.
    let url = "postgres://psn:canary-password@127.0.0.1:9/psn";
    let out = psn(
        &[
            ("PSN_DATABASE_URL", url),
            ("PSN_DATABASE_ACQUIRE_TIMEOUT_SECS", "2"),
        ],
        &["doctor"],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("cannot reach the Postgres database"),
        "{stdout}"
    );
    assert!(stdout.contains("start Postgres"), "{stdout}");
    assert!(!stdout.contains("canary-password") && !text(&out.stderr).contains("canary-password"));
}

#[test]
fn bad_setups_end_with_one_clear_error_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let unwritable = format!("sqlite://{}/psn.db", file.display());
    let cases: [Case; 4] = [
        (
            &[("PSN_DATABASE_URL", "mysql://root@localhost/psn")],
            3,
            "expected a URL starting with postgres:// or sqlite://",
        ),
        (
            &[
                (
                    "PSN_DATABASE_URL",
                    "postgres://u:canary-password@127.0.0.1:9/x",
                ),
                ("PSN_DATABASE_ACQUIRE_TIMEOUT_SECS", "2"),
            ],
            4,
            "cannot reach the Postgres database",
        ),
        (
            &[("PSN_DATABASE_URL", unwritable.as_str())],
            4,
            "writable sqlite:// path",
        ),
        (
            &[("PSN_SCHEDULER_BATCH_SIZE", "many")],
            3,
            "scheduler.batch_size",
        ),
    ];
    for (env, code, message) in cases {
        let out = psn(env, &["migrate"], dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{env:?}: {stderr}");
        assert!(stderr.contains(message), "{env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("canary-password"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn a_database_migrated_by_a_newer_psn_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(psn(&[], &["migrate"], dir.path()).status.success());
    let db = dir.path().join("psn.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'future', TRUE, X'00', 1)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let out = psn(&[], &["migrate"], dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("newer than this psn"), "{stderr}");
    let out = psn(&[], &["doctor"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("upgrade psn"));
}
