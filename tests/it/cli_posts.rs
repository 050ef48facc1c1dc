//! The post, pending, ideas, accounts and init commands of the real binary.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs the real binary in `dir` (its home and data directory) with a clean environment.
pub(crate) fn psn(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_psn"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("USER", "alice")
        .env("PSN_DATA_DIR", dir)
        .env("PSN_TIMEZONE", "Europe/Berlin")
        .env("PSN_SCHEDULER_ENABLED", "false")
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run psn")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = psn(dir, &[], args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "psn {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let stdout = ok(dir, args);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("psn {args:?}: not JSON ({e}): {stdout}"))
}

#[test]
fn a_post_goes_from_draft_to_queue_to_cancelled_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = json(
        d,
        &[
            "post",
            "create",
            "--to",
            "x",
            "--to",
            "bluesky",
            "Hello from the CLI",
            "--json",
        ],
    );
    let group = created["created"]["group_id"].as_str().unwrap().to_owned();
    assert!(created["scheduled"].is_null());
    let text = ok(
        d,
        &[
            "post",
            "schedule",
            &group,
            "2099-01-01 09:00",
            "--zone",
            "Asia/Tokyo",
        ],
    );
    assert!(text.starts_with("Scheduled 2 posts"), "{text}");
    assert!(
        text.contains("2099-01-01T09:00:00+09:00") && text.contains("00:00 UTC"),
        "{text}"
    );

    let pending = ok(d, &["pending"]);
    assert!(pending.starts_with("2 of 2 posts:"), "{pending}");
    assert!(pending.contains("Hello from the CLI"), "{pending}");
    let page = json(d, &["pending", "--platform", "x", "--json"]);
    assert_eq!(page["total"], 1);
    let id = page["posts"][0]["id"].as_str().unwrap().to_owned();

    let shown = ok(d, &["post", "show", &id]);
    assert!(
        shown.contains(&id) && shown.contains("[1] Hello from the CLI"),
        "{shown}"
    );
    assert!(shown.contains("schedule by cli:alice"), "{shown}");
    let updated = ok(d, &["post", "update", &id, "Hello again", "Second part"]);
    assert!(updated.starts_with("Updated"), "{updated}");
    let cancelled = ok(d, &["post", "cancel", &id]);
    assert!(
        cancelled.contains(&format!("Cancelled {id}")),
        "{cancelled}"
    );
    let page = json(d, &["pending", "--json"]);
    assert_eq!(page["total"], 1);

    // Failures: a clear message on stderr and exit 1.
    let out = psn(d, &[], &["post", "retry", &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only failed or needs_reconcile posts can be retried"),
        "{err}"
    );
    let out = psn(d, &[], &["post", "show", "post_000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no post with id"));
    let out = psn(d, &[], &["post", "create", "--to", "myspace", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown platform"));
    let out = psn(d, &[], &["pending", "--status", "lost"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown status `lost`"));

    // --at schedules at once.
    let both = json(
        d,
        &[
            "post", "create", "--to", "mastodon", "Now-ish", "--at", "now", "--json",
        ],
    );
    assert_eq!(both["scheduled"]["posts"][0]["status"], "scheduled");
}

#[test]
fn a_part_can_be_read_from_stdin() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_psn"))
        .args([
            "post",
            "create",
            "--to",
            "mastodon",
            "first part",
            "-",
            "--json",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("PSN_DATA_DIR", dir.path())
        .env("PSN_SCHEDULER_ENABLED", "false")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("second part,\nfrom a pipe\n".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["created"]["posts"][0]["post_id"].as_str().unwrap();
    let shown = json(dir.path(), &["post", "show", id, "--json"]);
    assert_eq!(
        shown["content"]["parts"][1]["text"],
        "second part,\nfrom a pipe"
    );
    let out = psn(dir.path(), &[], &["post", "create", "--to", "x", "-", "-"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only one part can be read from stdin"));
}

#[test]
fn ideas_and_accounts_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let added = ok(
        d,
        &[
            "ideas",
            "add",
            "Write about keyset pagination",
            "--tag",
            "#Rust",
            "--pillar",
            "education",
        ],
    );
    assert!(
        added.starts_with("Captured idea idea_") && added.contains("#rust"),
        "{added}"
    );
    let listed = json(d, &["ideas", "list", "--tag", "rust", "--json"]);
    assert_eq!(listed["ideas"][0]["created_by"], "cli:alice");
    let empty = ok(d, &["ideas", "list", "--pillar", "none"]);
    assert!(empty.contains("psn ideas add"), "{empty}");
    let accounts = ok(d, &["accounts"]);
    assert!(
        accounts.contains("No accounts are connected yet") && accounts.contains("psn connect"),
        "{accounts}"
    );
    let accounts = json(d, &["accounts", "--json"]);
    assert_eq!(accounts["not_connected"].as_array().unwrap().len(), 7);
}

#[test]
fn commands_exit_4_when_the_database_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let out = psn(
        dir.path(),
        &[
            (
                "PSN_DATABASE_URL",
                "postgres://psn:canary-password@127.0.0.1:9/psn",
            ),
            ("PSN_DATABASE_ACQUIRE_TIMEOUT_SECS", "2"),
        ],
        &["pending"],
    );
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("canary-password"), "{err}");
}

#[test]
fn init_installs_once_and_keeps_edits_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let p = project.to_str().unwrap();
    let first = ok(dir.path(), &["init", p]);
    assert_eq!(first.matches("created").count(), 11, "{first}");
    let mcp: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join(".mcp.json")).unwrap()).unwrap();
    let command = mcp["mcpServers"]["psn"]["command"].as_str().unwrap();
    assert!(
        Path::new(command).is_absolute() && command.ends_with("psn"),
        "{command}"
    );
    assert_eq!(mcp["mcpServers"]["psn"]["args"][0], "serve");
    let installed = std::fs::read_to_string(project.join(".claude/commands/psn/post.md")).unwrap();
    assert_eq!(
        installed,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/commands/post.md")).unwrap()
    );

    let second = ok(dir.path(), &["init", p]);
    assert_eq!(second.matches("unchanged").count(), 11, "{second}");

    let edited = project.join(".claude/commands/psn/plan.md");
    std::fs::write(&edited, "my own plan\n").unwrap();
    let third = ok(dir.path(), &["init", p]);
    assert!(
        third.contains("kept (edited, use --force to replace)  .claude/commands/psn/plan.md"),
        "{third}"
    );
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "my own plan\n");
    let forced = ok(dir.path(), &["init", p, "--force"]);
    assert!(
        forced.contains("updated  .claude/commands/psn/plan.md"),
        "{forced}"
    );
    assert_ne!(std::fs::read_to_string(&edited).unwrap(), "my own plan\n");
}
