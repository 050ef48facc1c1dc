//! The MCP server end to end, at the protocol level: both lifecycles, the tool list and
//! its schema snapshot, prompts, hostile input, and a database that is down. These run on
//! the default SQLite store; tool behaviour on both stores is in `mcp_tools.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mcp::{McpClient, modern_meta, text};

const TOOLS: [&str; 12] = [
    "cancel_post",
    "capture_idea",
    "create_post",
    "fetch_metrics",
    "get_post",
    "list_accounts",
    "list_ideas",
    "list_pending",
    "retry_post",
    "schedule_post",
    "score_opportunities",
    "update_post",
];

fn tool_list(c: &mut McpClient) -> Vec<Value> {
    let resp = c.request("tools/list", json!({}));
    resp["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {resp}"))
        .clone()
}

#[test]
fn initialize_handshake_names_psn_and_explains_the_workflow() {
    let mut c = McpClient::spawn(&[]);
    let init = c.initialize();
    assert_eq!(init["protocolVersion"], "2025-11-25");
    assert_eq!(init["serverInfo"]["name"], "psn");
    assert_eq!(init["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(init["capabilities"]["tools"].is_object(), "{init}");
    assert!(init["capabilities"]["prompts"].is_object(), "{init}");
    assert!(init["capabilities"]["resources"].is_null(), "{init}");
    let instructions = init["instructions"].as_str().unwrap();
    for word in [
        "capture_idea",
        "create_post",
        "schedule_post",
        "list_pending",
        "get_post",
    ] {
        assert!(instructions.contains(word), "instructions lack {word}");
    }
    assert!(c.request("ping", json!({}))["result"].is_object());
    assert!(c.shutdown(), "psn serve should exit 0 when stdin closes");
}

#[test]
fn the_2026_discover_path_and_inline_requests_work() {
    let mut c = McpClient::spawn(&[]);
    let resp = c.request("server/discover", json!({"_meta": modern_meta()}));
    let r = &resp["result"];
    assert!(
        r["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{resp}"
    );
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "psn"
    );
    assert!(r["instructions"].as_str().unwrap().contains("create_post"));

    let resp = c.request("tools/list", json!({"_meta": modern_meta()}));
    assert_eq!(
        resp["result"]["tools"].as_array().unwrap().len(),
        TOOLS.len()
    );

    let resp = c.request(
        "tools/call",
        json!({"name": "capture_idea", "arguments": {"text": "discover works"}, "_meta": modern_meta()}),
    );
    assert_eq!(resp["result"]["isError"], false, "{resp}");
    assert_eq!(resp["result"]["resultType"], "complete");
    assert_eq!(
        resp["result"]["structuredContent"]["idea"]["text"],
        "discover works"
    );

    // A request without the metadata is refused, and the server carries on.
    let resp = c.request("tools/list", json!({}));
    assert_eq!(resp["error"]["code"], -32602, "{resp}");
    let resp = c.request("prompts/list", json!({"_meta": modern_meta()}));
    assert_eq!(resp["result"]["prompts"].as_array().unwrap().len(), 10);
}

#[test]
fn tools_list_has_exactly_the_psn_tools_with_all_annotations_and_output_schemas() {
    let mut c = McpClient::start(&[]);
    let tools = tool_list(&mut c);
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, TOOLS);
    for t in &tools {
        let name = t["name"].as_str().unwrap();
        let desc = t["description"].as_str().unwrap_or_default();
        assert!(desc.len() > 100, "{name}: description too short");
        assert_eq!(t["inputSchema"]["type"], "object", "{name}");
        assert_eq!(t["outputSchema"]["type"], "object", "{name}");
        let a = &t["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(a[hint].is_boolean(), "{name}: {hint} not set");
        }
        // Only the analytics tools read from the platforms; nothing publishes directly.
        let open_world = matches!(name, "fetch_metrics" | "score_opportunities");
        assert_eq!(a["openWorldHint"], open_world, "{name}");
        let read_only = name.starts_with("get_") || name.starts_with("list_");
        assert_eq!(a["readOnlyHint"], read_only, "{name}");
    }
    let by_name = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap().clone();
    assert_eq!(
        by_name("cancel_post")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(
        by_name("create_post")["annotations"]["idempotentHint"],
        false
    );
    // Schemas use enums for platforms and statuses, and u32 (not usize) for limits.
    let schema = by_name("list_pending")["inputSchema"].to_string();
    assert!(schema.contains("\"needs_reconcile\""), "{schema}");
    assert!(schema.contains("\"uint32\""), "{schema}");
    let schema = by_name("create_post")["inputSchema"].to_string();
    assert!(
        schema.contains("\"bluesky\"") && schema.contains("\"mastodon\""),
        "{schema}"
    );
}

/// Every tool's public surface, compared with `tests/snapshots/tools.json`.
/// `PSN_UPDATE_SNAPSHOTS=1` rewrites the file after an intended change.
#[test]
fn tool_schemas_match_the_snapshot() {
    let mut c = McpClient::start(&[]);
    let tools: Vec<Value> = tool_list(&mut c)
        .into_iter()
        .map(|t| {
            json!({
                "name": t["name"],
                "title": t["title"],
                "description": t["description"],
                "inputSchema": t["inputSchema"],
                "outputSchema": t["outputSchema"],
                "annotations": t["annotations"],
            })
        })
        .collect();
    let mut actual = serde_json::to_string_pretty(&tools).unwrap();
    actual.push('\n');
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/tools.json");
    if std::env::var("PSN_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots")).unwrap();
        std::fs::write(path, &actual).unwrap();
        eprintln!("updated {path}");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!("{path} is missing: run with PSN_UPDATE_SNAPSHOTS=1 to create it")
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "the tool schemas changed (first difference at line {}):\n  snapshot: {}\n  now:      {}\n\
             If the change is intended, run with PSN_UPDATE_SNAPSHOTS=1 and commit tests/snapshots/tools.json",
            first + 1,
            expected.lines().nth(first).unwrap_or("<end>"),
            actual.lines().nth(first).unwrap_or("<end>")
        );
    }
}

#[test]
fn later_tools_are_not_registered_and_unknown_tools_are_protocol_errors() {
    let mut c = McpClient::start(&[]);
    for name in ["approve_post", "reject_post", "nope"] {
        let resp = c.request("tools/call", json!({"name": name, "arguments": {}}));
        assert_eq!(resp["error"]["code"], -32602, "{name}: {resp}");
    }
    let resp = c.request("resources/list", json!({}));
    assert_eq!(resp["error"]["code"], -32601, "{resp}");
    let resp = c.request("foo/bar", json!({}));
    assert_eq!(resp["error"]["code"], -32601, "{resp}");
}

#[test]
fn commands_are_served_as_prompts() {
    let mut c = McpClient::start(&[]);
    let resp = c.request("prompts/list", json!({}));
    let prompts = resp["result"]["prompts"].as_array().unwrap().clone();
    let names: BTreeSet<&str> = prompts
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = [
        "setup", "post", "plan", "capture", "engage", "review", "approve", "series", "config",
        "calendar",
    ]
    .into_iter()
    .collect();
    assert_eq!(names, want);
    for p in &prompts {
        assert!(
            p["description"].as_str().is_some_and(|d| d.len() > 10),
            "{p}"
        );
        assert_eq!(p["arguments"][0]["name"], "arguments", "{p}");
        assert_eq!(p["arguments"][0]["required"], false, "{p}");
    }
    let resp = c.request(
        "prompts/get",
        json!({"name": "capture", "arguments": {"arguments": "rust 2026 edition #rust"}}),
    );
    let msg = &resp["result"]["messages"][0];
    assert_eq!(msg["role"], "user");
    let body = msg["content"]["text"].as_str().unwrap();
    assert!(body.contains("rust 2026 edition #rust"), "{body}");
    assert!(
        !body.contains("$ARGUMENTS") && !body.starts_with("---"),
        "{body}"
    );
    let resp = c.request("prompts/get", json!({"name": "post"}));
    assert!(
        resp["result"]["messages"][0]["content"]["text"].is_string(),
        "{resp}"
    );
    let resp = c.request("prompts/get", json!({"name": "zzz"}));
    assert_eq!(resp["error"]["code"], -32602, "{resp}");
}

/// Every `mcp__psn__…` name a command allows or mentions must be a real tool, and the
/// commands whose tools arrive later say so without allowing them.
#[test]
fn commands_name_only_real_tools() {
    let mut c = McpClient::start(&[]);
    let real: BTreeSet<String> = tool_list(&mut c)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/commands");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        files += 1;
        let source = std::fs::read_to_string(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let frontmatter = source.split("\n---\n").next().unwrap();
        assert!(frontmatter.starts_with("---\n"), "{stem}: no frontmatter");
        for key in ["description:", "argument-hint:", "allowed-tools:"] {
            assert!(frontmatter.contains(key), "{stem}: no {key}");
        }
        let mut named = 0;
        for (i, _) in source.match_indices("mcp__psn__") {
            let name: String = source[i + "mcp__psn__".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                real.contains(&name),
                "{stem} names mcp__psn__{name}, which is not a tool"
            );
            named += 1;
        }
        assert!(named > 0, "{stem} allows no psn tool");
        let later = match stem.as_str() {
            "approve" => Some("approve_post"),
            _ => None,
        };
        if let Some(tool) = later {
            assert!(
                source.contains(tool),
                "{stem} should say {tool} arrives later"
            );
            assert!(
                source.contains("not available"),
                "{stem} should say plainly it is not available"
            );
        }
    }
    assert_eq!(files, 10);
}

#[test]
fn hostile_input_gets_answers_and_the_server_stays_up() {
    let mut c = McpClient::start(&[]);
    // Not JSON at all: rmcp drops the line without an answer.
    c.send_raw("{this is not json");
    c.send_raw("");
    c.expect_silence(Duration::from_millis(300));
    // JSON but not JSON-RPC.
    c.send_raw(r#"{"foo":"bar"}"#);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let msg = c
        .next_message(deadline)
        .expect("an answer to a non-JSON-RPC message");
    assert_eq!(msg["error"]["code"], -32600, "{msg}");
    // Wrong argument shapes are tool errors that say what is wrong.
    let t = c.err("create_post", json!({"targets": "x", "parts": []}));
    assert!(t.contains("invalid type"), "{t}");
    let t = c.err(
        "create_post",
        json!({"targets": [{"platform": "myspace"}], "parts": [{"text": "hi"}]}),
    );
    assert!(
        t.contains("myspace") || t.contains("unknown variant"),
        "{t}"
    );
    let t = c.err("list_pending", json!({"limit": -1}));
    assert!(t.contains("invalid value") || t.contains("u32"), "{t}");
    let t = c.err("list_pending", json!({"limit": 5000}));
    assert!(t.contains("1 to 200"), "{t}");
    let t = c.err("get_post", json!({"post_id": 42}));
    assert!(t.contains("invalid type"), "{t}");
    let t = c.err("capture_idea", json!({"text": "ok", "colour": "blue"}));
    assert!(t.contains("unknown field"), "{t}");
    let t = c.err("get_post", json!({}));
    assert!(t.contains("missing field"), "{t}");
    let resp = c.request(
        "tools/call",
        json!({"name": "get_post", "arguments": "oops"}),
    );
    assert!(resp["error"].is_object(), "{resp}");

    // A megabyte where a word belongs: refused quickly, and the message stays short.
    let huge = "é".repeat(1 << 19);
    let t = c.err("capture_idea", json!({"text": huge}));
    assert!(
        t.contains("longer than psn accepts") && t.len() < 500,
        "{}",
        t.len()
    );
    let t = c.err(
        "create_post",
        json!({"targets": [{"platform": "linkedin"}], "parts": [{"text": huge}]}),
    );
    assert!(t.len() < 1000, "{}", t.len());
    let t = c.err("get_post", json!({"post_id": "p".repeat(1 << 20)}));
    assert!(t.len() < 500, "{}", t.len());
    let t = c.err(
        "schedule_post",
        json!({"id": "post_abcdefghijkl", "at": "9".repeat(1 << 20)}),
    );
    assert!(t.len() < 500, "{}", t.len());

    // NUL cannot be stored by Postgres: refused with the reason, on every store.
    let t = c.err("capture_idea", json!({"text": "a\u{0}b"}));
    assert!(t.contains("NUL"), "{t}");
    // RTL marks, zero-width joiners, combining marks and astral emoji round-trip intact.
    let odd = "\u{202E}olleh\u{202C} \u{200F}שלום\u{200E} 👩‍👩‍👧 e\u{301} \u{FEFF}𝕏";
    let idea = c.ok(
        "capture_idea",
        json!({"text": odd, "tags": ["\u{200F}rtl"]}),
    );
    assert_eq!(idea["idea"]["text"], odd);
    let created = c.ok(
        "create_post",
        json!({"targets": [{"platform": "bluesky"}], "parts": [{"text": odd}]}),
    );
    let id = created["posts"][0]["post_id"].clone();
    let post = c.ok("get_post", json!({"post_id": id}));
    assert_eq!(post["content"]["parts"][0]["text"], odd);
    // A lone surrogate escaped in JSON is not a valid string: the line is dropped or refused.
    c.send_raw(
        r#"{"jsonrpc":"2.0","id":"lone","method":"tools/call","params":{"name":"capture_idea","arguments":{"text":"\ud800"}}}"#,
    );
    if let Some(msg) = c.next_message(std::time::Instant::now() + Duration::from_secs(2)) {
        assert_eq!(msg["id"], "lone", "{msg}");
        assert!(
            msg["error"].is_object() || msg["result"]["isError"] == true,
            "a lone surrogate was accepted: {msg}"
        );
    }
    // Still alive and answering after all of that.
    assert!(c.request("ping", json!({}))["result"].is_object());
    let ideas = c.ok("list_ideas", json!({}));
    assert_eq!(ideas["ideas"].as_array().unwrap().len(), 1);
}

#[test]
fn an_unreachable_database_does_not_stop_the_server() {
    // Port 9 (discard) has no Postgres on any machine we run on.
    let env = vec![
        (
            "PSN_DATABASE_URL".to_owned(),
            "postgres://psn:canary-password@127.0.0.1:9/psn".to_owned(),
        ),
        (
            "PSN_DATABASE_ACQUIRE_TIMEOUT_SECS".to_owned(),
            "2".to_owned(),
        ),
    ];
    let mut c = McpClient::spawn(&env);
    let init = c.initialize();
    assert_eq!(init["serverInfo"]["name"], "psn");
    assert_eq!(tool_list(&mut c).len(), TOOLS.len());
    for (tool, args) in [
        ("list_pending", json!({})),
        ("capture_idea", json!({"text": "x"})),
        ("list_accounts", json!({})),
    ] {
        let t = c.err(tool, args);
        assert!(t.contains("database is unavailable"), "{tool}: {t}");
        assert!(
            t.contains("127.0.0.1:9"),
            "{tool} should name the host: {t}"
        );
        assert!(t.contains("psn doctor"), "{tool} should name the fix: {t}");
        assert!(
            !t.contains("canary-password"),
            "{tool} leaked the password: {t}"
        );
    }
    assert!(c.request("prompts/list", json!({}))["result"].is_object());
}

#[test]
fn a_first_message_that_is_not_a_handshake_ends_the_process() {
    let mut c = McpClient::spawn(&[]);
    c.notify("notifications/initialized", None);
    assert!(
        !c.shutdown(),
        "psn should exit non-zero without a handshake"
    );
}

#[test]
fn tool_results_carry_a_summary_then_the_json() {
    let mut c = McpClient::start(&[]);
    let r = c.call(
        "capture_idea",
        json!({"text": "summaries first", "tags": ["#Docs"]}),
    );
    let summary = text(&r);
    let id = r["structuredContent"]["idea"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(summary.starts_with("Captured idea idea_"), "{summary}");
    assert!(
        summary.contains(&id) && summary.contains("#docs"),
        "{summary}"
    );
    let json_text = r["content"][1]["text"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(parsed, r["structuredContent"]);
}

/// Claude Code may send several calls without waiting; rmcp runs them concurrently and
/// answers out of order. Every one must succeed once, and the store must hold them all.
#[test]
fn concurrent_calls_all_succeed_and_are_matched_by_id() {
    let mut c = McpClient::start(&[]);
    let n = 20;
    for i in 0..n {
        let msg = json!({
            "jsonrpc": "2.0",
            "id": format!("c{i}"),
            "method": "tools/call",
            "params": {"name": "create_post", "arguments": {
                "targets": [{"platform": "x"}, {"platform": "threads"}],
                "parts": [{"text": format!("concurrent {i}")}]
            }}
        });
        c.send_raw(&msg.to_string());
    }
    for i in 0..n {
        let resp = c.wait_for(&json!(format!("c{i}")));
        assert_eq!(resp["result"]["isError"], false, "{resp}");
        let text = resp["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("Created 2 drafts"), "{text}");
    }
    let drafts = c.ok("list_pending", json!({"statuses": ["draft"], "limit": 200}));
    assert_eq!(drafts["total"], 2 * n);
    let previews: BTreeSet<String> = drafts["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["preview"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(previews.len(), n, "every call created its own posts");
}
