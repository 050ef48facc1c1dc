//! A minimal MCP client for tests: spawns the real `psn serve` binary and speaks
//! newline-delimited JSON-RPC over its stdin/stdout. Every line the server writes to
//! stdout must be JSON-RPC; anything else fails the test (stdout belongs to MCP).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::db::TestStore;

/// How long one answer may take. Generous: CI machines are slow and Postgres tests share them.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The `_meta` every 2026-07-28 inline request carries.
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "psn-tests", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

pub struct McpClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Messages read while waiting for another id (notifications, out-of-order answers).
    backlog: Vec<Value>,
    next_id: i64,
    _dir: tempfile::TempDir,
}

/// Environment for a server whose database is `store`'s.
pub fn store_env(store: &TestStore) -> Vec<(String, String)> {
    let url = store
        .url
        .clone()
        .or_else(|| {
            store
                .settings
                .database
                .url
                .as_ref()
                .map(|u| u.expose().to_owned())
        })
        .expect("a test store has a URL");
    vec![("PSN_DATABASE_URL".into(), url)]
}

impl McpClient {
    /// Starts `psn serve` with a clean environment plus `env`. The scheduler is off, so
    /// posts stay where the tests put them.
    pub fn spawn(env: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_in(env, dir)
    }

    fn spawn_in(env: &[(String, String)], dir: tempfile::TempDir) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_psn"));
        cmd.args(["serve", "--no-scheduler"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("PSN_DATA_DIR", dir.path())
            .env("PSN_TIMEZONE", "Europe/Berlin")
            .env("PSN_SCHEDULER_ENABLED", "false")
            .env("PSN_LOG", "warn")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn psn serve");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        McpClient {
            child,
            stdin,
            lines: rx,
            backlog: Vec::new(),
            next_id: 1,
            _dir: dir,
        }
    }

    /// The server's working directory (for media files the tests create).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Writes one raw line to the server.
    pub fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(line.as_bytes()).expect("write to psn");
        stdin.write_all(b"\n").expect("write to psn");
        stdin.flush().expect("flush");
    }

    pub fn notify(&mut self, method: &str, params: Option<Value>) {
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        self.send_raw(&msg.to_string());
    }

    /// Sends a request and returns the whole response (`result` or `error`).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(&msg.to_string());
        self.wait_for(&json!(id))
    }

    /// Waits for the response with this id.
    pub fn wait_for(&mut self, id: &Value) -> Value {
        if let Some(pos) = self.backlog.iter().position(|m| m.get("id") == Some(id)) {
            return self.backlog.remove(pos);
        }
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let msg = self.next_message(deadline).unwrap_or_else(|| {
                panic!("psn gave no answer to request {id} within {ANSWER_TIMEOUT:?}")
            });
            if msg.get("id") == Some(id) {
                return msg;
            }
            self.backlog.push(msg);
        }
    }

    /// The next message, or `None` if nothing arrives before `deadline`.
    pub fn next_message(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                let msg: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("psn wrote a non-JSON line to stdout ({e}): {line}")
                });
                assert_eq!(msg["jsonrpc"], "2.0", "not JSON-RPC: {line}");
                Some(msg)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                panic!("psn closed stdout (exited: {:?})", self.child.try_wait())
            }
        }
    }

    /// Asserts nothing at all arrives for `wait`.
    pub fn expect_silence(&mut self, wait: Duration) {
        if let Some(msg) = self.next_message(Instant::now() + wait) {
            panic!("expected no message, got {msg}");
        }
    }

    /// The classic handshake; returns the `initialize` result.
    pub fn initialize(&mut self) -> Value {
        let resp = self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "psn-tests", "version": "0"}
            }),
        );
        self.notify("notifications/initialized", None);
        resp.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("initialize failed: {resp}"))
    }

    /// A started, initialized server.
    pub fn start(env: &[(String, String)]) -> Self {
        let mut c = Self::spawn(env);
        c.initialize();
        c
    }

    /// Calls a tool; returns the `CallToolResult`. A protocol error fails the test.
    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let resp = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        resp.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{tool}: protocol error instead of a result: {resp}"))
    }

    /// Calls a tool that must succeed; returns its `structuredContent`.
    pub fn ok(&mut self, tool: &str, arguments: Value) -> Value {
        let r = self.call(tool, arguments);
        assert_eq!(r["isError"], json!(false), "{tool} failed: {}", text(&r));
        let first = text(&r);
        assert!(
            !first.trim_start().starts_with('{'),
            "{tool}: the first text is raw JSON: {first}"
        );
        r["structuredContent"].clone()
    }

    /// Calls a tool that must fail with `isError`; returns the text.
    pub fn err(&mut self, tool: &str, arguments: Value) -> String {
        let r = self.call(tool, arguments);
        assert_eq!(r["isError"], json!(true), "{tool} should have failed: {r}");
        text(&r)
    }

    /// Closes stdin and waits for the process to exit; returns whether it exited cleanly.
    pub fn shutdown(mut self) -> bool {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The first text content of a tool result.
pub fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
