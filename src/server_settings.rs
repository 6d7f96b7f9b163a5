//! Postgres' own settings that agent sessions may tighten but never loosen, locked when a session
//! locks in an agent mode (sessions in mode `off` never see any of it):
//!
//! - **ceilings**: `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout` and
//!   (PostgreSQL 17+) `transaction_timeout` stay at or below `interdict.max_statement_timeout`,
//!   `max_lock_timeout`, `max_idle_in_transaction_timeout` and `max_transaction_timeout` (0, "none",
//!   is above every ceiling);
//! - **fixed**: `session_replication_role` stays `origin` — at `replica`, triggers, rules and
//!   foreign-key actions stop firing, and undo's recording with them;
//! - **floors**: the logging settings the audit trail and the DBA's statement log rely on
//!   (`log_min_messages`, `log_min_error_statement`, `log_statement`, `log_error_verbosity`,
//!   `log_duration`, `log_min_duration_statement`, …) stay at least as verbose as the DBA set them
//!   (the value in force when the session locked; a value a client sent at connect time counts
//!   only where it is tighter than the DBA's role and database settings and the server default);
//! - **switches** a superuser session could turn on to write past Postgres' own protections stay as
//!   the DBA set them: `allow_system_table_mods` (DDL and DML on the system catalogs),
//!   `zero_damaged_pages` and `ignore_checksum_failure` (a damaged page zeroed or rewritten with a
//!   valid checksum), `allow_in_place_tablespaces` (directories in the data directory),
//!   `jit_dump_bitcode` and `jit_profiling_support` (files on the server); and the settings any user
//!   may set that dump every statement's trees into the server log (`debug_print_*`, `trace_sort`,
//!   `trace_notify`: a readonly session filling the log's disk);
//! - **watching**: what the DBA watches sessions by (`log_disconnections`, `track_activities`,
//!   `track_counts`, `track_functions`, `track_io_timing`, `track_wal_io_timing`,
//!   `compute_query_id`, `update_process_title`, and from 17 `event_triggers`) stays on where the
//!   DBA has it on; the superuser-only statistics dumps (`log_parser_stats`, `log_planner_stats`,
//!   `log_executor_stats`, `log_statement_stats`) stay off where the DBA has them off, and
//!   `temp_file_limit` stays within the DBA's bound;
//! - **who the session is**: `session_authorization` stays the user who logged in. A superuser agent
//!   that became another role (`SET SESSION AUTHORIZATION`, `set_config`, a function's `SET`
//!   clause) would be that role to everything that asks who the session is — undo's records and
//!   who may revert them, approvals, the ownership checks — and would plant code as the DBA.
//!
//! The lock works on Postgres' own records of the settings (`guc_tables.h: config_int`, …):
//! - the value in force, the reset value and every value saved on the GUC stack (by `SET LOCAL` or
//!   a function's `SET` clause) are brought within the limit, so `RESET`, `DISCARD ALL`, rollback
//!   and function exit (which restore values without a check) restore an allowed value;
//! - a check hook, chained in front of the setting's own, refuses a session's attempt (`SET`,
//!   `SET LOCAL`, `set_config`, a function's `SET` clause, as superuser or through a definer
//!   function) to go beyond the limit (`setting.ceiling` for the timeouts, `setting.locked` for
//!   the others; `guarded.bypass`/`readonly.transaction_mode` for `session_replication_role`, as
//!   its `SET` gets), and brings a DBA source (a reload) within it;
//! - `postgres.c` arms the statement timer before the first statement reaches us, so the statement
//!   that locks the session has its timer armed here, and disarmed when that statement ends;
//! - the timeouts' own errors get a reason code, facts and a hint ([`annotate`], from the
//!   `emit_log_hook`).
//!
//! The guard's own settings (undo's revert sets `session_replication_role = replica` for its own
//! statements) pass through `guard_sql::setting_by_guard`.

use crate::cell::BackendCell;
use crate::settings;
use interdict_core::{Ceiling, Mode, ReasonCode, Refusal};
use pgrx::pg_sys;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use std::ffi::{c_int, c_void, CStr, CString};

// `timeout.h` is not in pgrx's bindings; these are stable since PG 9.3 (`STATEMENT_TIMEOUT` = 3).
extern "C-unwind" {
    pub fn enable_timeout_after(id: i32, delay_ms: i32);
    pub fn disable_timeout(id: i32, keep_indicator: bool);
    fn get_timeout_active(id: i32) -> bool;
}
pub const STATEMENT_TIMEOUT: i32 = 3;

/// How a locked setting's values are ordered: the limit, and which way is looser.
#[derive(Clone, Copy)]
enum Rule {
    /// A timeout in milliseconds under `settings::ceilings()[i]`; 0 (none) is above every ceiling.
    Ceiling(usize),
    /// Fixed at `SESSION_REPLICATION_ROLE_ORIGIN`.
    Origin,
    /// At least as much logged as at the lock: `looseness` orders values, larger is looser.
    Floor(fn(f64) -> f64),
}

/// One locked setting.
struct Locked {
    name: &'static CStr,
    rule: Rule,
}

/// An error level as `elog.c: is_log_level_output` ranks it for the server log: `LOG` sits between
/// `ERROR` and `FATAL`. Larger logs less.
fn level_looseness(level: f64) -> f64 {
    if level == pg_sys::LOG as f64 || level == pg_sys::LOG_SERVER_ONLY as f64 {
        pg_sys::PGERROR as f64 + 0.5
    } else {
        level
    }
}

/// More is logged with a larger value (`log_statement`: none < ddl < mod < all; booleans; rates).
fn more_is_tighter(v: f64) -> f64 {
    -v
}

/// A threshold in which -1 disables and a smaller value logs more (`log_min_duration_*`, `log_temp_files`).
fn threshold_looseness(v: f64) -> f64 {
    if v < 0.0 { f64::INFINITY } else { v }
}

/// A length in which -1 logs everything, 0 nothing, a larger value more (`log_parameter_max_length*`).
fn length_looseness(v: f64) -> f64 {
    if v < 0.0 { f64::NEG_INFINITY } else if v == 0.0 { f64::INFINITY } else { -v }
}

/// `compute_query_id` (`queryjumble.h: ComputeQueryIdType`: off 0, on 1, auto 2, regress 3): `auto`
/// computes identifiers only where a module asks for them, `off` never.
fn query_id_looseness(v: f64) -> f64 {
    match v as i32 {
        0 => 2.0,
        2 => 1.0,
        _ => 0.0,
    }
}

/// A switch that, on, lets a session write past one of Postgres' protections (see the module's head).
fn on_is_looser(v: f64) -> f64 {
    v
}

const LOCKED: &[Locked] = &[
    Locked { name: c"statement_timeout", rule: Rule::Ceiling(0) },
    Locked { name: c"lock_timeout", rule: Rule::Ceiling(1) },
    Locked { name: c"idle_in_transaction_session_timeout", rule: Rule::Ceiling(2) },
    Locked { name: c"transaction_timeout", rule: Rule::Ceiling(3) }, // PostgreSQL 17+
    Locked { name: c"session_replication_role", rule: Rule::Origin },
    Locked { name: c"log_min_messages", rule: Rule::Floor(level_looseness) },
    Locked { name: c"log_min_error_statement", rule: Rule::Floor(level_looseness) },
    Locked { name: c"log_statement", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"log_error_verbosity", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"log_duration", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"log_lock_waits", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"log_lock_failures", rule: Rule::Floor(more_is_tighter) }, // PostgreSQL 18+
    Locked { name: c"log_replication_commands", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"log_min_duration_statement", rule: Rule::Floor(threshold_looseness) },
    Locked { name: c"log_min_duration_sample", rule: Rule::Floor(threshold_looseness) },
    Locked { name: c"log_temp_files", rule: Rule::Floor(threshold_looseness) },
    Locked { name: c"log_statement_sample_rate", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"log_transaction_sample_rate", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"log_parameter_max_length", rule: Rule::Floor(length_looseness) },
    Locked { name: c"log_parameter_max_length_on_error", rule: Rule::Floor(length_looseness) },
    Locked { name: c"jit_dump_bitcode", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"jit_profiling_support", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"allow_system_table_mods", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"zero_damaged_pages", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"ignore_checksum_failure", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"allow_in_place_tablespaces", rule: Rule::Floor(on_is_looser) },
    // any user may set these, and each dumps every statement's trees into the server log
    Locked { name: c"debug_print_parse", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"debug_print_rewritten", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"debug_print_plan", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"debug_pretty_print", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"trace_sort", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"trace_notify", rule: Rule::Floor(on_is_looser) },
    // what the DBA watches sessions by
    Locked { name: c"log_disconnections", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"track_activities", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"track_counts", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"event_triggers", rule: Rule::Floor(more_is_tighter) }, // PostgreSQL 17+
    Locked { name: c"track_functions", rule: Rule::Floor(more_is_tighter) }, // none < pl < all
    Locked { name: c"track_io_timing", rule: Rule::Floor(more_is_tighter) },
    Locked { name: c"track_wal_io_timing", rule: Rule::Floor(more_is_tighter) }, // PostgreSQL 14+
    Locked { name: c"compute_query_id", rule: Rule::Floor(query_id_looseness) }, // PostgreSQL 14+
    Locked { name: c"update_process_title", rule: Rule::Floor(more_is_tighter) },
    // superuser-only: each writes a block of figures to the server log for every statement
    Locked { name: c"log_parser_stats", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"log_planner_stats", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"log_executor_stats", rule: Rule::Floor(on_is_looser) },
    Locked { name: c"log_statement_stats", rule: Rule::Floor(on_is_looser) },
    // the DBA's bound on the disk a session's temporary files take
    Locked { name: c"temp_file_limit", rule: Rule::Floor(threshold_looseness) },
];

/// The timeouts' reason codes and ceiling settings, by `Rule::Ceiling` index.
const CEILINGS: [(&str, ReasonCode); 4] = [
    ("interdict.max_statement_timeout", ReasonCode::CeilingStatementTimeout),
    ("interdict.max_lock_timeout", ReasonCode::CeilingLockTimeout),
    ("interdict.max_idle_in_transaction_timeout", ReasonCode::CeilingIdleInTransaction),
    ("interdict.max_transaction_timeout", ReasonCode::CeilingTransactionTimeout),
];

/// Postgres' record of a locked setting, as found at lock.
#[derive(Clone, Copy)]
struct Record {
    conf: *mut pg_sys::config_generic,
    /// For floors: the value at lock (the limit).
    floor: f64,
}

/// Each locked setting's record and its own check hook, once ours is in front of it ([`register`]).
static HOOKED: BackendCell<Option<Vec<Option<(*mut pg_sys::config_generic, *const c_void)>>>> = BackendCell::new(None);
/// The records with their floors, once an agent session locked.
static INSTALLED: BackendCell<Option<Vec<Option<Record>>>> = BackendCell::new(None);
/// The statement timer this module armed for the statement that locked the session.
static ARMED: BackendCell<bool> = BackendCell::new(false);
// --- values as numbers, whatever the setting's type -----------------------------------------------

unsafe fn value(conf: *mut pg_sys::config_generic) -> f64 {
    use pg_sys::config_type::*;
    match (*conf).vartype {
        PGC_BOOL => f64::from(u8::from(*(*(conf as *mut pg_sys::config_bool)).variable)),
        PGC_INT => f64::from(*(*(conf as *mut pg_sys::config_int)).variable),
        PGC_REAL => *(*(conf as *mut pg_sys::config_real)).variable,
        PGC_ENUM => f64::from(*(*(conf as *mut pg_sys::config_enum)).variable),
        _ => 0.0,
    }
}

unsafe fn boot_value(conf: *mut pg_sys::config_generic) -> f64 {
    use pg_sys::config_type::*;
    match (*conf).vartype {
        PGC_BOOL => f64::from(u8::from((*(conf as *mut pg_sys::config_bool)).boot_val)),
        PGC_INT => f64::from((*(conf as *mut pg_sys::config_int)).boot_val),
        PGC_REAL => (*(conf as *mut pg_sys::config_real)).boot_val,
        PGC_ENUM => f64::from((*(conf as *mut pg_sys::config_enum)).boot_val),
        _ => 0.0,
    }
}

/// Every stored copy of the value (in force, reset, and each GUC stack entry's prior and masked
/// values) passed through `fix`.
unsafe fn fix_all(conf: *mut pg_sys::config_generic, fix: impl Fn(f64) -> f64) {
    use pg_sys::config_type::*;
    macro_rules! each {
        ($ty:ty, $field:ident, $to:expr) => {{
            let c = conf as *mut $ty;
            *(*c).variable = $to(fix(value_of(*(*c).variable)));
            (*c).reset_val = $to(fix(value_of((*c).reset_val)));
            let mut entry = (*conf).stack;
            while !entry.is_null() {
                (*entry).prior.val.$field = $to(fix(value_of((*entry).prior.val.$field)));
                (*entry).masked.val.$field = $to(fix(value_of((*entry).masked.val.$field)));
                entry = (*entry).prev;
            }
        }};
    }
    trait AsF64 {
        fn as_f64(self) -> f64;
    }
    impl AsF64 for bool {
        fn as_f64(self) -> f64 {
            f64::from(u8::from(self))
        }
    }
    impl AsF64 for c_int {
        fn as_f64(self) -> f64 {
            f64::from(self)
        }
    }
    impl AsF64 for f64 {
        fn as_f64(self) -> f64 {
            self
        }
    }
    fn value_of(v: impl AsF64) -> f64 {
        v.as_f64()
    }
    match (*conf).vartype {
        PGC_BOOL => each!(pg_sys::config_bool, boolval, |v: f64| v != 0.0),
        PGC_INT => each!(pg_sys::config_int, intval, |v: f64| v as c_int),
        PGC_REAL => each!(pg_sys::config_real, realval, |v: f64| v),
        PGC_ENUM => each!(pg_sys::config_enum, enumval, |v: f64| v as c_int),
        _ => {}
    }
}

/// A DBA's stored text value of `conf`, as a number (`None` if it does not parse).
unsafe fn parse(conf: *mut pg_sys::config_generic, text: &str) -> Option<f64> {
    use pg_sys::config_type::*;
    let text = CString::new(text).ok()?;
    let mut hint: *const std::ffi::c_char = std::ptr::null();
    match (*conf).vartype {
        PGC_BOOL => {
            let mut b = false;
            pg_sys::parse_bool(text.as_ptr(), &mut b).then(|| f64::from(u8::from(b)))
        }
        PGC_INT => {
            let mut i: c_int = 0;
            pg_sys::parse_int(text.as_ptr(), &mut i, (*conf).flags, &mut hint).then(|| f64::from(i))
        }
        PGC_REAL => {
            let mut r = 0.0;
            pg_sys::parse_real(text.as_ptr(), &mut r, (*conf).flags, &mut hint).then_some(r)
        }
        PGC_ENUM => {
            let mut e: c_int = 0;
            pg_sys::config_enum_lookup_by_name(conf as *mut pg_sys::config_enum, text.as_ptr(), &mut e).then(|| f64::from(e))
        }
        _ => None,
    }
}

// --- the lock -------------------------------------------------------------------------------------

/// From `_PG_init`: our check hook goes in front of each locked setting's own (it lets everything
/// through until an agent session locks).
pub fn register() {
    // SAFETY: Postgres' GUC records live as long as the process; we replace check-hook pointers on
    // the backend's (or postmaster's) only thread, before any session runs.
    unsafe {
        let hooked = LOCKED
            .iter()
            .enumerate()
            .map(|(i, locked)| {
                let conf = find(locked.name);
                (!conf.is_null()).then(|| (conf, install_check(conf, i))) // else: not in this version of Postgres
            })
            .collect();
        HOOKED.set(Some(hooked));
        let conf = find(c"session_authorization") as *mut pg_sys::config_string;
        if !conf.is_null() {
            SESSION_AUTHORIZATION_OWN.set((*conf).check_hook);
            (*conf).check_hook = Some(check_session_authorization);
        }
    }
}

/// `session_authorization`'s own check hook, once ours is in front of it.
static SESSION_AUTHORIZATION_OWN: BackendCell<pg_sys::GucStringCheckHook> = BackendCell::new(None);

/// In a locked agent session, `session_authorization` may name only the user who logged in (a
/// client's value at connect is not applied: Postgres sets the session user after it).
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_session_authorization(newval: *mut *mut std::ffi::c_char, extra: Extra, source: Src) -> bool {
    let mode = settings::mode();
    if settings::is_locked() && mode != Mode::Off && source == pg_sys::GucSource::PGC_S_SESSION && !crate::guard_sql::guard_sets_setting() {
        let wanted = crate::nodes::cstr(*newval).unwrap_or_default();
        if let Some(refusal) = other_session_user(&wanted, mode) {
            return crate::reasons::reject(refusal);
        }
    }
    match SESSION_AUTHORIZATION_OWN.get() {
        Some(own) => crate::chain::call_down_returning(|| own(newval, extra, source), || {}),
        None => true,
    }
}

/// A refusal if `role` (a name) is not the user who logged in.
unsafe fn other_session_user(role: &str, mode: Mode) -> Option<Refusal> {
    let me = crate::nodes::cstr(pg_sys::GetUserNameFromId(pg_sys::GetAuthenticatedUserId(), true)).unwrap_or_default();
    (role != me).then(|| {
        Refusal::new(ReasonCode::SettingLocked, mode, format!("setting session_authorization to {role}"))
            .fact("setting", "session_authorization")
            .fact("in_force", me)
            .fact("attempted", role.to_string())
    })
}

/// At the session's lock: in an agent mode, the settings' limits take hold.
pub fn lock(mode: Mode) {
    // SAFETY: a plain read of a process global. Parallel workers run under their leader's settings.
    if mode == Mode::Off || INSTALLED.with(|i| i.is_some()) || unsafe { pg_sys::ParallelWorkerNumber >= 0 } {
        return;
    }
    let Some(hooked) = HOOKED.with(|h| h.clone()) else { return };
    // SAFETY: reads of Postgres' GUC records, on the backend's thread.
    let records: Vec<Option<Record>> = unsafe {
        LOCKED
            .iter()
            .zip(hooked)
            .map(|(locked, hooked)| {
                let (conf, _) = hooked?;
                let floor = match locked.rule {
                    Rule::Floor(looseness) => floor_at_lock(conf, looseness),
                    _ => 0.0,
                };
                Some(Record { conf, floor })
            })
            .collect()
    };
    INSTALLED.set(Some(records));
    tightened();
    arm_statement_timer();
}

/// A floor's value at lock: the value in force, unless a client sent it at connect time, in which
/// case it may only be tighter than the DBA's stored values and the server's default.
unsafe fn floor_at_lock(conf: *mut pg_sys::config_generic, looseness: fn(f64) -> f64) -> f64 {
    let now = value(conf);
    if (*conf).source != pg_sys::GucSource::PGC_S_CLIENT && (*conf).reset_source != pg_sys::GucSource::PGC_S_CLIENT {
        return now;
    }
    let name = CStr::from_ptr((*conf).name).to_string_lossy().to_string();
    let stored: Vec<f64> = crate::session::dba_values(&name).iter().filter_map(|(_, text)| parse(conf, text)).collect();
    std::iter::once(boot_value(conf)).chain(stored).fold(now, |a, b| if looseness(b) < looseness(a) { b } else { a })
}

/// The limit a setting's values must keep within, and whether `v` is within it.
fn within(rule: Rule, record: &Record, v: f64) -> bool {
    match rule {
        Rule::Ceiling(i) => settings::ceilings()[i].allows(v.max(0.0) as u64),
        Rule::Origin => v == pg_sys::SESSION_REPLICATION_ROLE_ORIGIN as f64,
        Rule::Floor(looseness) => looseness(v) <= looseness(record.floor),
    }
}

/// The value `v` becomes when brought within the limit.
fn capped(rule: Rule, record: &Record, v: f64) -> f64 {
    if within(rule, record, v) {
        return v;
    }
    match rule {
        Rule::Ceiling(i) => settings::ceilings()[i].0 as f64,
        Rule::Origin => pg_sys::SESSION_REPLICATION_ROLE_ORIGIN as f64,
        Rule::Floor(_) => record.floor,
    }
}

/// Brings every stored value within its limit (at lock, and when a session lowers a ceiling).
pub fn tightened() {
    let Some(records) = INSTALLED.with(|i| i.clone()) else { return };
    for (locked, record) in LOCKED.iter().zip(records) {
        let Some(record) = record else { continue };
        // SAFETY: see `lock`.
        unsafe {
            let before = value(record.conf);
            fix_all(record.conf, |v| capped(locked.rule, &record, v));
            if matches!(locked.rule, Rule::Origin) && before != value(record.conf) {
                pg_sys::ResetPlanCache(); // as guc.c's assign hook does: rules apply by role at rewrite
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

/// The timeout ceiling in force on `statement_timeout` etc., by index, and the value in force.
pub fn timeout_in_force(i: usize) -> c_int {
    INSTALLED.with(|x| x.as_ref().and_then(|r| r[i]).map(|r| unsafe { value(r.conf) } as c_int)).unwrap_or(0)
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

/// Postgres' record of a setting, by name.
unsafe fn find(name: &CStr) -> *mut pg_sys::config_generic {
    guc_records().iter().copied().find(|g| !g.is_null() && CStr::from_ptr((**g).name) == name).unwrap_or(std::ptr::null_mut())
}

// --- check hooks ----------------------------------------------------------------------------------

/// The check hook in front of setting `i`'s own: refuses a session going beyond the limit, brings a
/// DBA source within it. Returns `None` to go on to the setting's own hook.
unsafe fn check_locked(i: usize, v: f64, source: pg_sys::GucSource::Type) -> Result<Option<f64>, ()> {
    let mode = settings::mode();
    let Some(Some(record)) = INSTALLED.with(|x| x.as_ref().map(|r| r[i])) else { return Ok(None) };
    let locked = &LOCKED[i];
    if mode == Mode::Off || within(locked.rule, &record, v) || crate::guard_sql::guard_sets_setting() {
        return Ok(None);
    }
    use pg_sys::GucSource::*;
    match source {
        PGC_S_TEST => Ok(None), // validating a value to store (ALTER ROLE … SET, CREATE FUNCTION … SET)
        PGC_S_SESSION => {
            crate::reasons::reject(refusal(locked, &record, v, mode));
            Err(())
        }
        _ => Ok(Some(capped(locked.rule, &record, v))), // a DBA's value (server file, role settings): brought within
    }
}

/// What a session that tried to loosen setting `locked` to `v` is told.
unsafe fn refusal(locked: &Locked, record: &Record, v: f64, mode: Mode) -> Refusal {
    let setting = locked.name.to_string_lossy().to_string();
    match locked.rule {
        Rule::Ceiling(i) => {
            let ms = v as c_int;
            Refusal::new(ReasonCode::SettingCeiling, mode, format!("setting {setting} to {}", render_ms(ms)))
                .fact("setting", setting)
                .fact("attempted", render_ms(ms))
                .fact("ceiling", settings::ceilings()[i].render())
                .fact("ceiling_from", CEILINGS[i].0)
        }
        Rule::Origin => {
            let code = if mode == Mode::Readonly { ReasonCode::ReadonlyTransactionMode } else { ReasonCode::GuardedBypass };
            Refusal::new(code, mode, format!("setting {setting} to {}", show(record.conf, v)))
                .fact("setting", setting)
                .fact("attempted", show(record.conf, v))
                .without_approval()
        }
        Rule::Floor(_) => Refusal::new(ReasonCode::SettingLocked, mode, format!("setting {setting} to {}", show(record.conf, v)))
            .fact("setting", setting)
            .fact("in_force", show(record.conf, record.floor))
            .fact("attempted", show(record.conf, v)),
    }
}

/// A value as `SHOW` would print it (enum names, on/off, numbers).
unsafe fn show(conf: *mut pg_sys::config_generic, v: f64) -> String {
    use pg_sys::config_type::*;
    match (*conf).vartype {
        PGC_BOOL => if v != 0.0 { "on" } else { "off" }.to_string(),
        PGC_ENUM => crate::nodes::cstr(pg_sys::config_enum_lookup_by_value(conf as *mut pg_sys::config_enum, v as c_int)).unwrap_or_default(),
        PGC_INT => (v as c_int).to_string(),
        _ => v.to_string(),
    }
}

fn render_ms(ms: c_int) -> String {
    if ms <= 0 { "0 (none)".into() } else { Ceiling(ms as u64).render() }
}

/// Puts our check hook in front of setting `i`'s own; returns the setting's own.
unsafe fn install_check(conf: *mut pg_sys::config_generic, i: usize) -> *const c_void {
    use pg_sys::config_type::*;
    macro_rules! swap {
        ($ty:ty, $table:ident) => {{
            let c = conf as *mut $ty;
            let own = (*c).check_hook.map_or(std::ptr::null(), |f| f as *const c_void);
            (*c).check_hook = Some($table[i]);
            own
        }};
    }
    match (*conf).vartype {
        PGC_BOOL => swap!(pg_sys::config_bool, BOOL_CHECKS),
        PGC_INT => swap!(pg_sys::config_int, INT_CHECKS),
        PGC_REAL => swap!(pg_sys::config_real, REAL_CHECKS),
        PGC_ENUM => swap!(pg_sys::config_enum, ENUM_CHECKS),
        _ => std::ptr::null(),
    }
}

fn own_check(i: usize) -> *const c_void {
    HOOKED.with(|x| x.as_ref().and_then(|r| r[i]).map_or(std::ptr::null(), |(_, own)| own))
}

type Extra = *mut *mut c_void;
type Src = pg_sys::GucSource::Type;

unsafe fn check_int(i: usize, newval: *mut c_int, extra: Extra, source: Src) -> bool {
    match check_locked(i, f64::from(*newval), source) {
        Err(()) => return false,
        Ok(Some(v)) => *newval = v as c_int,
        Ok(None) => {}
    }
    let own = own_check(i);
    if own.is_null() {
        return true;
    }
    let own: unsafe extern "C-unwind" fn(*mut c_int, Extra, Src) -> bool = std::mem::transmute(own);
    crate::chain::call_down_returning(|| own(newval, extra, source), || {})
}

unsafe fn check_enum(i: usize, newval: *mut c_int, extra: Extra, source: Src) -> bool {
    check_int(i, newval, extra, source)
}

unsafe fn check_bool(i: usize, newval: *mut bool, extra: Extra, source: Src) -> bool {
    match check_locked(i, f64::from(u8::from(*newval)), source) {
        Err(()) => return false,
        Ok(Some(v)) => *newval = v != 0.0,
        Ok(None) => {}
    }
    let own = own_check(i);
    if own.is_null() {
        return true;
    }
    let own: unsafe extern "C-unwind" fn(*mut bool, Extra, Src) -> bool = std::mem::transmute(own);
    crate::chain::call_down_returning(|| own(newval, extra, source), || {})
}

unsafe fn check_real(i: usize, newval: *mut f64, extra: Extra, source: Src) -> bool {
    match check_locked(i, *newval, source) {
        Err(()) => return false,
        Ok(Some(v)) => *newval = v,
        Ok(None) => {}
    }
    let own = own_check(i);
    if own.is_null() {
        return true;
    }
    let own: unsafe extern "C-unwind" fn(*mut f64, Extra, Src) -> bool = std::mem::transmute(own);
    crate::chain::call_down_returning(|| own(newval, extra, source), || {})
}

/// One check-hook entry point per locked setting (Postgres passes no argument that says which).
macro_rules! check_table {
    ($name:ident, $ty:ty, $inner:ident, $($i:literal)*) => {
        const $name: [unsafe extern "C-unwind" fn(*mut $ty, Extra, Src) -> bool; LOCKED.len()] = [$({
            #[pgrx::pg_guard]
            unsafe extern "C-unwind" fn hook(newval: *mut $ty, extra: Extra, source: Src) -> bool {
                $inner($i, newval, extra, source)
            }
            hook
        },)*];
    };
}
check_table!(INT_CHECKS, c_int, check_int, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45);
check_table!(ENUM_CHECKS, c_int, check_enum, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45);
check_table!(BOOL_CHECKS, bool, check_bool, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45);
check_table!(REAL_CHECKS, f64, check_real, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45);

// --- Postgres' own refusals, given a reason code ----------------------------------------------------

/// Core's own read-only refusals that the guard's decisions leave to it (from 16, `lo_open` with a
/// mode computed at run time, `be-fsstubs.c`) get the reason code the guard would have given.
unsafe fn annotate_read_only(edata: *mut pg_sys::ErrorData) {
    let text = crate::nodes::cstr((*edata).message).unwrap_or_default();
    if !text.contains("cannot execute lo_") || !(*edata).detail.is_null() {
        return;
    }
    let refusal = Refusal::new(ReasonCode::ReadonlyLargeObject, settings::mode(), "a large-object write").fact("function", "lo_open");
    (*edata).detail = crate::nodes::palloc_text(&refusal.detail());
    (*edata).hint = crate::nodes::palloc_text(refusal.hint());
}

// --- the timeouts' own errors ---------------------------------------------------------------------

/// The timeouts' own errors, in an agent session, get a reason code (in a JSON DETAIL, as every
/// refusal has), the ceiling in force and a hint. Matched by SQLSTATE and untranslated message.
/// Called from `hooks/emit_log.rs` for every error.
///
/// # Safety
/// `edata` is the error being reported.
pub unsafe fn annotate(edata: *mut pg_sys::ErrorData) {
    if settings::mode() == Mode::Off {
        return;
    }
    let code = (*edata).sqlerrcode;
    if (*edata).message_id.is_null() || (*edata).elevel < pgrx::PgLogLevel::ERROR as c_int {
        return;
    }
    let message = CStr::from_ptr((*edata).message_id).to_bytes();
    if code == PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION as c_int && message == b"cannot execute %s in a read-only transaction" {
        return annotate_read_only(edata);
    }
    let i = match (code, message) {
        (c, b"canceling statement due to statement timeout") if c == PgSqlErrorCode::ERRCODE_QUERY_CANCELED as c_int => 0,
        (c, b"canceling statement due to lock timeout") if c == PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE as c_int => 1,
        (c, b"terminating connection due to idle-in-transaction timeout")
            if c == PgSqlErrorCode::ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT as c_int => 2,
        (_, b"terminating connection due to transaction timeout") => 3,
        _ => return,
    };
    let (ceiling_name, reason) = CEILINGS[i];
    let refusal = Refusal::new(reason, settings::mode(), "the statement")
        .fact("setting", LOCKED[i].name.to_string_lossy().to_string())
        .fact("in_force", render_ms(timeout_in_force(i)))
        .fact("ceiling", settings::ceilings()[i].render())
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
