//! The audit trail: every refusal, dry-run refusal, approval, denial, recorded change, revert and
//! policy load writes one JSON object as a `LOG` line through Postgres' own logging (so `stderr`,
//! `csvlog`, `jsonlog` and log shippers see it). Each line carries the time, event, session facts
//! (role, database, `application_name`, client address, backend pid, `interdict.agent`, mode), a
//! stable hash of the statement, the statement as `interdict.log_statement` says (`redacted` by
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

/// A change was recorded (`reverts`: it records the revert of that change). Written without a map
/// of values: one line per recorded statement is on guarded mode's write path.
pub fn change(id: i64, rows: i64, tables: &[(String, i64)], reverts: Option<i64>) {
    line(if reverts.is_some() { "revert" } else { "change" }, |out| {
        push_number(out, "change_id", id);
        if let Some(original) = reverts {
            push_number(out, "reverts", original);
        }
        push_number(out, "rows", rows);
        key(out, "tables");
        out.push('{');
        for (i, (table, n)) in tables.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            interdict_core::audit::json_string(out, table);
            out.push(':');
            out.push_str(&n.to_string());
        }
        out.push('}');
    });
}

/// A DBA loaded a policy.
pub fn policy_load(version: i64) {
    let mut m = Map::new();
    m.insert("policy_version".into(), json!(version));
    map_line("policy_load", m);
}

/// Writes one line: the common fields, then the event's (`fields` writes them with the `push*`
/// functions below).
fn line(event: &str, fields: impl Fn(&mut String) + std::panic::RefUnwindSafe) {
    // A failure to compose or write the line never fails the statement: the error is dropped.
    PgTryBuilder::new(|| {
        crate::messages::log_line(&compose(event, &fields));
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

fn compose(event: &str, fields: &impl Fn(&mut String)) -> String {
    // SAFETY: plain reads of process globals.
    let (now, app, query) = unsafe {
        (pg_sys::GetCurrentTimestamp(), crate::nodes::cstr(pg_sys::application_name), crate::nodes::cstr(pg_sys::debug_query_string))
    };
    // Postgres timestamps count from 2000-01-01; the Unix epoch is 946684800 s before.
    let ts = interdict_core::audit::iso8601(now + 946_684_800_000_000);
    // Written field by field, strings escaped straight into the line (serializing a map of values
    // cost more than the rest of recording a one-row change); the session's fixed part is rendered
    // once.
    let mut out = String::with_capacity(512);
    out.push('{');
    push_str(&mut out, "interdict", event);
    push_str(&mut out, "ts", &ts);
    if !SESSION_PART.with(|p| p.as_ref().map(|part| out.push_str(part)).is_some()) {
        out.push_str(&session_part());
    }
    push_str(&mut out, "application_name", app.as_deref().unwrap_or_default());
    push_str(&mut out, "agent", &settings::agent());
    push_str(&mut out, "mode", settings::mode().as_str());
    if let Some(q) = query.filter(|q| !q.trim().is_empty()) {
        with_redacted(&q, |redacted, hash| {
            push_str(&mut out, "statement_hash", hash);
            match settings::log_statement() {
                LogStatement::None => {}
                LogStatement::Redacted => push_str(&mut out, "statement", cut(redacted)),
                LogStatement::Full => push_str(&mut out, "statement", cut(&q)),
            }
        });
    }
    fields(&mut out);
    out.push('}');
    out
}

/// `"key":` after a comma (none after the opening brace).
fn key(out: &mut String, key: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    interdict_core::audit::json_string(out, key);
    out.push(':');
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

/// Calls `f` with a statement's redacted text and hash. The last few statements' are kept: a
/// prepared statement's executions (pgbench's, an application's) write the same text again and
/// again, and a transaction's statements take turns.
fn with_redacted<R>(text: &str, f: impl FnOnce(&str, &str) -> R) -> R {
    REDACTED.with(|cache| {
        let at = match cache.iter().position(|(t, _, _)| t == text) {
            Some(at) => at,
            None => {
                let redacted = redact(text);
                let hash = hash_redacted(&redacted);
                if cache.len() == REDACTED_KEPT {
                    cache.remove(0);
                }
                cache.push((text.to_string(), redacted, hash));
                cache.len() - 1
            }
        };
        let (_, redacted, hash) = &cache[at];
        f(redacted, hash)
    })
}

const REDACTED_KEPT: usize = 8;

static REDACTED: BackendCell<Vec<(String, String, String)>> = BackendCell::new(Vec::new());

/// At most `STATEMENT_CHARS` characters of the trimmed text.
fn cut(text: &str) -> &str {
    let text = text.trim();
    match text.char_indices().nth(STATEMENT_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
