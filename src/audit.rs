//! The audit trail: every refusal, dry-run refusal, approval, denial and policy load writes one JSON
//! object as a `LOG` line through Postgres' own logging (so `stderr`, `csvlog`, `jsonlog` and log
//! shippers see it); recorded changes and reverts, one `changes` line per transaction as it commits
//! (an entry per change, each with its own statement). Each line carries the time, event, session
//! facts (role, database, `application_name`, client address, backend pid, `interdict.agent`, mode),
//! a stable hash of the statement, the statement as `interdict.log_statement` says (`redacted` by
//! default: literals replaced by `?`), and the event's own facts. A line goes to the server log only,
//! alone: Postgres adds no statement or context of its own (`messages::log_line`). Writing a line
//! never fails the statement: an error while writing it is swallowed.

use crate::cell::BackendCell;
use crate::settings::{self, LogStatement};
use interdict_core::redact::{hash_redacted, redact};
use interdict_core::Refusal;
use pgrx::pg_sys;
use pgrx::PgTryBuilder;
use serde_json::{json, Map, Value};

/// Statement text kept in a line, at most.
const STATEMENT_CHARS: usize = 4096;

/// At the session's lock (inside a transaction): the session's part of every line is rendered
/// then, so that lines written outside a transaction need no catalog.
pub fn note_session() {
    session_part();
}

/// The session role's and database's names, if a transaction is open to look them up in.
fn session_names() -> (String, String) {
    // SAFETY: catalog lookups, only inside a transaction.
    unsafe {
        if !pg_sys::IsTransactionState() || pg_sys::MyDatabaseId == pg_sys::InvalidOid {
            return (String::new(), String::new());
        }
        (
            crate::nodes::cstr(pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), true)).unwrap_or_default(),
            crate::nodes::cstr(pg_sys::get_database_name(pg_sys::MyDatabaseId)).unwrap_or_default(),
        )
    }
}

/// The client's address (`inet_client_addr()`; `None` over a Unix socket or outside a client backend).
fn client_addr() -> Option<String> {
    // SAFETY: inet_client_addr reads MyProcPort (null-safe: it returns NULL then); inet_out formats
    // the value it returned.
    unsafe {
        let addr = pgrx::fcinfo::direct_function_call_as_datum(pg_sys::inet_client_addr, &[])?;
        let text = pgrx::fcinfo::direct_function_call_as_datum(pg_sys::inet_out, &[Some(addr)])?;
        crate::nodes::cstr(text.cast_mut_ptr())
    }
}

pub fn refused(refusal: &Refusal) {
    map_line("refusal", refusal_fields(refusal));
}

/// A dry-run session met a refusal and let the statement go on.
pub fn dry_run(refusal: &Refusal) {
    map_line("dry_run", refusal_fields(refusal));
}

fn refusal_fields(r: &Refusal) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("reason".into(), json!(r.code.reason().code));
    m.insert("sqlstate".into(), json!(r.code.reason().sqlstate));
    m.insert("what".into(), json!(r.what));
    if let Some(rows) = r.fact_value("rows_reached").and_then(|v| v.parse::<u64>().ok()) {
        m.insert("rows".into(), json!(rows));
    }
    if let Some(id) = r.fact_value("approval_id") {
        m.insert("approval_id".into(), json!(id));
    }
    let facts: Map<String, Value> = r.facts.iter().filter(|(k, _)| *k != "approval_id").map(|(k, v)| (k.to_string(), json!(v))).collect();
    m.insert("facts".into(), Value::Object(facts));
    m
}

/// An operator approved or denied a request.
pub fn decision(event: &str, approval_id: &str, requester: &str, max_rows: Option<i64>) {
    let mut m = Map::new();
    m.insert("approval_id".into(), json!(approval_id));
    m.insert("requester".into(), json!(requester));
    if let Some(rows) = max_rows {
        m.insert("rows".into(), json!(rows));
    }
    map_line(event, m);
}

/// A recorded change as its transaction's line carries it. Rendered while the statement that
/// recorded it is the one running (its text is the entry's), written when the transaction commits:
/// one line per transaction, not per statement (a line cost about as much as the change's own
/// row: `benches/RESULTS.md`), and never a line for a change that was rolled back.
pub struct ChangeEntry {
    pub id: i64,
    /// The change it reverts, if it records a revert.
    pub reverts: Option<i64>,
    pub rows: i64,
    pub tables: Vec<(String, i64)>,
    /// `,"statement_hash":…,"statement":…` as `interdict.log_statement` says.
    statement: String,
}

impl ChangeEntry {
    pub fn new(id: i64, tables: Vec<(String, i64)>, reverts: Option<i64>) -> ChangeEntry {
        let mut statement = String::new();
        statement_fields(&mut statement);
        ChangeEntry { id, reverts, rows: tables.iter().map(|(_, n)| n).sum(), tables, statement }
    }

    /// More rows of the same change (a later plan of the same statement).
    pub fn add(&mut self, more: ChangeEntry) {
        self.rows += more.rows;
        for (table, n) in more.tables {
            match self.tables.iter_mut().find(|(t, _)| *t == table) {
                Some((_, m)) => *m += n,
                None => self.tables.push((table, n)),
            }
        }
    }

    fn write(&self, out: &mut String) {
        out.push('{');
        push_number(out, "change_id", self.id);
        if let Some(original) = self.reverts {
            push_number(out, "reverts", original);
        }
        push_number(out, "rows", self.rows);
        key(out, "tables");
        out.push('{');
        for (i, (table, n)) in self.tables.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            interdict_core::audit::json_string(out, table);
            out.push(':');
            interdict_core::audit::push_int(out, *n);
        }
        out.push('}');
        out.push_str(&self.statement);
        out.push('}');
    }
}

/// The changes a transaction recorded, as it commits (or prepares): one `changes` line.
pub fn changes(entries: &[ChangeEntry]) {
    if entries.is_empty() {
        return;
    }
    write_line("changes", false, |out| {
        key(out, "changes");
        out.push('[');
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            entry.write(out);
        }
        out.push(']');
    });
}

/// A DBA loaded a policy.
pub fn policy_load(version: i64) {
    let mut m = Map::new();
    m.insert("policy_version".into(), json!(version));
    map_line("policy_load", m);
}

/// Writes one line: the common fields and the running statement, then the event's (`fields`
/// writes them with the `push*` functions below).
fn line(event: &str, fields: impl Fn(&mut String) + std::panic::RefUnwindSafe) {
    write_line(event, true, fields);
}

fn write_line(event: &str, with_statement: bool, fields: impl Fn(&mut String) + std::panic::RefUnwindSafe) {
    // A failure to compose or write the line never fails the statement: the error is dropped.
    PgTryBuilder::new(|| {
        crate::messages::log_line(&compose(event, with_statement, &fields));
    })
    .catch_others(|_| ())
    .execute();
}

/// The lines' events with their fields as a map (the rarer events: refusals, decisions, policies).
fn map_line(event: &str, fields: Map<String, Value>) {
    line(event, |out| {
        for (k, v) in &fields {
            push(out, k, v);
        }
    });
}

fn compose(event: &str, with_statement: bool, fields: &impl Fn(&mut String)) -> String {
    // SAFETY: plain reads of process globals.
    let (now, app) = unsafe { (pg_sys::GetCurrentTimestamp(), crate::nodes::cstr(pg_sys::application_name)) };
    // Written field by field, strings escaped straight into the line (serializing a map of values
    // cost more than the rest of recording a one-row change); the session's fixed part is rendered
    // once, a statement's escaped text and hash once per text.
    let mut out = String::with_capacity(1024); // a transaction's changes line of two statements is about 600 bytes
    out.push('{');
    push_str(&mut out, "interdict", event);
    key(&mut out, "ts");
    out.push('"');
    // Postgres timestamps count from 2000-01-01; the Unix epoch is 946684800 s before.
    interdict_core::audit::push_iso8601(&mut out, now + 946_684_800_000_000);
    out.push('"');
    if !SESSION_PART.with(|p| p.as_ref().map(|part| out.push_str(part)).is_some()) {
        out.push_str(&session_part());
    }
    push_str(&mut out, "application_name", app.as_deref().unwrap_or_default());
    push_str(&mut out, "agent", &settings::agent());
    push_str(&mut out, "mode", settings::mode().as_str());
    if with_statement {
        statement_fields(&mut out);
    }
    fields(&mut out);
    let dropped = crate::messages::log_lines_dropped();
    if dropped > 0 {
        push_number(&mut out, "log_lines_dropped", dropped as i64);
    }
    out.push('}');
    out
}

/// `,"statement_hash":…,"statement":…` of the running statement, as `interdict.log_statement` says
/// (nothing outside a statement).
fn statement_fields(out: &mut String) {
    // SAFETY: a plain read of a process global; the text it points to outlives this call.
    let Some(raw) = (unsafe { pg_sys::debug_query_string.as_ref() }).map(|q| unsafe { std::ffi::CStr::from_ptr(q) }.to_bytes()) else { return };
    with_statement(raw, settings::log_statement(), |hash, statement| {
        key(out, "statement_hash");
        out.push_str(hash);
        if let Some(statement) = statement {
            key(out, "statement");
            out.push_str(statement);
        }
    });
}

/// `"key":` after a comma (none after an opening brace). Keys are this file's own literals, which
/// need no escaping.
fn key(out: &mut String, key: &str) {
    debug_assert!(!key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

fn push(out: &mut String, k: &str, value: &Value) {
    key(out, k);
    out.push_str(&value.to_string());
}

fn push_str(out: &mut String, k: &str, value: &str) {
    key(out, k);
    interdict_core::audit::json_string(out, value);
}

fn push_number(out: &mut String, k: &str, value: i64) {
    key(out, k);
    interdict_core::audit::push_int(out, value);
}

/// `"role":…,"database":…,"client_addr":…,"pid":…`, rendered once the names can be read (kept
/// from the first time a transaction is open to read them).
fn session_part() -> String {
    if let Some(part) = SESSION_PART.with(|p| p.clone()) {
        return part;
    }
    let (role, db) = session_names();
    // SAFETY: a plain read of a process global.
    let pid = unsafe { pg_sys::MyProcPid };
    let mut part = String::new();
    push_str(&mut part, "role", &role);
    push_str(&mut part, "database", &db);
    push(&mut part, "client_addr", &json!(client_addr()));
    push_number(&mut part, "pid", i64::from(pid));
    if !role.is_empty() {
        SESSION_PART.set(Some(part.clone()));
    }
    part
}

static SESSION_PART: BackendCell<Option<String>> = BackendCell::new(None);

/// Calls `f` with a statement's hash and its text as `interdict.log_statement` says (`None`: not
/// logged), both already JSON strings; not for a blank text. The last few statements' are kept,
/// found again by their bytes: a prepared statement's executions (pgbench's, an application's) write
/// the same text again and again, and a transaction's statements take turns; redacting, hashing and
/// escaping a text cost more than the rest of its line. Texts over [`KEPT_BYTES`] are rendered each
/// time rather than held.
fn with_statement(raw: &[u8], logged: LogStatement, f: impl FnOnce(&str, Option<&str>)) {
    STATEMENTS.with(|cache| {
        let at = match cache.iter().position(|s| s.raw == raw) {
            Some(at) => at,
            None => {
                let text = String::from_utf8_lossy(raw);
                if text.trim().is_empty() {
                    return;
                }
                let redacted = redact(&text);
                let mut kept = KeptStatement { raw: raw.to_vec(), hash: json(&hash_redacted(&redacted)), redacted: json(cut(&redacted)), full: None };
                if raw.len() > KEPT_BYTES {
                    return kept.show(logged, f);
                }
                if cache.len() == STATEMENTS_KEPT {
                    cache.remove(0);
                }
                cache.push(kept);
                cache.len() - 1
            }
        };
        cache[at].show(logged, f)
    })
}

/// A statement's text (its bytes, as Postgres has them) with what its lines carry of it, as JSON
/// strings (the whole text's only once a line logs it).
struct KeptStatement {
    raw: Vec<u8>,
    hash: String,
    redacted: String,
    full: Option<String>,
}

impl KeptStatement {
    /// Calls `f` with the hash and the text `logged` says.
    fn show(&mut self, logged: LogStatement, f: impl FnOnce(&str, Option<&str>)) {
        if logged == LogStatement::Full && self.full.is_none() {
            self.full = Some(json(cut(&String::from_utf8_lossy(&self.raw))));
        }
        let statement = match logged {
            LogStatement::None => None,
            LogStatement::Redacted => Some(self.redacted.as_str()),
            LogStatement::Full => self.full.as_deref(),
        };
        f(&self.hash, statement)
    }
}

/// Longest statement text kept between lines.
const KEPT_BYTES: usize = 64 * 1024;

/// `s` as a JSON string.
fn json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    interdict_core::audit::json_string(&mut out, s);
    out
}

const STATEMENTS_KEPT: usize = 8;

static STATEMENTS: BackendCell<Vec<KeptStatement>> = BackendCell::new(Vec::new());

/// At most `STATEMENT_CHARS` characters of the trimmed text.
fn cut(text: &str) -> &str {
    let text = text.trim();
    match text.char_indices().nth(STATEMENT_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
