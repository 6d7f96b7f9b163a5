//! The guard's own messages that are not errors: the audit trail's `LOG` lines and the `NOTICE`
//! that tells the session a change was recorded. Both are on guarded mode's write path (one of each
//! per recorded statement), and `perf` on `pgbench -N` (benches/RESULTS.md, "Guarded writes") found
//! Postgres' general reporting path costing more there than the change itself:
//! - every `ereport` runs the error context callbacks, and for a prepared statement one of them
//!   formats all its parameters (`ParamsErrorCallback`), a `LOG` line also brings the statement
//!   (`LOG` counts as above `log_min_error_statement`) and its context into the server log;
//! - every `NOTICE` ends with `pq_flush()` (elog.c: "error/notice messages should not be a
//!   performance-critical path anyway"): one more `send()` and TCP segment per statement, and one
//!   more wake-up of the client.
//!
//! So a `LOG` line is reported with no context callbacks, statement or context, and a `NOTICE` for
//! a remote client is put in the output buffer as `send_message_to_frontend` builds it, without the
//! flush: it reaches the client with the statement's own reply. When the server log also takes
//! `NOTICE`s (`log_min_messages`), or the session has no remote client, the notice goes through
//! `ereport` as any other.

use pgrx::pg_sys;
use crate::cell::BackendCell;
use interdict_core::log_budget::Bucket;
use std::ffi::{c_char, c_int, CStr, CString};

// Postgres' reporting entry points, which pgrx leaves out of its bindings.
unsafe extern "C-unwind" {
    fn errstart(elevel: c_int, domain: *const c_char) -> bool;
    fn errmsg_internal(fmt: *const c_char, ...) -> c_int;
    fn errfinish(filename: *const c_char, lineno: c_int, funcname: *const c_char);
}

unsafe extern "C" {
    /// The C library's message catalog lookup (Postgres' `_()`): the severity's translation.
    fn gettext(msgid: *const c_char) -> *mut c_char;
    /// pg_locale.c: the `lc_messages` setting's value now.
    static locale_messages: *const c_char;
}

/// `gettext("NOTICE")` with the `lc_messages` it was looked up under: a lookup cost about as much as
/// the rest of the notice, and the setting rarely changes within a session.
static NOTICE_WORD: BackendCell<Option<(CString, CString)>> = BackendCell::new(None);

/// The severity's translation under the session's `lc_messages` now.
fn notice_word() -> CString {
    // SAFETY: a plain read of a backend global, NULL or a NUL-terminated string.
    let now = unsafe { locale_messages.as_ref().map(|p| CStr::from_ptr(p)) }.unwrap_or_default();
    if let Some(word) = NOTICE_WORD.with(|w| w.as_ref().filter(|(under, _)| under.as_c_str() == now).map(|(_, word)| word.clone())) {
        return word;
    }
    // SAFETY: a message catalog lookup of a literal; the result is copied at once.
    let word = unsafe { CStr::from_ptr(gettext(c"NOTICE".as_ptr())) }.to_owned();
    NOTICE_WORD.set(Some((now.to_owned(), word.clone())));
    word
}

/// The context callbacks are taken off for the duration of a report and put back on the way out.
struct NoContext(*mut pg_sys::ErrorContextCallback);

impl NoContext {
    fn enter() -> NoContext {
        // SAFETY: a backend global, on the backend's only thread.
        unsafe { NoContext(std::mem::replace(&mut *std::ptr::addr_of_mut!(pg_sys::error_context_stack), std::ptr::null_mut())) }
    }
}

impl Drop for NoContext {
    fn drop(&mut self) {
        // SAFETY: restores what `enter` took.
        unsafe { pg_sys::error_context_stack = self.0 };
    }
}

/// Writes `text` as one `LOG` line of the server log, alone: no statement, no context. An error
/// while writing it (out of memory) propagates as an ordinary error.
pub fn log_line(text: &str) {
    let Ok(text) = CString::new(text) else { return };
    let _quiet = NoContext::enter();
    // SAFETY: the ereport sequence, as the `ereport` macro expands it; LOG never jumps out of
    // errfinish unless reporting itself fails, which pgrx's boundary turns into a Rust panic.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            if errstart(pg_sys::LOG as c_int, c"interdict".as_ptr()) {
                errmsg_internal(c"%s".as_ptr(), text.as_ptr());
                pg_sys::errhidestmt(true);
                pg_sys::errhidecontext(true);
                errfinish(c"messages.rs".as_ptr(), line!() as c_int, c"log_line".as_ptr());
            }
        })
    }
}

/// Tells the session `text` as a `NOTICE` (SQLSTATE 00000), if the session's
/// `client_min_messages` or the server's `log_min_messages` takes notices.
pub fn notice(text: &str) {
    // SAFETY: plain reads of backend globals.
    let (remote, client_takes, server_takes) = unsafe {
        let level = pg_sys::NOTICE as c_int;
        (
            pg_sys::whereToSendOutput == pg_sys::CommandDest::DestRemote && !pg_sys::ClientAuthInProgress,
            level >= pg_sys::client_min_messages,
            // elog.c's is_log_level_output for a level other than LOG: LOG as the minimum takes
            // only FATAL and PANIC besides.
            pg_sys::log_min_messages != pg_sys::LOG as c_int && level >= pg_sys::log_min_messages,
        )
    };
    if remote && !server_takes {
        if client_takes {
            put_notice(text);
        }
        return;
    }
    let _quiet = NoContext::enter();
    pgrx::notice!("{text}");
}

/// `send_message_to_frontend`'s NoticeResponse (severity, its untranslated form, SQLSTATE, message),
/// queued in the output buffer; strings are converted to the client's encoding as Postgres does.
fn put_notice(text: &str) {
    let Ok(text) = CString::new(text) else { return };
    let word = notice_word();
    // SAFETY: builds and queues one protocol message in the current memory context; errors (out
    // of memory, a conversion failure) cross pgrx's boundary as ordinary errors.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            let mut buf: pg_sys::StringInfoData = std::mem::zeroed();
            pg_sys::pq_beginmessage(&mut buf, b'N' as c_char);
            for (field, value) in [(b'S', word.as_ptr()), (b'V', c"NOTICE".as_ptr()), (b'C', c"00000".as_ptr()), (b'M', text.as_ptr())] {
                pg_sys::appendStringInfoChar(&mut buf, field as c_char);
                pg_sys::pq_sendstring(&mut buf, value);
            }
            pg_sys::appendStringInfoChar(&mut buf, 0);
            pg_sys::pq_endmessage(&mut buf);
        })
    }
}

/// An agent's share of the server log (`interdict_core::log_budget`): the role's bucket in shared
/// memory when there is shared memory and the session locked as a role, else the process's own.
/// The guard's own audit lines draw on the same bucket: an agent that floods refusals loses lines
/// of its own refusals, never another role's.
static LOG_BUDGET: BackendCell<Bucket> = BackendCell::new(Bucket::FULL);

/// The role whose bucket this process draws on (set when the session locks in an agent mode).
static LOG_ROLE: BackendCell<Option<pg_sys::Oid>> = BackendCell::new(None);

/// The session locked in an agent mode as `role` (the user who logged in).
pub fn note_log_role(role: pg_sys::Oid) {
    LOG_ROLE.set(Some(role).filter(|r| *r != pg_sys::InvalidOid));
}

/// Whether a message of `bytes` goes to the server log; one that does not is counted. `ours`: one
/// of the guard's audit lines, which carries the count of those not written before it.
pub fn log_budget_allows(bytes: usize, ours: bool) -> bool {
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    match shared_role() {
        Some(role) => crate::shmem::with_log_book(|book| book.draw(u32::from(role), now, bytes, ours)).unwrap_or(true),
        None => LOG_BUDGET.with(|b| b.draw(now, bytes, ours)),
    }
}

/// How many of the session's (with shared memory: its role's) messages were not written to the
/// server log since the last audit line that was.
pub fn log_lines_dropped() -> u64 {
    match shared_role() {
        Some(role) => crate::shmem::with_log_book(|book| book.dropped(u32::from(role))).unwrap_or(0),
        None => LOG_BUDGET.with(|b| b.dropped()),
    }
}

/// The role whose shared bucket applies: only in a process with shared memory and a `PGPROC`
/// (the book's LWLock needs one), once it locked as an agent role.
fn shared_role() -> Option<pg_sys::Oid> {
    // SAFETY: a plain read of a process global.
    LOG_ROLE.get().filter(|_| crate::shmem::attached() && unsafe { !pg_sys::MyProc.is_null() })
}
