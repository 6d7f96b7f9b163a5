//! Approvals: an operator lets one refused statement through. The id comes from the statement
//! (see `interdict_core::approval`); the decisions live in `interdict.approvals`, which only the
//! guard writes (as the bootstrap superuser, see `hooks::internal`).

use crate::hooks::internal;
use crate::rows::statement_text;
use interdict_core::{ApprovalId, Mode, ReasonCode, Refusal, Request};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::Spi;

/// The approval id of the statement running now.
pub fn current_id() -> ApprovalId {
    let (text, params) = statement_text();
    // SAFETY: plain reads of backend globals.
    let (database, role) = unsafe { (u32::from(pg_sys::MyDatabaseId), u32::from(pg_sys::GetSessionUserId())) };
    ApprovalId::for_request(&Request { database, role, statement: &text, params: &params })
}

/// Adds the statement's approval id to a refusal an operator may approve.
pub fn with_approval_id(refusal: Refusal) -> Refusal {
    if refusal.approvable() {
        refusal.fact("approval_id", current_id().text)
    } else {
        refusal
    }
}

/// Whether this database has the approvals table (the extension may be loaded but not created).
fn store_exists() -> bool {
    // SAFETY: catalog lookups inside a transaction.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"interdict".as_ptr(), true);
        schema != pg_sys::InvalidOid && pg_sys::get_relname_relid(c"approvals".as_ptr(), schema) != pg_sys::InvalidOid
    }
}

/// Consumes a valid approval of the running statement, if an operator gave one: `Some(max_rows)`
/// (`None` inside: the session's own limit). Marked used in the agent's transaction, so a statement
/// that then fails leaves the approval for its next run.
pub fn consume(rows: u64) -> Option<Option<u64>> {
    if !store_exists() {
        return None;
    }
    let id = current_id().text;
    let result = internal(|| {
        Spi::get_two_with_args::<bool, i64>(
            "UPDATE interdict.approvals SET used_at = pg_catalog.clock_timestamp(), used_rows = $2
              WHERE id = $1 AND decision = 'approved' AND used_at IS NULL AND expires_at > pg_catalog.clock_timestamp()
              RETURNING true, max_rows",
            &[DatumWithOid::from(id.as_str()), DatumWithOid::from(rows as i64)],
        )
    });
    match result {
        Ok((Some(true), max_rows)) => Some(max_rows.map(|m| m.max(0) as u64)),
        _ => None,
    }
}

/// Structural refusals: consumed approval lets the statement through (and sets its row limit).
pub fn approved_override() -> bool {
    match consume(0) {
        Some(max_rows) => {
            crate::rows::set_approved_limit(max_rows);
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

/// `interdict.approve()` / `interdict.deny()`: checks who decides, then records the decision.
pub fn decide(id: &str, decision: Decision, max_rows: Option<i64>, valid_for_secs: f64) -> String {
    let refuse = |code: ReasonCode, what: String| -> ! {
        crate::reasons::raise(&Refusal::new(code, crate::gucs::mode(), what).fact("approval_id", id.trim()))
    };
    let verb = if decision == Decision::Approved { "approving" } else { "denying" };
    if crate::gucs::mode() != Mode::Off {
        refuse(ReasonCode::ApprovalNotOperator, format!("{verb} from an agent session"));
    }
    // SAFETY: role lookups inside a transaction.
    let (me, session, operator) = unsafe {
        (pg_sys::GetUserId(), pg_sys::GetSessionUserId(), pg_sys::get_role_oid(c"interdict_operator".as_ptr(), true))
    };
    if operator == pg_sys::InvalidOid || !unsafe { pg_sys::has_privs_of_role(me, operator) } {
        refuse(ReasonCode::ApprovalNotOperator, format!("{verb} by a role outside interdict_operator"));
    }
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
    let stored = internal(|| {
        Spi::get_one_with_args::<String>(
            "INSERT INTO interdict.approvals AS a (id, requester, decision, max_rows, decided_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $6))
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
            ],
        )
    });
    match stored {
        Ok(Some(until)) => match (decision, max_rows) {
            (Decision::Approved, Some(m)) => format!("{past} {} for one run of up to {m} rows, until {until}", parsed.text),
            (Decision::Approved, None) => format!("{past} {} for one run within the session's max_rows, until {until}", parsed.text),
            (Decision::Denied, _) => format!("{past} {}", parsed.text),
        },
        _ => refuse(ReasonCode::ApprovalUsed, format!("{verb} {}", parsed.text)),
    }
}
