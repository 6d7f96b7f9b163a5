//! Code an agent role owns, running in another role's session.
//!
//! An agent's function is reached from sessions the guard does not judge: a DBA's statement fires
//! the trigger on the agent's table (a foreign key's cascade reaches it without the DBA naming it),
//! evaluates its CHECK or its column default, calls its operator; a superuser agent's event trigger
//! fires for every DDL statement. There it would run unguarded, with the other role's rights. So in
//! a session in mode `off`, a function whose owner is an agent role (one a DBA configured a mode
//! for: [`crate::session::configured_mode_of`]) runs as a readonly session would, and leaves
//! nothing behind in that session either (`system.agent_code`).
//!
//! Postgres calls such a function through `fmgr_security_definer` once `needs_fmgr_hook` asks for
//! it (which also keeps the planner from inlining a SQL function out of sight), and `fmgr_hook`
//! reports each call's start and end ([`entered`], [`left`]): every start is paired with exactly
//! one end or abort, so the calls running now form a stack.

use crate::cell::BackendCell;
use crate::settings;
use interdict_core::Mode;
use pgrx::pg_sys;

/// One entry per call `fmgr_hook` reported and has not ended: the function, when an agent owns it.
static CALLS: BackendCell<Vec<Option<pg_sys::Oid>>> = BackendCell::new(Vec::new());

/// Roles looked up in this transaction, and whether each is an agent's (a DBA may change a role's
/// settings at any time; a transaction sees one answer).
static ROLES: BackendCell<Vec<(pg_sys::Oid, bool)>> = BackendCell::new(Vec::new());

/// Whether calls of `funcid` run as an agent's code here: the session is in mode `off` (agent
/// sessions judge every statement anyway), and the function's owner is an agent role other than
/// the session's own.
pub fn is_agent_function(funcid: pg_sys::Oid) -> bool {
    if settings::mode() != Mode::Off {
        return false;
    }
    // SAFETY: plain reads of process globals; a syscache lookup inside a transaction.
    unsafe {
        if !pg_sys::IsTransactionState() {
            return false;
        }
        match function_owner(funcid) {
            Some(owner) => owner != pg_sys::GetSessionUserId() && is_agent_role(owner),
            None => false,
        }
    }
}

/// A call reported by `fmgr_hook` has started: of `agent`'s function, if one.
pub fn entered(agent: Option<pg_sys::Oid>) {
    CALLS.with(|calls| calls.push(agent));
}

/// The call reported last ends, returning or raising.
pub fn left() {
    CALLS.with(|calls| calls.pop());
}

/// The agent's function running now, innermost first, if any.
pub fn inside() -> Option<pg_sys::Oid> {
    CALLS.with(|calls| calls.iter().rev().find_map(|c| *c))
}

/// The function running now, as a refusal names it: `name(args) of role`.
pub fn describe(funcid: pg_sys::Oid) -> String {
    // SAFETY: catalog lookups inside a transaction (a refusal is being built inside one).
    unsafe {
        let function = crate::nodes::describe_object(pg_sys::ProcedureRelationId, funcid, 0);
        let owner = function_owner(funcid).and_then(|o| crate::nodes::cstr(pg_sys::GetUserNameFromId(o, true)));
        format!("{function} of {}", owner.unwrap_or_default())
    }
}

/// Whether `role` is an agent's: a DBA configured a mode other than `off` for its sessions in this
/// database.
pub fn is_agent_role(role: pg_sys::Oid) -> bool {
    if let Some(known) = ROLES.with(|roles| roles.iter().find(|(r, _)| *r == role).map(|(_, a)| *a)) {
        return known;
    }
    let agent = crate::session::configured_mode_of(role) != Mode::Off;
    ROLES.with(|roles| roles.push((role, agent)));
    agent
}

/// The transaction ended: roles are looked up again in the next.
pub fn forget_roles() {
    ROLES.with(Vec::clear);
}

/// `pg_proc.proowner` of a function, if it exists.
pub unsafe fn function_owner(funcid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::PROCOID as i32, pg_sys::Datum::from(funcid));
    if tuple.is_null() {
        return None;
    }
    let owner = (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_proc)).proowner;
    pg_sys::ReleaseSysCache(tuple);
    Some(owner)
}
