//! The `interdict` binary, end to end: recorded PreToolUse payloads for both harnesses, `check`'s
//! exit codes, `policy check` and `explain-code`. Each assertion names an exact outcome.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_interdict"));
    c.env_remove("INTERDICT_MODE");
    c
}

fn payloads() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/payloads")
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = bin().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("runs");
    // A reader may stop early (an oversized payload): a broken pipe is fine.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("exits")
}

/// A recorded payload, with `PAYLOADS` in it replaced by the payloads directory (the tool call's cwd).
fn payload(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(payloads().join(name)).expect("payload");
    text.replace("PAYLOADS", &payloads().display().to_string()).into_bytes()
}

/// The hook's decision: `Some(reason)` for a deny, `None` for no output (the normal flow).
fn hook(harness: &str, mode: &str, input: &[u8]) -> Option<String> {
    let out = run(&["hook", harness, "--mode", mode], input);
    assert_eq!(out.status.code(), Some(0), "a hook always exits 0; stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if stdout.is_empty() {
        return None;
    }
    let v: Value = serde_json::from_str(&stdout).expect("the answer is JSON");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["hookSpecificOutput"], "only the hookSpecificOutput key (Codex rejects others)");
    let h = &v["hookSpecificOutput"];
    assert_eq!(h.as_object().map(|o| o.len()), Some(3), "{h}");
    assert_eq!(h["hookEventName"], "PreToolUse");
    assert_eq!(h["permissionDecision"], "deny");
    let reason = h["permissionDecisionReason"].as_str().expect("a reason").to_string();
    assert!(!reason.trim().is_empty(), "Codex fails open on an empty reason");
    Some(reason)
}

fn denied_with(harness: &str, mode: &str, input: &[u8], code: &str) {
    let reason = hook(harness, mode, input).unwrap_or_else(|| panic!("{harness}: expected a deny with {code}, got none"));
    assert!(reason.starts_with(&format!("interdict: {code}: ")), "{harness}: expected {code}, got: {reason}");
}

#[test]
fn hook_bash_psql_c() {
    for h in ["claude-code", "codex"] {
        denied_with(h, "readonly", &payload("claude_bash_psql_c.json"), "readonly.dml");
        denied_with(h, "guarded", &payload("codex_bash_psql_c.json"), "guarded.drop");
    }
}

#[test]
fn hook_bash_psql_file_relative_to_cwd() {
    for h in ["claude-code", "codex"] {
        denied_with(h, "readonly", &payload("claude_bash_psql_f.json"), "readonly.ddl");
        denied_with(h, "guarded", &payload("claude_bash_psql_f.json"), "guarded.drop_column");
    }
}

#[test]
fn hook_heredoc_and_pipes() {
    for h in ["claude-code", "codex"] {
        denied_with(h, "readonly", &payload("claude_bash_heredoc.json"), "readonly.dml");
        denied_with(h, "guarded", &payload("claude_bash_heredoc.json"), "guarded.truncate");
        denied_with(h, "readonly", &payload("claude_bash_echo_pipe.json"), "readonly.sequence");
    }
}

#[test]
fn hook_client_options_that_would_loosen_the_mode() {
    for h in ["claude-code", "codex"] {
        denied_with(h, "readonly", &payload("claude_bash_pgoptions.json"), "mode.locked");
        denied_with(h, "guarded", &payload("codex_bash_uri_options.json"), "mode.locked");
    }
}

#[test]
fn hook_mcp_tools() {
    for h in ["claude-code", "codex"] {
        denied_with(h, "readonly", &payload("claude_mcp_query.json"), "readonly.writable_cte");
        denied_with(h, "readonly", &payload("codex_mcp_query.json"), "readonly.dml");
        assert_eq!(hook(h, "readonly", &payload("claude_mcp_read.json")), None, "a read passes");
        assert_eq!(hook(h, "guarded", &payload("codex_mcp_query.json")), None, "a guarded write: the server counts its rows");
        let search = br#"{"tool_name":"mcp__search__web","tool_input":{"query":"how do rust traits work"}}"#;
        assert_eq!(hook(h, "readonly", search), None, "a query field that is not SQL is not SQL");
    }
}

#[test]
fn hook_non_sql_and_other_tools_pass() {
    for h in ["claude-code", "codex"] {
        assert_eq!(hook(h, "readonly", &payload("claude_bash_non_sql.json")), None);
        let read = br#"{"tool_name":"Read","tool_input":{"file_path":"/etc/hosts"}}"#;
        assert_eq!(hook(h, "readonly", read), None);
    }
}

#[test]
fn hook_failures_deny() {
    for h in ["claude-code", "codex"] {
        let reason = hook(h, "readonly", &payload("claude_malformed.json")).expect("malformed JSON is denied");
        assert!(reason.contains("not valid JSON"), "{reason}");
        let reason = hook(h, "readonly", b"").expect("empty input is denied");
        assert!(reason.contains("not valid JSON"), "{reason}");
        let reason = hook(h, "readonly", br#"{"tool_input":{}}"#).expect("no tool_name is denied");
        assert!(reason.contains("no tool_name"), "{reason}");
        let reason = hook(h, "readonly", br#"{"tool_name":"Bash","tool_input":{"command":"psql -c 'SELEC 1'"}}"#).expect("invalid SQL is denied");
        assert!(reason.starts_with("interdict: invalid SQL: syntax error") && reason.contains("line 1, column 1"), "{reason}");
    }
}

#[test]
fn hook_large_payloads() {
    // Far larger than usual (2 MB) but within what the hook reads: judged as any other.
    let padding = "x".repeat(2 * 1024 * 1024);
    let big = format!(r#"{{"tool_name":"Bash","tool_input":{{"command":"psql -c 'DELETE FROM orders' # {padding}"}}}}"#);
    for h in ["claude-code", "codex"] {
        denied_with(h, "readonly", big.as_bytes(), "readonly.dml");
    }
    // Beyond the 8 MB the hook reads: denied, never passed unread.
    let padding = "x".repeat(9 * 1024 * 1024);
    let huge = format!(r#"{{"tool_name":"Bash","tool_input":{{"command":"ls # {padding}"}}}}"#);
    for h in ["claude-code", "codex"] {
        let reason = hook(h, "readonly", huge.as_bytes()).expect("denied");
        assert!(reason.contains("larger than 8 MB"), "{reason}");
    }
}

#[test]
fn hook_strict_denies_what_only_the_server_decides() {
    let out = run(&["hook", "codex", "--mode", "guarded", "--strict"], &payload("codex_mcp_query.json"));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("interdict: needs_server"));
}

fn check(args: &[&str], stdin: &[u8]) -> (i32, Value) {
    let mut all = vec!["check", "--json"];
    all.extend_from_slice(args);
    let out = run(&all, stdin);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn check_exit_codes() {
    let (code, v) = check(&["--mode", "readonly", "SELECT count(*) FROM orders; SHOW work_mem"], b"");
    assert_eq!((code, v["verdict"].as_str()), (0, Some("allow")));
    let (code, v) = check(&["--mode", "readonly", "SELECT 1; UPDATE orders SET amount = 0 WHERE id = 1"], b"");
    assert_eq!((code, v["statements"][1]["code"].as_str()), (1, Some("readonly.dml")));
    assert_eq!(v["statements"][1]["sqlstate"], "25006");
    assert!(v["statements"][1]["hint"].as_str().is_some_and(|h| h.starts_with("Run only reads")));
    let (code, v) = check(&["--mode", "readonly", "SELECT my_function(1)"], b"");
    assert_eq!((code, v["statements"][0]["verdict"].as_str()), (2, Some("needs_server")));
    let (code, v) = check(&["--mode", "guarded", "DELETE FROM orders WHERE id = 1"], b"");
    assert_eq!((code, v["verdict"].as_str()), (2, Some("needs_server")), "rows and undo are the server's");
    let (code, v) = check(&["--mode", "guarded", "TRUNCATE orders"], b"");
    assert_eq!((code, v["statements"][0]["code"].as_str()), (1, Some("guarded.truncate")));
    let (code, v) = check(&["--mode", "readonly", "SELECT 1;\nSELEC 2"], b"");
    assert_eq!((code, v["verdict"].as_str()), (3, Some("invalid")));
    assert_eq!((v["line"].as_u64(), v["column"].as_u64()), (Some(2), Some(1)));
}

#[test]
fn check_bad_input() {
    let (code, v) = check(&["-"], b"");
    assert_eq!((code, v["error"].as_str()), (3, Some("no SQL statement in the input")));
    let (code, v) = check(&["-"], b"  -- only a comment\n");
    assert_eq!((code, v["verdict"].as_str()), (3, Some("invalid")));
    let (code, v) = check(&["-"], &[0xff, 0xfe, 0x00, 0x12, 0x80]);
    assert_eq!(code, 3);
    assert!(v["error"].as_str().is_some_and(|e| e.contains("NUL byte") || e.contains("UTF-8")), "{v}");
    let (code, v) = check(&["-"], &[0xc3, 0x28, b'S']);
    assert_eq!(code, 3);
    assert!(v["error"].as_str().is_some_and(|e| e.contains("UTF-8")), "{v}");
    let out = run(&["check", "--mode", "sideways", "SELECT 1"], b"");
    assert_eq!(out.status.code(), Some(3), "a bad flag is bad usage");
    let out = run(&["check", "-f", "/nonexistent/file.sql"], b"");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn check_follows_the_session() {
    let (code, v) = check(&["--mode", "guarded", "SET interdict.mode = readonly; INSERT INTO t VALUES (1)"], b"");
    assert_eq!((code, v["statements"][1]["code"].as_str()), (1, Some("readonly.dml")), "raised to readonly, the insert is refused");
    let (code, v) = check(&["--mode", "readonly", "PREPARE p AS DELETE FROM t; EXECUTE p"], b"");
    assert_eq!((code, v["statements"][1]["code"].as_str()), (1, Some("readonly.dml")));
    let (code, _) = check(&["--mode", "guarded", "--blocked-commands", "CLUSTER", "CLUSTER t USING t_pkey"], b"");
    assert_eq!(code, 1);
}

#[test]
fn policy_check() {
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies");
    for file in ["default.yaml", "strict.yaml", "permissive.yaml"] {
        let out = run(&["policy", "check", policies.join(file).to_str().expect("path")], b"");
        assert_eq!(out.status.code(), Some(0), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dir = std::env::temp_dir().join(format!("interdict-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "version: 1\ndefaults:\n  max_rows: -1\n").expect("write");
    let out = run(&["policy", "check", broken.to_str().expect("path")], b"");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_rows") && err.contains("(line 3, column 13)"), "{err}");
    let not_yaml = dir.join("not.yaml");
    std::fs::write(&not_yaml, "version: 1\nroles: [\n").expect("write");
    let out = run(&["policy", "check", not_yaml.to_str().expect("path"), "--json"], b"");
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!((v["valid"].as_bool(), v["line"].as_u64()), (Some(false), Some(2)));
    let explain = run(&["policy", "check", policies.join("default.yaml").to_str().expect("path"), "--explain", "agent", "public.orders", "--json"], b"");
    assert_eq!(explain.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&explain.stdout).expect("json");
    assert!(v["rule"]["structural"]["truncate"].is_string(), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_code() {
    let out = run(&["explain-code", "guarded.truncate"], b"");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SQLSTATE:   42501") && text.contains("TRUNCATE removes every row"), "{text}");
    let out = run(&["explain-code", "readonly.nonsense"], b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("explain-code --all"));
    let out = run(&["explain-code", "--all", "--json"], b"");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(interdict_core::reasons::REASONS.len()));
}
