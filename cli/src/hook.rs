//! `interdict hook claude-code|codex`: a PreToolUse hook. Reads the tool call (JSON on stdin), finds
//! the SQL it will run — `psql -c`/`--command`, `psql -f FILE`, here-documents, here-strings and
//! `echo`/`printf`/`cat` piped into psql, `PGOPTIONS` and connection strings that set `interdict.*`,
//! MCP tools' `sql`/`query`/`statement` fields — checks it with the same judge as `interdict check`,
//! and answers in the harness's format.
//!
//! Both harnesses take the same answer (docs/agents.md; Codex's output schema allows no other keys):
//! deny = exit 0 and `{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny",
//! "permissionDecisionReason":"…"}}` with a non-empty reason; anything else = exit 0 and no output
//! (the harness's normal permission flow). Any failure of the hook's own — unreadable or oversized
//! input, malformed JSON, a panic — denies: both harnesses run the tool when a hook crashes, exits
//! with another code, or times out, so the hook never does any of those.

use crate::check::{check_sql, text_of, Config};
use crate::judge::Judgement;
use crate::shell::{self, Command};
use interdict_core::{Mode, ReasonCode, Refusal};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest payload (and SQL file) the hook reads; a larger one is denied.
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Harness {
    ClaudeCode,
    Codex,
}

/// The hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No output: the harness's own permission flow goes on.
    Pass { note: Option<String> },
    Deny(String),
}

pub fn run(harness: Harness, session: &crate::SessionArgs, strict: bool) -> i32 {
    let decision = match session.config() {
        Ok(config) => {
            let mut payload = Vec::new();
            match std::io::stdin().take(MAX_BYTES + 1).read_to_end(&mut payload) {
                Ok(_) => std::panic::catch_unwind(|| decide(&payload, &config, strict))
                    .unwrap_or_else(|_| Decision::Deny("interdict: the hook failed inside (a bug): denied to be safe".into())),
                Err(e) => Decision::Deny(format!("interdict: the hook could not read its input ({e}): denied to be safe")),
            }
        }
        Err(e) => Decision::Deny(format!("interdict: the hook is misconfigured ({e}): denied to be safe")),
    };
    print!("{}", answer(harness, &decision));
    if let Decision::Pass { note: Some(note) } = &decision {
        eprintln!("{note}");
    }
    0
}

/// What the harness reads on stdout.
pub fn answer(_harness: Harness, decision: &Decision) -> String {
    match decision {
        Decision::Pass { .. } => String::new(),
        Decision::Deny(reason) => {
            let reason = if reason.trim().is_empty() { "interdict: denied" } else { reason.as_str() };
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": reason}})
                .to_string()
                + "\n"
        }
    }
}

/// The decision for one payload.
pub fn decide(payload: &[u8], config: &Config, strict: bool) -> Decision {
    if payload.len() as u64 > MAX_BYTES {
        return Decision::Deny(format!("interdict: the tool call is larger than {} MB, more than the hook reads: denied to be safe", MAX_BYTES / 1024 / 1024));
    }
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return Decision::Deny(format!("interdict: the hook's input is not valid JSON ({e}): denied to be safe")),
    };
    let Some(tool) = value.get("tool_name").and_then(Value::as_str) else {
        return Decision::Deny("interdict: the hook's input has no tool_name: denied to be safe".into());
    };
    let input = value.get("tool_input").cloned().unwrap_or(Value::Null);
    let cwd = value.get("cwd").and_then(Value::as_str).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let mode = config.mode.unwrap_or(Mode::Readonly);
    let sources = if tool == "Bash" || tool == "shell" || tool == "local_shell" {
        match input.get("command") {
            Some(Value::String(cmd)) => bash_sources(cmd, &cwd, mode),
            Some(Value::Array(argv)) => bash_sources(&argv.iter().filter_map(Value::as_str).map(quote).collect::<Vec<_>>().join(" "), &cwd, mode),
            _ => Vec::new(),
        }
    } else if tool.starts_with("mcp__") {
        mcp_sources(&input)
    } else {
        Vec::new()
    };
    let mut notes = Vec::new();
    for source in sources {
        match source {
            Source::Deny(reason) => return Decision::Deny(reason),
            Source::Unreadable(why) => notes.push(why),
            Source::Sql { origin, text, lenient } => match verdict(&text, config, lenient) {
                Verdict::Fine => {}
                Verdict::Ignore => {}
                Verdict::Deny(reason) => return Decision::Deny(format!("{reason} [{origin}]")),
                Verdict::Server(why) if strict => {
                    return Decision::Deny(format!("interdict: needs_server: {why} [{origin}] (a strict hook denies what only the server can decide)"))
                }
                Verdict::Server(why) => notes.push(format!("interdict: the server decides ({origin}): {why}")),
            },
        }
    }
    Decision::Pass { note: (!notes.is_empty()).then(|| notes.join("\n")) }
}

/// SQL found in a tool call.
#[derive(Debug)]
enum Source {
    /// `lenient`: a field that may not be SQL at all (an MCP tool's `query`): text that does not
    /// parse and does not start like SQL is not SQL.
    Sql { origin: String, text: String, lenient: bool },
    /// A file or input the hook could not read: the server decides.
    Unreadable(String),
    Deny(String),
}

enum Verdict {
    Fine,
    Ignore,
    Deny(String),
    Server(String),
}

fn verdict(text: &str, config: &Config, lenient: bool) -> Verdict {
    let mut session = match config.session() {
        Ok(s) => s,
        Err(e) => return Verdict::Deny(format!("interdict: the hook is misconfigured ({e})")),
    };
    match check_sql(text, &mut session) {
        Err(_) if lenient && !looks_like_sql(text) => Verdict::Ignore,
        Err(invalid) => Verdict::Deny(format!("interdict: invalid SQL: {}", invalid.render())),
        Ok(reports) => {
            let mut server = None;
            for r in reports {
                match r.judgement {
                    Judgement::Refuse(refusal) => return Verdict::Deny(deny_reason(&refusal, r.index)),
                    Judgement::NeedsServer { why, .. } => {
                        server.get_or_insert(format!("statement {}: {why}", r.index));
                    }
                    Judgement::Allow => {}
                }
            }
            server.map_or(Verdict::Fine, Verdict::Server)
        }
    }
}

/// `interdict: <code>: <what was refused and why> — <hint>`, what the model reads.
pub fn deny_reason(r: &Refusal, statement: usize) -> String {
    let reason = r.code.reason();
    format!("interdict: {}: {} (statement {statement}) — {}", reason.code, r.message().trim_start_matches("interdict: "), reason.hint)
}

/// Whether text starts like a SQL statement (for fields that may hold something else).
fn looks_like_sql(text: &str) -> bool {
    let first = text.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("").to_ascii_uppercase();
    const KEYWORDS: &[&str] = &[
        "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT", "REVOKE",
        "COPY", "SET", "RESET", "BEGIN", "COMMIT", "ROLLBACK", "DO", "CALL", "VACUUM", "ANALYZE", "EXPLAIN", "LOCK",
        "PREPARE", "EXECUTE", "DECLARE", "COMMENT", "REINDEX", "CLUSTER", "LOAD", "NOTIFY", "REFRESH", "VALUES", "TABLE",
    ];
    KEYWORDS.contains(&first.as_str())
}

/// A word quoted for the shell (for `command` given as argv).
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

// ---- MCP tools

/// String fields named like SQL (`sql`, `query`, `statement`, …) anywhere in the tool's input.
fn mcp_sources(input: &Value) -> Vec<Source> {
    let mut out = Vec::new();
    collect_sql_fields(input, "", &mut out);
    out
}

fn collect_sql_fields(v: &Value, path: &str, out: &mut Vec<Source>) {
    const KEYS: &[&str] = &["sql", "query", "statement", "statements", "sql_query", "script", "command"];
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let here = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match child {
                    Value::String(s) if KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                        out.push(Source::Sql { origin: format!("tool_input.{here}"), text: s.clone(), lenient: true })
                    }
                    _ => collect_sql_fields(child, &here, out),
                }
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, c)| collect_sql_fields(c, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

// ---- Bash

/// The SQL a shell command feeds psql, and client options that would change the guard's settings.
fn bash_sources(script: &str, cwd: &Path, mode: Mode) -> Vec<Source> {
    let pipelines = shell::parse(script);
    let mut out = Vec::new();
    let mut exported: Vec<(String, String)> = Vec::new();
    for pipeline in &pipelines {
        for (i, cmd) in pipeline.iter().enumerate() {
            if cmd.words.first().map(String::as_str) == Some("export") {
                exported.extend(cmd.words[1..].iter().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())));
            }
            if cmd.words.is_empty() {
                exported.extend(cmd.assignments.iter().cloned()); // NAME=value alone sets a shell variable
                continue;
            }
            let Some(at) = cmd.words.iter().position(|w| w.rsplit('/').next() == Some("psql")) else { continue };
            let via_env = env_command_assignments(cmd, at);
            let env = exported.iter().chain(&cmd.assignments).chain(via_env.iter());
            for (name, value) in env {
                if name == "PGOPTIONS" {
                    out.extend(client_options(value, mode, "PGOPTIONS"));
                }
            }
            psql_sources(cmd, at, if i > 0 { pipeline.get(i - 1) } else { None }, cwd, mode, &mut out);
        }
    }
    out
}

/// `env NAME=value … psql`: assignments given to `env` before psql.
fn env_command_assignments(cmd: &Command, psql_at: usize) -> Vec<(String, String)> {
    cmd.words[..psql_at].iter().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// psql's arguments: `-c`, `-f`, the connection string; and its stdin.
fn psql_sources(cmd: &Command, at: usize, fed_by: Option<&Command>, cwd: &Path, mode: Mode, out: &mut Vec<Source>) {
    let args = &cmd.words[at + 1..];
    let mut i = 0;
    let mut positional = 0;
    let mut sql_given = false;
    // Options of psql that take a value (`psql --help`).
    const WITH_VALUE: &[char] = &['c', 'f', 'd', 'h', 'p', 'U', 'v', 'P', 'o', 'L', 'T', 'F', 'R'];
    while i < args.len() {
        let arg = &args[i];
        let (opt, inline): (String, Option<String>) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((k, v)) => (format!("--{k}"), Some(v.to_string())),
                None => (arg.clone(), None),
            }
        } else if arg.starts_with('-') && arg.len() > 1 {
            // A cluster of short flags (`-Atc SQL`, `-qX`): the first letter that takes a value
            // takes the rest of the cluster, or the next argument.
            let letters: Vec<char> = arg.chars().skip(1).collect();
            match letters.iter().position(|l| WITH_VALUE.contains(l)) {
                Some(p) => {
                    let rest: String = letters[p + 1..].iter().collect();
                    (format!("-{}", letters[p]), (!rest.is_empty()).then_some(rest))
                }
                None => (format!("-{}", letters.first().copied().unwrap_or('-')), None),
            }
        } else {
            positional += 1;
            if positional == 1 {
                out.extend(client_options(&conninfo_options(arg), mode, "the connection string"));
            }
            i += 1;
            continue;
        };
        let takes_value = matches!(opt.as_str(), "--command" | "--file" | "--dbname" | "--host" | "--port" | "--username" | "--set" | "--variable" | "--pset" | "--output" | "--log-file" | "--table-attr" | "--field-separator" | "--record-separator")
            || (opt.len() == 2 && WITH_VALUE.contains(&opt.chars().nth(1).unwrap_or('-')));
        let value = if takes_value && inline.is_none() {
            i += 1;
            args.get(i).cloned()
        } else {
            inline
        };
        match (opt.as_str(), value) {
            ("-c" | "--command", Some(sql)) => {
                sql_given = true;
                out.push(Source::Sql { origin: "psql -c".into(), text: sql, lenient: false });
            }
            ("-f" | "--file", Some(file)) => {
                sql_given = true;
                if file == "-" {
                    out.extend(stdin_sql(cmd, fed_by, cwd));
                } else {
                    out.push(read_sql_file(&file, cwd, "psql -f"));
                }
            }
            ("-d" | "--dbname", Some(dsn)) => out.extend(client_options(&conninfo_options(&dsn), mode, "the connection string")),
            _ => {}
        }
        i += 1;
    }
    if !sql_given {
        out.extend(stdin_sql(cmd, fed_by, cwd));
    }
}

/// What psql reads on stdin: a here-document or here-string, `< file`, or the command piped in
/// (`echo`, `printf`, `cat FILE`).
fn stdin_sql(cmd: &Command, fed_by: Option<&Command>, cwd: &Path) -> Vec<Source> {
    if let Some(text) = &cmd.stdin_text {
        return vec![Source::Sql { origin: "psql's here-document".into(), text: text.clone(), lenient: false }];
    }
    if let Some(file) = &cmd.stdin_file {
        return vec![read_sql_file(file, cwd, "psql < file")];
    }
    let Some(feeder) = fed_by else { return Vec::new() };
    let words = &feeder.words;
    match words.first().map(|w| w.rsplit('/').next().unwrap_or(w)) {
        Some("echo") => {
            let text: Vec<&str> = words[1..].iter().map(String::as_str).skip_while(|w| w.starts_with('-') && w.len() <= 3).collect();
            vec![Source::Sql { origin: "echo | psql".into(), text: text.join(" "), lenient: false }]
        }
        Some("printf") => {
            let text = words.get(1).map(|f| f.replace("\\n", "\n").replace("\\t", "\t")).unwrap_or_default();
            vec![Source::Sql { origin: "printf | psql".into(), text, lenient: false }]
        }
        Some("cat") if words.len() > 1 => words[1..].iter().filter(|w| !w.starts_with('-')).map(|f| read_sql_file(f, cwd, "cat | psql")).collect(),
        Some("cat") => match &feeder.stdin_text {
            Some(text) => vec![Source::Sql { origin: "cat <<EOF | psql".into(), text: text.clone(), lenient: false }],
            None => Vec::new(),
        },
        Some(other) => vec![Source::Unreadable(format!("psql reads the output of {other}, which the hook does not run"))],
        None => Vec::new(),
    }
}

/// A SQL file named in the command, relative to the tool call's working directory.
fn read_sql_file(file: &str, cwd: &Path, origin: &str) -> Source {
    if file.contains('$') || file.contains('`') {
        return Source::Unreadable(format!("{origin} {file}: a name built by the shell at run time"));
    }
    let path = if Path::new(file).is_absolute() { PathBuf::from(file) } else { cwd.join(file) };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => return Source::Unreadable(format!("{origin} {}: {e}", path.display())),
    };
    if meta.len() > MAX_BYTES {
        return Source::Deny(format!("interdict: {origin} {}: larger than {} MB, more than the hook reads: denied to be safe", path.display(), MAX_BYTES / 1024 / 1024));
    }
    match std::fs::read(&path).map_err(|e| e.to_string()).and_then(text_of) {
        Ok(text) => Source::Sql { origin: format!("{origin} {}", path.display()), text, lenient: false },
        Err(e) => Source::Deny(format!("interdict: {origin} {}: {e}", path.display())),
    }
}

/// The `options` a connection string (`key=value …` or a `postgresql://` URI) passes to the server.
fn conninfo_options(dsn: &str) -> String {
    if let Some(query) = dsn.split_once('?').map(|(_, q)| q).filter(|_| dsn.contains("://")) {
        return query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| *k == "options")
            .map(|(_, v)| percent_decode(v))
            .collect::<Vec<_>>()
            .join(" ");
    }
    let Some(at) = dsn.find("options") else { return String::new() };
    let rest = dsn[at + "options".len()..].trim_start();
    let Some(rest) = rest.strip_prefix('=') else { return String::new() };
    let rest = rest.trim_start();
    if let Some(quoted) = rest.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '\'' => break,
                c => out.push(c),
            }
        }
        return out;
    }
    rest.split_whitespace().next().unwrap_or("").to_string()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Settings a client option string (`-c name=value`, `--name=value`) passes at connect time that
/// would change the guard: `interdict.mode` looser than the hook's mode (the server keeps the
/// role's mode, but the attempt is denied), any other `interdict.*`, and the preload settings.
fn client_options(options: &str, mode: Mode, origin: &str) -> Vec<Source> {
    let words: Vec<&str> = options.split_whitespace().collect();
    let mut settings = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w == "-c" {
            if let Some(next) = words.get(i + 1) {
                settings.push(*next);
                i += 1;
            }
        } else if let Some(rest) = w.strip_prefix("-c").or_else(|| w.strip_prefix("--")) {
            settings.push(rest);
        }
        i += 1;
    }
    let mut out = Vec::new();
    for setting in settings {
        let (name, value) = setting.split_once('=').unwrap_or((setting, ""));
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        let refusal = if name == "interdict.mode" {
            match Mode::parse(value) {
                Ok(m) if m >= mode => None,
                Ok(m) => Some(Refusal::new(ReasonCode::ModeLocked, mode, format!("{origin} setting interdict.mode={m}")).fact("setting", name.clone())),
                Err(e) => Some(Refusal::new(ReasonCode::SettingInvalid, mode, format!("{origin} setting interdict.mode={value}")).fact("error", e)),
            }
        } else if name.starts_with("interdict.") {
            Some(Refusal::new(ReasonCode::SettingLocked, mode, format!("{origin} setting {name}")).fact("setting", name.clone()))
        } else if matches!(name.as_str(), "session_preload_libraries" | "shared_preload_libraries" | "local_preload_libraries") {
            Some(Refusal::new(ReasonCode::SettingProtected, mode, format!("{origin} setting {name}")).fact("setting", name.clone()))
        } else {
            None
        };
        if let Some(r) = refusal {
            out.push(Source::Deny(format!("{} (a client option cannot loosen the guard)", deny_reason(&r, 0).replace(" (statement 0)", ""))));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_options() {
        assert_eq!(conninfo_options("host=x options='-c interdict.mode=off' dbname=y"), "-c interdict.mode=off");
        assert_eq!(conninfo_options("postgresql://u@h/db?options=-c%20interdict.mode%3Doff"), "-c interdict.mode=off");
        assert_eq!(conninfo_options("dbname=shop"), "");
    }

    #[test]
    fn short_flag_clusters() {
        let found = bash_sources("psql -Atqc 'DELETE FROM t' shop; psql -qXf-", Path::new("/tmp"), Mode::Readonly);
        assert!(matches!(found.first(), Some(Source::Sql { text, .. }) if text == "DELETE FROM t"), "{found:?}");
    }
}
