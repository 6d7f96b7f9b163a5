//! Transaction and subtransaction callbacks: one pair for the guard, fanning out downward. An ended
//! transaction's row counts (`statement.rs`) and captured rows (`undo`) are forgotten when it
//! aborts, rows deferred triggers wrote are recorded before it commits, and the per-statement
//! timeout timer (`server_settings.rs`) is disarmed; an agent's code may not commit another role's
//! transaction.

use pgrx::pg_sys;
use std::ffi::c_void;

pub fn register() {
    // SAFETY: called once per process from _PG_init.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    use pg_sys::XactEvent::*;
    if matches!(event, XACT_EVENT_PRE_COMMIT | XACT_EVENT_PRE_PREPARE) && crate::enforce::foreign_code().is_some() {
        // An agent's procedure committing (PL/pgSQL's COMMIT reaches no utility hook) would end
        // the transaction of the session that called it.
        let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::SystemAgentCode, interdict_core::Mode::Readonly, "COMMIT inside an agent's code, in another role's session");
        crate::enforce::enforce(interdict_core::Verdict::Refuse(refusal));
    }
    crate::undo::xact_event(event); // first: the pre-commit flush reads the statement's state
    if matches!(event, XACT_EVENT_COMMIT | XACT_EVENT_ABORT | XACT_EVENT_PREPARE | XACT_EVENT_PARALLEL_ABORT) {
        crate::server_settings::statement_ended();
        crate::agent_code::forget_roles();
        crate::facts::expressions::take_noted(); // a failed statement's objects are gone with it
    }
    crate::statement::xact_event(event);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    let level = pg_sys::GetCurrentTransactionNestLevel();
    crate::undo::subxact_event(event, level);
    crate::statement::subxact_event(event, level);
}
