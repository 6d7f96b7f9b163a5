//! Calling down the hook chain so that an error raised beneath us reaches the client untouched.
//!
//! pgrx's FFI boundary turns a Postgres error into a Rust panic and, at the next `#[pg_guard]`,
//! raises a new error built from a few of its fields: the cursor position (psql's `LINE 1:` and
//! `^`), the internal query, schema/table/column/constraint names and, at times, the context are
//! lost. A session in mode `off` must see exactly what it would without the library, so calls
//! down the chain (the previous hook, else Postgres' `standard_*` function) go through
//! [`call_down`] instead: Postgres' own `PG_TRY`/`PG_CATCH`/`PG_RE_THROW` pattern, written with the
//! same `sigsetjmp` pgrx uses. On an error our state is put back (`on_error`, which must not raise),
//! and the original error is re-thrown with every field of its `ErrorData` as Postgres left it.
//!
//! The frames the re-throw jumps over (ours and pgrx's guard) hold nothing that needs dropping at
//! that point: callers keep no `Drop` values alive across `call_down` (the same rule pgrx's own
//! `ereport` path relies on: "plain old frames", RFC 2945).

use pgrx::pg_sys;
use std::ffi::c_char;

/// The raw symbols, not pgrx's guarded wrappers (which would convert the error).
mod raw {
    use super::*;
    extern "C-unwind" {
        pub fn pg_re_throw() -> !;
        pub fn standard_ExecutorStart(query_desc: *mut pg_sys::QueryDesc, eflags: i32);
        #[cfg(not(feature = "pg18"))]
        pub fn standard_ExecutorRun(query_desc: *mut pg_sys::QueryDesc, direction: pg_sys::ScanDirection::Type, count: u64, execute_once: bool);
        #[cfg(feature = "pg18")]
        pub fn standard_ExecutorRun(query_desc: *mut pg_sys::QueryDesc, direction: pg_sys::ScanDirection::Type, count: u64);
        pub fn standard_ExecutorFinish(query_desc: *mut pg_sys::QueryDesc);
        pub fn standard_ExecutorEnd(query_desc: *mut pg_sys::QueryDesc);
        #[cfg(not(feature = "pg13"))]
        pub fn standard_ProcessUtility(
            pstmt: *mut pg_sys::PlannedStmt,
            query_string: *const c_char,
            read_only_tree: bool,
            context: pg_sys::ProcessUtilityContext::Type,
            params: pg_sys::ParamListInfo,
            query_env: *mut pg_sys::QueryEnvironment,
            dest: *mut pg_sys::DestReceiver,
            qc: *mut pg_sys::QueryCompletion,
        );
        #[cfg(feature = "pg13")]
        pub fn standard_ProcessUtility(
            pstmt: *mut pg_sys::PlannedStmt,
            query_string: *const c_char,
            context: pg_sys::ProcessUtilityContext::Type,
            params: pg_sys::ParamListInfo,
            query_env: *mut pg_sys::QueryEnvironment,
            dest: *mut pg_sys::DestReceiver,
            qc: *mut pg_sys::QueryCompletion,
        );
    }
}

pub use raw::{standard_ExecutorEnd, standard_ExecutorFinish, standard_ExecutorRun, standard_ExecutorStart, standard_ProcessUtility};

/// Runs `call` (a call into Postgres or the next hook); if it raises, runs `on_error` and re-throws
/// the same error. `call` and `on_error` must capture only references and `Copy` values.
///
/// # Safety
/// On the backend's thread, with no `Drop` value alive in the calling frames up to the next
/// Postgres `PG_TRY` (see the module header).
#[inline]
pub unsafe fn call_down(call: impl FnOnce(), on_error: impl FnOnce()) {
    let saved_exception = pg_sys::PG_exception_stack;
    let saved_context = pg_sys::error_context_stack;
    let jumped = cee_scape::call_with_sigsetjmp(false, |jump_buffer| {
        pg_sys::PG_exception_stack = jump_buffer as *const cee_scape::SigJmpBufFields as *mut pg_sys::sigjmp_buf;
        call();
        0
    });
    pg_sys::PG_exception_stack = saved_exception;
    pg_sys::error_context_stack = saved_context;
    if jumped != 0 {
        on_error();
        raw::pg_re_throw();
    }
}

/// [`call_down`] for a call that returns a value.
///
/// # Safety
/// As for [`call_down`].
#[inline]
pub unsafe fn call_down_returning<T: Copy>(call: impl FnOnce() -> T, on_error: impl FnOnce()) -> T {
    let mut out = std::mem::MaybeUninit::<T>::uninit();
    let slot = &mut out;
    call_down(|| {
        slot.write(call());
    }, on_error);
    out.assume_init()
}
