//! `psn-bench all --smoke` keeps the benchmark harness working: it must finish and print a
//! row for every metric. Timings are never asserted (smoke sizes are tiny and CI machines
//! are shared); Postgres rows are skipped without `PSN_TEST_DATABASE_URL`, and the npm
//! comparison is skipped where node or the registry is missing, each saying so.

use std::process::Command;

use crate::support::db;

#[test]
fn bench_all_smoke_completes_and_prints_every_metric() {
    let postgres = db::postgres_url();
    // Without a test database, a closed port: the harness reports Postgres as unavailable.
    let admin = postgres
        .clone()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:1/postgres".into());
    // psn-bench measures the psn cargo built beside it.
    let out = Command::new(env!("CARGO_BIN_EXE_psn-bench"))
        .args(["all", "--smoke"])
        .env("PSN_BENCH_POSTGRES_URL", &admin)
        .env("PSN_LOG", "warn")
        .output()
        .expect("run psn-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "psn-bench all --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("SMOKE MODE"), "{stdout}");
    for metric in [
        "latency",
        "throughput",
        "mcp-roundtrip",
        "startup",
        "list-pending-1m",
        "idle",
        "compare",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("| {metric} "))),
            "no row for {metric}:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("FAILED"),
        "a benchmark could not run:\n{stdout}"
    );
    if postgres.is_none() {
        assert!(
            stdout.contains("skipped"),
            "Postgres rows should say they were skipped:\n{stdout}"
        );
    }
    for line in stdout.lines().filter(|l| l.contains("| skipped")) {
        eprintln!("skipped: {line}");
    }
}
