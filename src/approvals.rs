//! Approvals: an operator lets one refused statement through. The id comes from the statement
//! (see `interdict_core::approval`); the decisions live in `interdict.approvals`, which only the
//! guard writes (as the extension's owner, see `guard_sql::as_guard`).

use crate::guard_sql::as_guard;
use crate::statement::statement_text;
use interdict_core::pending::PendingRequest;
use interdict_core::stats::Counter;
use interdict_core::{ApprovalId, Mode, ReasonCode, Refusal, Request};
use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::spi::Spi;
use std::collections::HashMap;

/// The approval id of the statement running now, for a refusal of `reason`.
pub fn current_id(reason: ReasonCode) -> ApprovalId {
    let (text, params) = statement_text();
    // SAFETY: plain reads of backend globals.
    let (database, role) = unsafe { (u32::from(pg_sys::MyDatabaseId), u32::from(pg_sys::GetSessionUserId())) };
    let mut resolved = crate::statement::statement_binding();
    if let Some(nested) = crate::statement::judged() {
        // a refusal of a nested statement: which one (see `statement::judging`)
        resolved.extend([u32::MAX, nested as u32, (nested >> 32) as u32]);
    }
    ApprovalId::for_request(&Request { database, role, statement: &text, params: &params, resolved: &resolved, reason: reason.reason().code })
}

/// Adds the statement's approval id to a refusal an operator may approve.
pub fn with_approval_id(refusal: Refusal) -> Refusal {
    // Work done at COMMIT (deferred triggers), or outside any statement's text, has no statement
    // of its own to bind an approval to: every such refusal would share one id, so none is
    // approvable.
    if crate::statement::at_commit() || !crate::statement::has_text() {
        return refusal.without_approval();
    }
    if refusal.approvable() {
        let id = current_id(refusal.code).text;
        refusal.fact("approval_id", id)
    } else {
        refusal
    }
}

/// Whether this database has the approvals table (the extension may be loaded but not created).
fn store_exists() -> bool {
    // SAFETY: catalog lookups inside a transaction.
    unsafe {
        let schema = crate::facts::guard_objects::interdict_namespace();
        schema != pg_sys::InvalidOid && pg_sys::get_relname_relid(c"approvals".as_ptr(), schema) != pg_sys::InvalidOid
    }
}

/// Consumes a valid approval of the running statement, if an operator gave one: `Some(max_rows)`
/// (`None` inside: the session's own limit). Marked used in the agent's transaction, so a statement
/// that then fails leaves the approval for its next run.
pub fn consume(rows: u64, reason: ReasonCode) -> Option<Option<u64>> {
    // A read-only transaction (`SET TRANSACTION READ ONLY`, a standby) can mark nothing used: the
    // refusal stands, and the approval waits for a transaction that can write.
    // SAFETY: a plain read of a backend global.
    if unsafe { pg_sys::XactReadOnly } || crate::statement::at_commit() || !crate::statement::has_text() || !store_exists() {
        return None;
    }
    let id = current_id(reason).text;
    let result = as_guard("consuming an approval", || {
        Spi::get_three_with_args::<bool, i64, bool>(
            "WITH u AS (UPDATE interdict.approvals SET used_at = pg_catalog.clock_timestamp(), used_rows = $2
                         WHERE id = $1 AND decision = 'approved' AND used_at IS NULL AND expires_at > pg_catalog.clock_timestamp()
                     RETURNING max_rows)
             SELECT EXISTS (SELECT FROM u), (SELECT max_rows FROM u),
                    EXISTS (SELECT FROM interdict.approvals WHERE id = $1 AND decision = 'approved' AND used_at IS NULL
                               AND expires_at <= pg_catalog.clock_timestamp())",
            &[DatumWithOid::from(id.as_str()), DatumWithOid::from(rows as i64)],
        )
    });
    match result {
        Ok((Some(true), max_rows, _)) => {
            crate::stats::bump(Counter::ApprovalsUsed, 1);
            Some(max_rows.map(|m| m.max(0) as u64))
        }
        Ok((_, _, Some(true))) => {
            crate::stats::bump(Counter::ApprovalsExpired, 1);
            None
        }
        _ => None,
    }
}

/// Structural refusals: consumed approval lets the statement through (and sets its row limit).
pub fn approved_override(reason: ReasonCode) -> bool {
    match consume(0, reason) {
        Some(max_rows) => {
            crate::statement::set_approved_limit(interdict_core::outcome::approved_limit(max_rows, crate::settings::max_rows()));
            true
        }
        None => false,
    }
}

/// What an operator decides.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Denied,
}

/// Only operators decide on requests or list them. `doing` says what was attempted, for the refusal.
/// `approval_id`: the request it was about, if any.
fn require_operator(doing: &str, approval_id: Option<&str>) {
    let what = match (crate::settings::mode(), crate::facts::roles::is_operator()) {
        (Mode::Off, true) => return,
        (Mode::Off, false) => format!("{doing} by a role outside interdict_operator"),
        _ => format!("{doing} from an agent session"),
    };
    let mut refusal = Refusal::new(ReasonCode::ApprovalNotOperator, crate::settings::mode(), what);
    if let Some(id) = approval_id {
        refusal = refusal.fact("approval_id", id.trim());
    }
    crate::reasons::raise(&refusal)
}

/// `interdict.approve()` / `interdict.deny()`: checks who decides, then records the decision.
pub fn decide(id: &str, decision: Decision, max_rows: Option<i64>, valid_for_secs: f64) -> String {
    let refuse = |code: ReasonCode, what: String| -> ! {
        crate::reasons::raise(&Refusal::new(code, crate::settings::mode(), what).fact("approval_id", id.trim()))
    };
    let verb = if decision == Decision::Approved { "approving" } else { "denying" };
    require_operator(verb, Some(id));
    // SAFETY: role lookups inside a transaction.
    let (me, session) = unsafe { (pg_sys::GetUserId(), pg_sys::GetSessionUserId()) };
    let parsed = ApprovalId::parse(id).unwrap_or_else(|why| {
        crate::reasons::raise(&Refusal::new(ReasonCode::ApprovalInvalid, Mode::Off, format!("{verb} \"{}\"", id.trim())).fact("error", why))
    });
    let requester = pg_sys::Oid::from(parsed.role);
    // SAFETY: role lookups inside a transaction.
    let requester_exists = unsafe { !pg_sys::GetUserNameFromId(requester, true).is_null() };
    if !requester_exists {
        refuse(ReasonCode::ApprovalInvalid, format!("{verb} a request from a role that does not exist"));
    }
    // The requester, and any role the requester can become, may not decide its own request.
    let can_become = |role: pg_sys::Oid| role == requester || unsafe { pg_sys::is_member_of_role_nosuper(requester, role) };
    if can_become(me) || can_become(session) {
        refuse(ReasonCode::ApprovalSelf, format!("{verb} a request by the requesting role or a role it can become"));
    }
    if max_rows.is_some_and(|m| m < 0) || !(valid_for_secs > 0.0) {
        crate::reasons::raise(
            &Refusal::new(ReasonCode::ApprovalInvalid, Mode::Off, format!("{verb} with max_rows {} and valid_for {valid_for_secs}s", max_rows.map_or("NULL".to_string(), |m| m.to_string())))
                .fact("error", "max_rows must be 0 or more and valid_for a positive interval"),
        );
    }
    let (decision_text, past) = match decision {
        Decision::Approved => ("approved", "approved"),
        Decision::Denied => ("denied", "denied"),
    };
    // SAFETY: GetUserNameFromId of the current user always succeeds.
    let decided_by = unsafe { crate::nodes::cstr(pg_sys::GetUserNameFromId(me, false)) }.unwrap_or_default();
    crate::guard_sql::writes_records(if decision == Decision::Approved { c"interdict.approve()" } else { c"interdict.deny()" });
    let stored = as_guard("recording the decision", || {
        Spi::get_one_with_args::<String>(
            "INSERT INTO interdict.approvals AS a (id, requester, decision, max_rows, decided_by, expires_at, requester_agent)
             VALUES ($1, $2, $3, $4, $5, pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $6), NULLIF($7, ''))
             ON CONFLICT (id) DO UPDATE SET decision = EXCLUDED.decision, max_rows = EXCLUDED.max_rows,
                    decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at, expires_at = EXCLUDED.expires_at
              WHERE a.used_at IS NULL
             RETURNING pg_catalog.to_char(expires_at, 'YYYY-MM-DD HH24:MI:SS TZ')",
            &[
                DatumWithOid::from(parsed.text.as_str()),
                DatumWithOid::from(requester),
                DatumWithOid::from(decision_text),
                DatumWithOid::from(max_rows),
                DatumWithOid::from(decided_by.as_str()),
                DatumWithOid::from(valid_for_secs),
                DatumWithOid::from(requester_agent(&parsed.text).as_str()),
            ],
        )
    });
    if matches!(stored, Ok(Some(_))) {
        let (counter, event) = match decision {
            Decision::Approved => (Counter::ApprovalsGranted, "approval"),
            Decision::Denied => (Counter::ApprovalsDenied, "denial"),
        };
        crate::stats::bump_for_role(parsed.role, counter);
        // SAFETY: a role lookup inside a transaction (the requester exists: checked above).
        let requester_name = unsafe { crate::nodes::cstr(pg_sys::GetUserNameFromId(requester, true)) }.unwrap_or_default();
        crate::audit::decision(event, &parsed.text, &requester_name, max_rows);
    }
    match stored {
        Ok(Some(until)) => match (decision, max_rows) {
            (Decision::Approved, Some(m)) => format!("{past} {} for one run of up to {m} rows, until {until}", parsed.text),
            (Decision::Approved, None) => format!("{past} {} for one run within the session's max_rows, until {until}", parsed.text),
            (Decision::Denied, _) => format!("{past} {}", parsed.text),
        },
        _ => refuse(ReasonCode::ApprovalUsed, format!("{verb} {}", parsed.text)),
    }
}

/// The agent identity of a request, if the pending book (shared memory) still holds it.
fn requester_agent(approval_id: &str) -> String {
    let book = crate::shmem::pending().unwrap_or_default();
    book.iter().find(|r| r.approval_id.as_str() == approval_id).map(|r| r.agent.as_str().to_string()).unwrap_or_default()
}

/// One row of `interdict.pending()`.
pub type PendingRow = (String, String, String, String, String, i64, TimestampWithTimeZone, TimestampWithTimeZone, Interval, i32, Option<String>);

/// `interdict.pending()`: this database's refused requests that no operator has denied and no
/// rerun has used, most recent first, with their age and the decision if one was made (`approved`: waiting for
/// the agent's rerun). Operators only; needs shared memory.
pub fn pending() -> Vec<PendingRow> {
    require_operator("listing pending requests", None);
    let Some(book) = crate::shmem::pending() else {
        crate::reasons::raise(&Refusal::new(ReasonCode::SetupSharedMemory, Mode::Off, "interdict.pending()"))
    };
    // SAFETY: a plain read of a backend global.
    let database = unsafe { u32::from(pg_sys::MyDatabaseId) };
    let here: Vec<PendingRequest> = book.into_iter().filter(|r| r.database == database).collect();
    let ids: Vec<String> = here.iter().map(|r| r.approval_id.as_str().to_string()).collect();
    let decided = if store_exists() { decisions(ids) } else { HashMap::new() };
    let time = |t: i64| TimestampWithTimeZone::try_from(t).unwrap_or_else(|_| crate::reasons::internal_failure("listing pending requests", "a timestamp out of range in the pending book"));
    // SAFETY: a plain call.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let age = |t: i64| Interval::new(0, 0, now.saturating_sub(t).max(0)).unwrap_or_else(|_| crate::reasons::internal_failure("listing pending requests", "an age out of range"));
    here.into_iter()
        .filter_map(|r| {
            let decision = match decided.get(r.approval_id.as_str()) {
                Some((_, true)) | Some((None, _)) => return None, // used, or denied
                Some((Some(d), false)) => Some(d.clone()),
                None => None,
            };
            // SAFETY: a role lookup inside a transaction; a dropped role has no name.
            let role = unsafe { crate::nodes::cstr(pg_sys::GetUserNameFromId(pg_sys::Oid::from(r.role), true)) }.unwrap_or_else(|| r.role.to_string());
            let reason = interdict_core::reasons::REASONS.get(r.reason as usize).map_or("", |x| x.code);
            Some((
                r.approval_id.as_str().to_string(),
                reason.to_string(),
                role,
                r.agent.as_str().to_string(),
                r.statement.as_str().to_string(),
                r.rows_reached as i64,
                time(r.first_at),
                time(r.last_at),
                age(r.first_at),
                r.times.min(i32::MAX as u32) as i32,
                decision,
            ))
        })
        .collect()
}

/// Decisions on `ids`: `(Some("approved"), used)` for approvals, `(None, _)` for denials.
fn decisions(ids: Vec<String>) -> HashMap<String, (Option<String>, bool)> {
    as_guard("reading the approvals", || {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT id, decision, used_at IS NOT NULL FROM interdict.approvals WHERE id = ANY($1)",
                None,
                &[DatumWithOid::from(ids)],
            )?;
            let mut out = HashMap::new();
            for r in rows {
                let (Some(id), Some(decision), Some(used)) = (r.get::<String>(1)?, r.get::<String>(2)?, r.get::<bool>(3)?) else { continue };
                out.insert(id, ((decision == "approved").then_some(decision), used));
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
    })
    .unwrap_or_else(|e| crate::reasons::internal_failure("reading the approvals", &e.to_string()))
}
