//! The audit trail: every refusal, dry-run refusal, approval, denial, recorded change, revert and
//! policy load writes one JSON object as a `LOG` line through Postgres' own logging (so `stderr`,
//! `csvlog`, `jsonlog` and log shippers see it). Each line carries the time, event, session facts
//! (role, database, `application_name`, client address, backend pid, `interdict.agent`, mode), a
//! stable hash of the statement, the statement as `interdict.log_statement` says (`redacted` by
//! default: literals replaced by `?`), and the event's own facts. `LOG` lines go to the server log
//! only, below `log_min_error_statement`, so Postgres adds no statement of its own. Writing a line
//! never fails the statement: an error while writing it is swallowed.

use crate::cell::BackendCell;
use crate::settings::{self, LogStatement};
use interdict_core::redact::{hash_redacted, redact};
use interdict_core::Refusal;
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgTryBuilder};
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
    line("refusal", refusal_fields(refusal));
}

/// A dry-run session met a refusal and let the statement go on.
pub fn dry_run(refusal: &Refusal) {
    line("dry_run", refusal_fields(refusal));
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
    line(event, m);
}

/// A change was recorded (`reverts`: it records the revert of that change).
pub fn change(id: i64, rows: i64, tables: &[(String, i64)], reverts: Option<i64>) {
    let mut m = Map::new();
    m.insert("change_id".into(), json!(id));
    m.insert("rows".into(), json!(rows));
    m.insert("tables".into(), Value::Object(tables.iter().map(|(t, n)| (t.clone(), json!(n))).collect()));
    if let Some(original) = reverts {
        m.insert("reverts".into(), json!(original));
    }
    line(if reverts.is_some() { "revert" } else { "change" }, m);
}

/// A DBA loaded a policy.
pub fn policy_load(version: i64) {
    let mut m = Map::new();
    m.insert("policy_version".into(), json!(version));
    line("policy_load", m);
}

fn line(event: &str, fields: Map<String, Value>) {
    // A failure to compose or write the line never fails the statement: the error is dropped.
    PgTryBuilder::new(|| {
        let text = compose(event, fields.clone());
        ErrorReport::new(PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION, text, "interdict").report(PgLogLevel::LOG)
    })
    .catch_others(|_| ())
    .execute();
}

fn compose(event: &str, fields: Map<String, Value>) -> String {
    // SAFETY: plain reads of process globals.
    let (now, app, query) = unsafe {
        (pg_sys::GetCurrentTimestamp(), crate::nodes::cstr(pg_sys::application_name), crate::nodes::cstr(pg_sys::debug_query_string))
    };
    // Postgres timestamps count from 2000-01-01; the Unix epoch is 946684800 s before.
    let ts = interdict_core::audit::iso8601(now + 946_684_800_000_000);
    // Written field by field (a map of values to serialize cost more than the rest of recording a
    // one-row change); the session's fixed part is rendered once.
    let mut out = String::with_capacity(512);
    out.push('{');
    push(&mut out, "interdict", &json!(event));
    push(&mut out, "ts", &json!(ts));
    out.push_str(&session_part());
    push(&mut out, "application_name", &json!(app.unwrap_or_default()));
    push(&mut out, "agent", &json!(settings::agent()));
    push(&mut out, "mode", &json!(settings::mode().as_str()));
    if let Some(q) = query.filter(|q| !q.trim().is_empty()) {
        let (redacted, hash) = redacted_and_hash(&q);
        push(&mut out, "statement_hash", &json!(hash));
        match settings::log_statement() {
            LogStatement::None => {}
            LogStatement::Redacted => push(&mut out, "statement", &json!(cut(&redacted))),
            LogStatement::Full => push(&mut out, "statement", &json!(cut(&q))),
        }
    }
    for (key, value) in &fields {
        push(&mut out, key, value);
    }
    out.push('}');
    out
}

/// `"key":value` after a comma (none after the opening brace).
fn push(out: &mut String, key: &str, value: &Value) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(&Value::from(key).to_string());
    out.push(':');
    out.push_str(&value.to_string());
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
    push(&mut part, "role", &json!(role));
    push(&mut part, "database", &json!(db));
    push(&mut part, "client_addr", &json!(client_addr()));
    push(&mut part, "pid", &json!(pid));
    if !role.is_empty() {
        SESSION_PART.set(Some(part.clone()));
    }
    part
}

static SESSION_PART: BackendCell<Option<String>> = BackendCell::new(None);

/// A statement's redacted text and hash; the last one is kept, since a prepared statement's
/// executions (pgbench's, an application's) write the same text again and again.
fn redacted_and_hash(text: &str) -> (String, String) {
    if let Some((_, redacted, hash)) = LAST_REDACTED.with(|c| c.as_ref().filter(|(t, _, _)| t == text).cloned()) {
        return (redacted, hash);
    }
    let redacted = redact(text);
    let hash = hash_redacted(&redacted);
    LAST_REDACTED.set(Some((text.to_string(), redacted.clone(), hash.clone())));
    (redacted, hash)
}

static LAST_REDACTED: crate::cell::BackendCell<Option<(String, String, String)>> = crate::cell::BackendCell::new(None);

fn cut(text: &str) -> String {
    text.trim().chars().take(STATEMENT_CHARS).collect()
}
