//! A minimal MCP client over a child process's stdin/stdout (newline-delimited
//! JSON-RPC), timing each answer. A reader thread hands lines over a channel so a stuck
//! server fails the benchmark after a time-out instead of hanging it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

/// How long one answer may take before the benchmark gives up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

pub struct StdioClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: i64,
    /// When the process was spawned.
    pub spawned_at: Instant,
}

impl StdioClient {
    /// Spawns `cmd` with piped stdin/stdout; stderr is discarded (psn logs there).
    pub fn spawn(mut cmd: Command) -> anyhow::Result<StdioClient> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(StdioClient {
            child,
            stdin,
            lines,
            next_id: 1,
            spawned_at,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, msg: &Value) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        let mut line = msg.to_string();
        line.push('\n');
        stdin.write_all(line.as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    /// Sends a request and waits for its answer; returns the answer and the time from
    /// just before the write to the answer's line arriving.
    pub fn request(&mut self, method: &str, params: Value) -> anyhow::Result<(Value, Duration)> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let start = Instant::now();
        self.send(&msg)?;
        let deadline = start + ANSWER_TIMEOUT;
        loop {
            let line = match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    bail!("no answer to {method} within {ANSWER_TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => bail!(
                    "the server closed stdout during {method} (exit: {:?})",
                    self.child.try_wait()
                ),
            };
            let took = start.elapsed();
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("not JSON on stdout: {line}"))?;
            if v.get("id") == Some(&json!(id)) {
                if let Some(err) = v.get("error") {
                    bail!("{method} failed: {err}");
                }
                return Ok((v, took));
            }
        }
    }

    pub fn notify(&mut self, method: &str) -> anyhow::Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "method": method}))
    }

    /// The classic handshake. Returns the time from spawn to the initialize answer.
    pub fn initialize(&mut self) -> anyhow::Result<Duration> {
        self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "psn-bench", "version": env!("CARGO_PKG_VERSION")}
            }),
        )?;
        let since_spawn = self.spawned_at.elapsed();
        self.notify("notifications/initialized")?;
        Ok(since_spawn)
    }

    /// Calls a tool that must succeed; returns its result and the round-trip time.
    pub fn call_tool(&mut self, name: &str, arguments: Value) -> anyhow::Result<(Value, Duration)> {
        let (v, took) =
            self.request("tools/call", json!({"name": name, "arguments": arguments}))?;
        let result = v
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow!("{name}: no result"))?;
        if result.get("isError") == Some(&json!(true)) {
            bail!("{name} returned an error: {}", result["content"][0]["text"]);
        }
        Ok((result, took))
    }

    /// Closes stdin and waits (briefly) for a clean exit, else kills.
    pub fn close(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for StdioClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
