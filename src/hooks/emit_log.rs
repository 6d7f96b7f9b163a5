//! `emit_log_hook`: every error passes here before it is reported. Errors the guard did not raise
//! itself but that an agent must be able to parse get a reason code and a JSON DETAIL:
//! - the timeouts' errors and core's read-only refusals in agent sessions (`server_settings.rs`);
//! - a failure inside the guard's own Rust code (a panic pgrx turned into an error): `internal.failure`
//!   with where it happened, in every mode.
//!
//! And an agent session's messages to the server log draw on its log budget (`messages.rs`).

use crate::cell::BackendCell;
use pgrx::pg_sys;

static PREV: BackendCell<pg_sys::emit_log_hook_type> = BackendCell::new(None);

pub fn register() {
    // SAFETY: called once per process from _PG_init; we keep the previous hook and chain to it.
    unsafe {
        PREV.set(pg_sys::emit_log_hook);
        pg_sys::emit_log_hook = Some(emit_log);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn emit_log(edata: *mut pg_sys::ErrorData) {
    if !edata.is_null() && (*edata).elevel >= pgrx::PgLogLevel::ERROR as i32 {
        crate::reasons::annotate_internal(edata);
        crate::server_settings::annotate(edata);
    }
    if !edata.is_null() && (*edata).output_to_server && agent_session() {
        let ours = crate::nodes::cstr((*edata).funcname).as_deref() == Some("log_line");
        if !crate::messages::log_budget_allows(server_bytes(edata), ours) {
            (*edata).output_to_server = false;
        }
    }
    if let Some(prev) = PREV.get() {
        crate::chain::call_down(|| prev(edata), || {});
    }
}

/// A session an agent mode judges, an agent's code running in another role's, or a session not
/// yet locked (a client's `-c interdict.mode=off` stands until then, and a session sending only
/// syntax errors never locks).
fn agent_session() -> bool {
    !crate::settings::is_locked() || crate::settings::mode() != interdict_core::Mode::Off || crate::enforce::foreign_code().is_some()
}

/// About what the message writes to the server log: its texts, and the statement unless hidden.
unsafe fn server_bytes(edata: *mut pg_sys::ErrorData) -> usize {
    let len = |p: *const std::ffi::c_char| if p.is_null() { 0 } else { std::ffi::CStr::from_ptr(p).to_bytes().len() };
    let e = &*edata;
    let context = if e.hide_ctx { 0 } else { len(e.context) };
    let statement = if e.hide_stmt || e.elevel < pg_sys::log_min_error_statement { 0 } else { len(pg_sys::debug_query_string) };
    // (`backtrace`: what `backtrace_functions`, a superuser's setting, adds to a message)
    128 + len(e.message) + len(e.detail) + len(e.detail_log) + len(e.hint) + len(e.internalquery) + len(e.backtrace) + context + statement
}
