//! `interdict check`: splits the input into statements with Postgres' own parser (each `RawStmt`'s
//! location and length, as `pg_query::split_with_parser` finds them), judges each in order in one
//! session (`judge::Session`), and reports: human text by default, one JSON object with `--json`.

use crate::judge::{Judgement, Session};
use crate::parse_error;
use crate::tags::TAGS;
use interdict_core::policy::Policy;
use interdict_core::{CommandSet, Mode, Refusal, Settings};
use serde_json::{json, Value};

/// Exit codes (docs/agents.md).
pub const EXIT_ALLOW: i32 = 0;
pub const EXIT_REFUSE: i32 = 1;
pub const EXIT_NEEDS_SERVER: i32 = 2;
pub const EXIT_INVALID: i32 = 3;

/// The session settings a check runs under.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub mode: Option<Mode>,
    pub blocked_commands: String,
    pub readonly_allow: String,
    pub allowed_extensions: String,
    pub policy_file: Option<String>,
    pub role: Option<String>,
}

impl Config {
    /// The session these settings make, or what is wrong with them.
    pub fn session(&self) -> Result<Session, String> {
        let rule = match &self.policy_file {
            Some(path) => Some(load_policy(path)?.for_role(self.role.as_deref().unwrap_or(""))),
            None => None,
        };
        let mode = self.mode.unwrap_or(Mode::Readonly).tighter(rule.as_ref().and_then(|r| r.mode).unwrap_or(Mode::Off));
        let parse = |what: &str, text: &str| CommandSet::parse(text, TAGS).map_err(|e| format!("{what}: {e}"));
        let mut blocked = parse("--blocked-commands", &self.blocked_commands)?;
        let mut allowed = parse("--readonly-allow", &self.readonly_allow)?;
        if let Some(rule) = &rule {
            for tags in &rule.blocked_commands {
                blocked = blocked.union(&parse("policy blocked_commands", tags)?);
            }
            if !rule.allowed_commands.is_empty() {
                let mut from_policy = CommandSet::EMPTY;
                for tags in &rule.allowed_commands {
                    from_policy = from_policy.union(&parse("policy allowed_commands", tags)?);
                }
                allowed = if self.readonly_allow.trim().is_empty() { from_policy } else { allowed.intersection(&from_policy) };
            }
        }
        let settings = Settings { mode, blocked, readonly_allow: allowed, ..Settings::default() };
        let extensions = self.allowed_extensions.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
        Ok(Session::new(settings, extensions, rule))
    }
}

/// A policy file, parsed and validated as `interdict.load_policy()` does it.
pub fn load_policy(path: &str) -> Result<Policy, String> {
    let text = read_text_file(path)?;
    Policy::parse(&text, TAGS).map_err(|e| format!("{path}: {e}"))
}

/// A file's text, with a clear message for a missing, unreadable or non-UTF-8 file.
pub fn read_text_file(path: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    text_of(bytes).map_err(|e| format!("{path}: {e}"))
}

/// Input bytes as text: UTF-8 without NUL bytes (what Postgres' parser takes).
pub fn text_of(bytes: Vec<u8>) -> Result<String, String> {
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(format!("the input holds a NUL byte at byte {at}: not SQL text"));
    }
    String::from_utf8(bytes).map_err(|e| format!("the input is not valid UTF-8 (byte {}): not SQL text", e.utf8_error().valid_up_to()))
}

/// One statement's result.
#[derive(Debug, Clone)]
pub struct StatementReport {
    pub index: usize,
    pub line: usize,
    pub sql: String,
    pub judgement: Judgement,
}

/// Input that is not valid SQL: the parser's message and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub position: Option<usize>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Invalid {
    pub fn plain(message: impl Into<String>) -> Invalid {
        Invalid { message: message.into(), position: None, line: None, column: None }
    }

    pub fn render(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{} (line {l}, column {c})", self.message),
            _ => self.message.clone(),
        }
    }
}

/// Every statement of `sql`, judged in order in `session`.
pub fn check_sql(sql: &str, session: &mut Session) -> Result<Vec<StatementReport>, Invalid> {
    let parsed = match pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) {
        Ok(p) => p,
        Err(e) => return Err(parse_failure(sql, e)),
    };
    let mut reports = Vec::with_capacity(parsed.protobuf.stmts.len());
    for (i, raw) in parsed.protobuf.stmts.iter().enumerate() {
        let text = statement_text(sql, raw.stmt_location, raw.stmt_len);
        let line = sql.get(..usize::try_from(raw.stmt_location).unwrap_or(0)).map_or(1, |b| b.matches('\n').count() + 1);
        let judgement = match raw.stmt.as_ref().and_then(|n| n.node.as_ref()).map(serde_json::to_value) {
            Some(Ok(v)) => match crate::tree::obj(&v) {
                Some((kind, body)) => session.judge(kind, body),
                None => Judgement::NeedsServer { why: "a statement this check cannot read".into(), likely: None },
            },
            _ => Judgement::NeedsServer { why: "a statement this check cannot read".into(), likely: None },
        };
        reports.push(StatementReport { index: i + 1, line: line + leading_lines(&text), sql: text.trim().to_string(), judgement });
    }
    if reports.is_empty() {
        return Err(Invalid::plain("no SQL statement in the input"));
    }
    Ok(reports)
}

fn parse_failure(sql: &str, e: pg_query::Error) -> Invalid {
    let message = match e {
        pg_query::Error::Parse(m) | pg_query::Error::Split(m) => m,
        other => other.to_string(),
    };
    let position = parse_error::error_position(sql);
    let (line, column) = position.map(|p| parse_error::line_column(sql, p)).unzip();
    Invalid { message, position, line, column }
}

/// A statement's text: `stmt_len` 0 means "to the end" (`RawStmt`).
fn statement_text(sql: &str, location: i32, len: i32) -> String {
    let start = usize::try_from(location).unwrap_or(0).min(sql.len());
    let end = if len <= 0 { sql.len() } else { (start + usize::try_from(len).unwrap_or(0)).min(sql.len()) };
    sql.get(start..end).unwrap_or("").to_string()
}

/// Lines of whitespace and comments before a statement's first token (RawStmt locations include
/// leading comments only sometimes; the line reported is the statement's own).
fn leading_lines(text: &str) -> usize {
    let trimmed = text.trim_start();
    text[..text.len() - trimmed.len()].matches('\n').count()
}

/// The exit code of a checked input.
pub fn exit_code(reports: &[StatementReport]) -> i32 {
    if reports.iter().any(|r| matches!(r.judgement, Judgement::Refuse(_))) {
        EXIT_REFUSE
    } else if reports.iter().any(|r| matches!(r.judgement, Judgement::NeedsServer { .. })) {
        EXIT_NEEDS_SERVER
    } else {
        EXIT_ALLOW
    }
}

/// A refusal as JSON: the reason table's row and the facts.
pub fn refusal_json(r: &Refusal) -> Value {
    let reason = r.code.reason();
    let detail: Value = serde_json::from_str(&r.detail()).unwrap_or(Value::Null);
    json!({
        "code": reason.code,
        "sqlstate": reason.sqlstate,
        "message": r.message(),
        "why": reason.why,
        "hint": reason.hint,
        "detail": detail,
        "approvable": r.approvable(),
    })
}

pub fn verdict_name(j: &Judgement) -> &'static str {
    match j {
        Judgement::Allow => "allow",
        Judgement::Refuse(_) => "refuse",
        Judgement::NeedsServer { .. } => "needs_server",
    }
}

pub fn statement_json(r: &StatementReport) -> Value {
    let mut v = json!({ "index": r.index, "line": r.line, "sql": r.sql, "verdict": verdict_name(&r.judgement) });
    match &r.judgement {
        Judgement::Allow => {}
        Judgement::Refuse(refusal) => merge(&mut v, refusal_json(refusal)),
        Judgement::NeedsServer { why, likely } => {
            v["why"] = json!(why);
            v["likely"] = likely.as_ref().map_or(Value::Null, refusal_json);
        }
    }
    v
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

/// The whole result as one JSON object.
pub fn report_json(mode: Mode, result: &Result<Vec<StatementReport>, Invalid>) -> Value {
    match result {
        Ok(reports) => {
            let code = exit_code(reports);
            let count = |name: &str| reports.iter().filter(|r| verdict_name(&r.judgement) == name).count();
            json!({
                "mode": mode.as_str(),
                "verdict": overall(code),
                "exit_code": code,
                "counts": {"allow": count("allow"), "refuse": count("refuse"), "needs_server": count("needs_server")},
                "statements": reports.iter().map(statement_json).collect::<Vec<_>>(),
            })
        }
        Err(invalid) => json!({
            "mode": mode.as_str(),
            "verdict": "invalid",
            "exit_code": EXIT_INVALID,
            "error": invalid.message,
            "position": invalid.position,
            "line": invalid.line,
            "column": invalid.column,
            "statements": [],
        }),
    }
}

fn overall(code: i32) -> &'static str {
    match code {
        EXIT_ALLOW => "allow",
        EXIT_REFUSE => "refuse",
        EXIT_NEEDS_SERVER => "needs_server",
        _ => "invalid",
    }
}

/// The result as text for a person.
pub fn report_text(mode: Mode, result: &Result<Vec<StatementReport>, Invalid>) -> String {
    let mut out = String::new();
    match result {
        Err(invalid) => out.push_str(&format!("invalid: {}\n", invalid.render())),
        Ok(reports) => {
            for r in reports {
                let first_line = r.sql.lines().next().unwrap_or("");
                let shown = if first_line.chars().count() > 72 { format!("{}…", first_line.chars().take(72).collect::<String>()) } else { first_line.to_string() };
                out.push_str(&format!("{:>3}  line {:<4} {:<13} {shown}\n", r.index, r.line, verdict_name(&r.judgement)));
                match &r.judgement {
                    Judgement::Allow => {}
                    Judgement::Refuse(refusal) => {
                        out.push_str(&format!("       {} [{} {}]\n", refusal.message(), refusal.code.reason().code, refusal.code.reason().sqlstate));
                        out.push_str(&format!("       DETAIL: {}\n       HINT: {}\n", refusal.detail(), refusal.hint()));
                    }
                    Judgement::NeedsServer { why, likely } => {
                        out.push_str(&format!("       the server decides: {why}\n"));
                        if let Some(l) = likely {
                            out.push_str(&format!("       likely: {} ({})\n", l.code.reason().code, l.message()));
                        }
                    }
                }
            }
            out.push_str(&format!("mode {mode}: {}\n", overall(exit_code(reports))));
        }
    }
    out
}

/// `--bench N`: parse and judge the whole input N times in one process; statements per second.
pub fn bench(sql: &str, config: &Config, rounds: usize) -> Result<String, String> {
    let rounds = rounds.max(1);
    let mut statements = 0usize;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        let mut session = config.session()?;
        statements += check_sql(sql, &mut session).map(|r| r.len()).map_err(|e| e.render())?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_second = statements as f64 / seconds.max(1e-9);
    Ok(format!(
        "{statements} statements in {seconds:.3}s: {per_second:.0} statements/s, {:.1} µs/statement (parse + facts + verdict, one core)",
        1e6 / per_second.max(1e-9)
    ))
}
