//! Resource ceilings in agent modes: `statement_timeout`, `lock_timeout` and
//! `idle_in_transaction_session_timeout` stay at or below the DBA's ceilings
//! (`interdict.max_statement_timeout`, `max_lock_timeout`, `max_idle_in_transaction_timeout`).
//!
//! These are Postgres' own settings, so the lock works on Postgres' own records of them
//! (`guc_tables.h: config_int`), installed when a session locks in an agent mode (sessions in
//! mode `off` never see any of it):
//! - the value in force, the reset value and any value saved on the GUC stack (by `SET LOCAL` or a
//!   function's `SET` clause) are capped at the ceiling, so `RESET`, `DISCARD ALL`, rollback and
//!   function exit (which restore values without a check) restore a capped value;
//! - a check hook, chained in front of the setting's own, refuses a session's attempt (`SET`,
//!   `SET LOCAL`, `set_config`, a function's `SET` clause) to raise a timeout above its ceiling or
//!   to switch it off (`setting.ceiling`), and caps what a DBA source (a reload) brings;
//! - `postgres.c` arms the statement timer before the first statement reaches us, so the statement
//!   that locks the session has its timer armed here, and disarmed when that statement ends;
//! - an `emit_log_hook` gives the timeouts' own errors a reason code, facts and a hint.

use crate::cell::BackendCell;
use crate::gucs;
use interdict_core::{Ceiling, Mode, ReasonCode, Refusal};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use std::ffi::{c_int, c_void, CStr};

// `timeout.h` is not in pgrx's bindings; these are stable since PG 9.3 (`STATEMENT_TIMEOUT` = 3).
extern "C-unwind" {
    pub fn enable_timeout_after(id: i32, delay_ms: i32);
    pub fn disable_timeout(id: i32, keep_indicator: bool);
    fn get_timeout_active(id: i32) -> bool;
}
pub const STATEMENT_TIMEOUT: i32 = 3;

/// The settings under a ceiling, in the order of `gucs::ceilings()`.
const CAPPED: [(&CStr, &str, ReasonCode); 3] = [
    (c"statement_timeout", "interdict.max_statement_timeout", ReasonCode::CeilingStatementTimeout),
    (c"lock_timeout", "interdict.max_lock_timeout", ReasonCode::CeilingLockTimeout),
    (c"idle_in_transaction_session_timeout", "interdict.max_idle_in_transaction_timeout", ReasonCode::CeilingIdleInTransaction),
];

/// Postgres' records of the three settings and their own check hooks, once installed.
struct Installed {
    confs: [*mut pg_sys::config_int; 3],
    checks: [pg_sys::GucIntCheckHook; 3],
}

static INSTALLED: BackendCell<Option<Installed>> = BackendCell::new(None);
/// The statement timer this module armed for the statement that locked the session.
static ARMED: BackendCell<bool> = BackendCell::new(false);
static PREV_EMIT_LOG: BackendCell<pg_sys::emit_log_hook_type> = BackendCell::new(None);

/// At the session's lock: in an agent mode, the ceilings take hold.
pub fn lock(mode: Mode) {
    // SAFETY: a plain read of a process global. Parallel workers run under their leader's timers.
    if mode == Mode::Off || INSTALLED.with(|i| i.is_some()) || unsafe { pg_sys::ParallelWorkerNumber >= 0 } {
        return;
    }
    // SAFETY: Postgres' GUC records live as long as the process; we only replace a check hook
    // pointer and cap integer values, on the backend's thread.
    unsafe {
        let confs = CAPPED.map(|(name, _, _)| find(name));
        if confs.iter().any(|c| c.is_null()) {
            pgrx::warning!("interdict: a timeout setting was not found; its ceiling cannot hold");
            return;
        }
        let checks = confs.map(|c| (*c).check_hook);
        (*confs[0]).check_hook = Some(check_statement_timeout);
        (*confs[1]).check_hook = Some(check_lock_timeout);
        (*confs[2]).check_hook = Some(check_idle_timeout);
        INSTALLED.set(Some(Installed { confs, checks }));
        PREV_EMIT_LOG.set(pg_sys::emit_log_hook);
        pg_sys::emit_log_hook = Some(emit_log);
    }
    tightened();
    arm_statement_timer();
}

/// Caps the three settings at their ceilings now (at lock, and when a session lowers a ceiling).
pub fn tightened() {
    let Some(confs) = INSTALLED.with(|i| i.as_ref().map(|i| i.confs)) else { return };
    for (conf, ceiling) in confs.into_iter().zip(gucs::ceilings()) {
        // SAFETY: see `lock`; the stack entries belong to this setting and hold integers.
        unsafe {
            let cap = |v: c_int| ceiling.clamp(v.max(0) as u64) as c_int;
            *(*conf).variable = cap(*(*conf).variable);
            (*conf).reset_val = cap((*conf).reset_val);
            let mut entry = (*conf).gen_.stack;
            while !entry.is_null() {
                (*entry).prior.val.intval = cap((*entry).prior.val.intval);
                (*entry).masked.val.intval = cap((*entry).masked.val.intval);
                entry = (*entry).prev;
            }
        }
    }
}

/// `postgres.c: enable_statement_timeout` ran before the first statement locked the session, with
/// the value from before the cap: that statement gets its timer here.
fn arm_statement_timer() {
    // SAFETY: timeout.c calls on the backend's thread; StatementTimeout is a plain global.
    unsafe {
        if pg_sys::StatementTimeout > 0 && !get_timeout_active(STATEMENT_TIMEOUT) {
            enable_timeout_after(STATEMENT_TIMEOUT, pg_sys::StatementTimeout);
            ARMED.set(true);
        }
    }
}

/// The statement that locked the session ended (a utility statement returned, or its transaction
/// ended): the timer armed for it goes, as `postgres.c` disarms its own.
pub fn statement_ended() {
    if ARMED.get() {
        ARMED.set(false);
        // SAFETY: timeout.c call on the backend's thread.
        unsafe { disable_timeout(STATEMENT_TIMEOUT, false) };
    }
}

#[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
unsafe fn guc_records() -> &'static [*mut pg_sys::config_generic] {
    let n = pg_sys::GetNumConfigOptions().max(0) as usize;
    std::slice::from_raw_parts(pg_sys::get_guc_variables(), n)
}

#[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
unsafe fn guc_records() -> &'static [*mut pg_sys::config_generic] {
    let mut n: c_int = 0;
    let records = pg_sys::get_guc_variables(&mut n);
    std::slice::from_raw_parts(records, n.max(0) as usize)
}

/// Postgres' record of an integer setting, by name.
unsafe fn find(name: &CStr) -> *mut pg_sys::config_int {
    guc_records()
        .iter()
        .copied()
        .find(|g| !g.is_null() && (**g).vartype == pg_sys::config_type::PGC_INT && CStr::from_ptr((**g).name) == name)
        .map_or(std::ptr::null_mut(), |g| g as *mut pg_sys::config_int)
}

/// The check hook in front of setting `i`'s own.
unsafe fn check_capped(i: usize, newval: *mut c_int, extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    let ceiling: Ceiling = gucs::ceilings()[i];
    let mode = gucs::mode();
    if mode != Mode::Off && !ceiling.allows((*newval).max(0) as u64) {
        use pg_sys::GucSource::*;
        match source {
            PGC_S_TEST => {} // validating a value to store (ALTER ROLE … SET, CREATE FUNCTION … SET)
            PGC_S_SESSION => {
                let (setting, ceiling_name, _) = CAPPED[i];
                let setting = setting.to_string_lossy();
                return gucs::reject(
                    Refusal::new(ReasonCode::SettingCeiling, mode, format!("setting {setting} to {}", render_ms(*newval)))
                        .fact("setting", setting.to_string())
                        .fact("attempted", render_ms(*newval))
                        .fact("ceiling", ceiling.render())
                        .fact("ceiling_from", ceiling_name),
                );
            }
            _ => *newval = ceiling.0 as c_int, // a DBA's value (server file, role settings): capped
        }
    }
    let own = INSTALLED.with(|i| i.as_ref().map(|x| x.checks)).and_then(|c| c[i]);
    match own {
        Some(check) => pg_sys::ffi::pg_guard_ffi_boundary(|| check(newval, extra, source)),
        None => true,
    }
}

fn render_ms(ms: c_int) -> String {
    if ms <= 0 { "0 (none)".into() } else { Ceiling(ms as u64).render() }
}

macro_rules! capped_check {
    ($name:ident, $i:literal) => {
        #[pgrx::pg_guard]
        unsafe extern "C-unwind" fn $name(newval: *mut c_int, extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
            check_capped($i, newval, extra, source)
        }
    };
}
capped_check!(check_statement_timeout, 0);
capped_check!(check_lock_timeout, 1);
capped_check!(check_idle_timeout, 2);

/// The timeouts' own errors, in an agent session, get a reason code (in a JSON DETAIL, as every
/// refusal has), the ceiling in force and a hint. Matched by SQLSTATE and untranslated message.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn emit_log(edata: *mut pg_sys::ErrorData) {
    if !edata.is_null() && gucs::mode() != Mode::Off {
        annotate(edata);
    }
    if let Some(prev) = PREV_EMIT_LOG.get() {
        pg_sys::ffi::pg_guard_ffi_boundary(|| prev(edata));
    }
}

unsafe fn annotate(edata: *mut pg_sys::ErrorData) {
    let code = (*edata).sqlerrcode;
    if (*edata).message_id.is_null() || (*edata).elevel < pgrx::PgLogLevel::ERROR as c_int {
        return;
    }
    let message = CStr::from_ptr((*edata).message_id).to_bytes();
    let i = match (code, message) {
        (c, b"canceling statement due to statement timeout") if c == PgSqlErrorCode::ERRCODE_QUERY_CANCELED as c_int => 0,
        (c, b"canceling statement due to lock timeout") if c == PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE as c_int => 1,
        (c, b"terminating connection due to idle-in-transaction timeout")
            if c == PgSqlErrorCode::ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT as c_int => 2,
        _ => return,
    };
    let (setting, ceiling_name, reason) = CAPPED[i];
    let in_force = INSTALLED.with(|x| x.as_ref().map(|x| *(*x.confs[i]).variable)).unwrap_or(0);
    let refusal = Refusal::new(reason, gucs::mode(), "the statement")
        .fact("setting", setting.to_string_lossy().to_string())
        .fact("in_force", render_ms(in_force))
        .fact("ceiling", gucs::ceilings()[i].render())
        .fact("ceiling_from", ceiling_name);
    crate::stats::bump(interdict_core::stats::Counter::CeilingCancels, 1); // no audit line: Postgres logs the error itself
    let pstr = |s: String| crate::nodes::palloc_text(&s);
    if (*edata).detail.is_null() {
        (*edata).detail = pstr(refusal.detail());
    }
    if (*edata).hint.is_null() {
        (*edata).hint = pstr(refusal.hint().to_string());
    }
}
