//! `ExecutorStart_hook`: every planned statement the executor runs — top level, `EXECUTE`,
//! `EXPLAIN ANALYZE`, cursors, SPI inside functions, `DO` and procedures.

use crate::cell::BackendCell;
use crate::facts::plan::plan_facts;
use crate::gucs;
use interdict_core::decide_plan;
use pgrx::pg_sys;

static PREV: BackendCell<pg_sys::ExecutorStart_hook_type> = BackendCell::new(None);

pub fn register() {
    // SAFETY: called once per process from _PG_init; we keep the previous hook and chain to it.
    unsafe {
        PREV.set(pg_sys::ExecutorStart_hook);
        pg_sys::ExecutorStart_hook = Some(executor_start);
    }
}

/// Decide, then chain.
unsafe fn guard(query_desc: *mut pg_sys::QueryDesc, eflags: i32) {
    if super::agent_mode().is_none() {
        return;
    }
    super::enforce(decide_plan(&gucs::settings(), &plan_facts(query_desc, eflags)));
}

#[cfg(not(feature = "pg18"))]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn executor_start(query_desc: *mut pg_sys::QueryDesc, eflags: i32) {
    guard(query_desc, eflags);
    match PREV.get() {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(query_desc, eflags)),
        None => pg_sys::standard_ExecutorStart(query_desc, eflags),
    }
}

#[cfg(feature = "pg18")]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn executor_start(query_desc: *mut pg_sys::QueryDesc, eflags: i32) -> bool {
    guard(query_desc, eflags);
    match PREV.get() {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(query_desc, eflags)),
        None => pg_sys::standard_ExecutorStart(query_desc, eflags),
    }
}
