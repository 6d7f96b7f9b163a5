//! `emit_log_hook`: every error passes here before it is reported. Errors the guard did not raise
//! itself but that an agent must be able to parse get a reason code and a JSON DETAIL:
//! - the timeouts' errors and core's read-only refusals in agent sessions (`server_settings.rs`);
//! - a failure inside the guard's own Rust code (a panic pgrx turned into an error): `internal.failure`
//!   with where it happened, in every mode.

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
    if let Some(prev) = PREV.get() {
        crate::chain::call_down(|| prev(edata), || {});
    }
}
