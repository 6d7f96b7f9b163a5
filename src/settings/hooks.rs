//! The GUC side of the settings: their definitions and their check/assign/show hooks, one generic
//! set for every locked setting (instantiated per setting by [`define`]), plus the four settings
//! that are not limits (`interdict.agent`, `allowed_extensions`, `policy_file`, `undo_retention`).
//!
//! Values are parsed once, in the check hook, into GUC "extra" (as pgaudit does); assign hooks only
//! store what the check hook parsed. `guc.c` frees "extra" with `free()` up to 15 and `guc_free()`
//! from 16: see [`guc_alloc`].

use super::{loosen_code, EachSetting, Kind, LockedSetting, Source, AGENT, ALLOWED_EXTENSIONS_RAW, CLIENT_SET, UNDO_RETENTION_MIN};
use crate::cell::BackendCell;
use crate::reasons;
use interdict_core::policy::Policy;
use interdict_core::{Mode, ReasonCode, Refusal};
use pgrx::pg_sys;
use pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard;
use std::ffi::{c_char, c_int, c_void, CString};

/// Defines every `interdict.*` setting. Called once per backend from `_PG_init`.
pub fn define() {
    super::each_setting(&mut Define);
    // SAFETY: called from _PG_init on the backend's main thread; names and descriptions are static
    // C strings, and the value pointers are statics that live as long as the library.
    unsafe {
        pg_sys::DefineCustomStringVariable(
            c"interdict.agent".as_ptr(),
            c"Who is acting in this session (an agent's run or chat id), carried into changes, approvals, stats and audit lines.".as_ptr(),
            c"Set at connect time (options=-c interdict.agent=…); fixed once the session runs.".as_ptr(),
            &raw mut AGENT_RAW,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            0,
            Some(check_agent),
            Some(assign_agent),
            Some(show_agent),
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.allowed_extensions".as_ptr(),
            c"Extensions guarded sessions may create with CREATE EXTENSION, comma-separated (default: none).".as_ptr(),
            c"Set by a DBA per role or database; within an agent session the list can only shrink.".as_ptr(),
            &raw mut ALLOWED_EXTENSIONS_RAW,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GUC_LIST_INPUT as c_int,
            Some(check_allowed_extensions),
            None,
            None,
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.policy_file".as_ptr(),
            c"A YAML policy file for agent sessions, read at load and on reload (SIGHUP).".as_ptr(),
            c"Takes precedence over policies loaded with interdict.load_policy(). A file that does not parse or validate never replaces a valid one; with none valid, guarded sessions refuse writes.".as_ptr(),
            &raw mut POLICY_FILE_RAW,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_SIGHUP,
            0,
            Some(check_policy_file),
            Some(assign_policy_file),
            None,
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.file_directories".as_ptr(),
            c"Server directories guarded sessions may write files into (COPY … TO, lo_export, adminpack), comma-separated (default: none).".as_ptr(),
            c"A server setting (postgresql.conf or ALTER SYSTEM). The server's own files (its data directory, its configuration files' directories, interdict.policy_file) are never written, named here or not.".as_ptr(),
            &raw mut FILE_DIRECTORIES_RAW,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_SIGHUP,
            pg_sys::GUC_LIST_INPUT as c_int,
            None,
            None,
            None,
        );
        pg_sys::DefineCustomIntVariable(
            c"interdict.undo_retention".as_ptr(),
            c"How long recorded changes are kept for interdict.revert() (e.g. 30d); 0 keeps them until interdict.purge().".as_ptr(),
            c"Guarded sessions delete expired changes a few at a time as they record new ones; interdict.purge() with no argument uses it too.".as_ptr(),
            &raw mut UNDO_RETENTION_MIN,
            0,
            0,
            c_int::MAX,
            pg_sys::GucContext::PGC_SIGHUP,
            pg_sys::GUC_UNIT_MIN as c_int,
            None,
            None,
            None,
        );
        reserve_prefix();
    }
}

/// Defines one locked setting with the generic hooks instantiated for it.
struct Define;

impl EachSetting for Define {
    fn setting<T: LockedSetting>(&mut self) {
        let d = &T::DEFINITION;
        let flags = if d.list { pg_sys::GUC_LIST_INPUT as c_int } else { 0 };
        // SAFETY: see `define`.
        unsafe {
            pg_sys::DefineCustomStringVariable(
                d.name.as_ptr(),
                d.short.as_ptr(),
                d.long.as_ptr(),
                T::raw(),
                d.boot.as_ptr(),
                d.context,
                flags,
                Some(check_hook::<T>),
                Some(assign_hook::<T>),
                Some(show_hook::<T>),
            );
        }
    }
}

unsafe extern "C-unwind" fn check_hook<T: LockedSetting>(newval: *mut *mut c_char, extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    pgrx_extern_c_guard(|| check::<T>(newval, extra, source))
}

unsafe extern "C-unwind" fn assign_hook<T: LockedSetting>(_newval: *const c_char, extra: *mut c_void) {
    pgrx_extern_c_guard(|| assign::<T>(extra))
}

unsafe extern "C-unwind" fn show_hook<T: LockedSetting>() -> *const c_char {
    pgrx_extern_c_guard(|| shown(T::cell().with(|c| c.effective().render())))
}

fn lock_source(source: pg_sys::GucSource::Type) -> Source {
    use pg_sys::GucSource::*;
    match source {
        PGC_S_DEFAULT | PGC_S_DYNAMIC_DEFAULT => Source::Default,
        PGC_S_ENV_VAR | PGC_S_FILE | PGC_S_ARGV => Source::Server,
        PGC_S_GLOBAL => Source::Global,
        PGC_S_DATABASE => Source::Database,
        PGC_S_USER => Source::Role,
        PGC_S_DATABASE_USER => Source::RoleInDatabase,
        PGC_S_CLIENT => Source::Client,
        PGC_S_TEST => Source::Test,
        _ => Source::Session,
    }
}

fn is_dba(source: Source) -> bool {
    matches!(source, Source::Server | Source::Global | Source::Database | Source::Role | Source::RoleInDatabase)
}

/// Memory for a check hook's `extra`, which Postgres keeps and frees itself: `malloc` up to 15
/// (`guc.c` frees it with `free`), `guc_malloc` from 16 (GUC memory moved to its own context and is
/// freed with `guc_free`, i.e. `pfree`: `malloc`ed memory there dies with "pfree called with
/// invalid pointer").
#[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
unsafe fn guc_alloc(size: usize) -> *mut c_void {
    extern "C" {
        fn malloc(size: usize) -> *mut c_void;
    }
    malloc(size)
}

#[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
unsafe fn guc_alloc(size: usize) -> *mut c_void {
    pg_sys::guc_malloc(pg_sys::LOG as c_int, size)
}

/// Hands Postgres `value` as a check hook's `extra`.
unsafe fn keep_as_extra<V: Copy>(value: V, extra: *mut *mut c_void) -> bool {
    let slot = guc_alloc(std::mem::size_of::<V>()) as *mut V;
    if slot.is_null() {
        return false;
    }
    slot.write(value);
    *extra = slot as *mut c_void;
    true
}

/// A refusal of a value that does not parse.
fn invalid(name: &str, text: &str, why: impl Into<String>) -> Refusal {
    Refusal::new(ReasonCode::SettingInvalid, super::mode(), format!("value \"{text}\" for {name}"))
        .fact("setting", name)
        .fact("value", text)
        .fact("error", why)
}

/// A refusal of a value that would loosen a locked setting.
fn locked(code: ReasonCode, name: &str, in_force: String, attempted: String) -> Refusal {
    Refusal::new(code, super::mode(), format!("setting {name} to \"{attempted}\""))
        .fact("setting", name)
        .fact("in_force", in_force)
        .fact("attempted", attempted)
}

/// The check hook of every locked setting.
unsafe fn check<T: LockedSetting>(newval: *mut *mut c_char, extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    let text = if newval.is_null() { String::new() } else { guc_text(*newval) };
    let source = lock_source(source);
    if source == Source::Client {
        // Before the value is parsed: a client's value, valid or not, makes the session's lock read
        // the DBA's values again (`session::lock_session`), so that an invalid one cannot leave the
        // setting at its default in place of the role's.
        CLIENT_SET.set(true);
    }
    let value = match T::parse(&text) {
        Ok(v) => v,
        Err(why) => {
            if is_dba(source) {
                // A DBA's broken value must not leave the session unguarded: the floor becomes the strictest.
                T::cell().with(|c| c.record_dba(source, T::strictest()));
            }
            return reasons::reject(invalid(T::NAME, &text, why));
        }
    };
    if let Some(mode) = value.as_mode() {
        refuse_replication(mode, source);
    }
    if let Err(attempt) = T::cell().with(|c| c.check(&value, source)) {
        return reasons::reject(locked(loosen_code::<T>(), T::NAME, attempt.effective.render(), attempt.attempted.render()));
    }
    keep_as_extra(value, extra)
}

/// A replication connection (a walsender) runs replication commands no hook sees, and never loads
/// `session_preload_libraries`: a role, database or client that gives one an agent mode is refused
/// at connect (with `shared_preload_libraries`, the only way the library is there). The server
/// file's and `ALTER ROLE ALL`'s settings do not count: they apply to every role, standbys'
/// replication roles included.
fn refuse_replication(mode: Mode, source: Source) {
    extern "C" {
        /// `walsender.c` (not in pgrx's bindings for every version).
        static am_walsender: bool;
    }
    // SAFETY: a plain read of a process global.
    let walsender = unsafe { am_walsender };
    if walsender && mode != Mode::Off && matches!(source, Source::Role | Source::RoleInDatabase | Source::Database | Source::Client) {
        reasons::fatal(&Refusal::new(ReasonCode::SessionReplication, mode, "a replication connection"));
    }
}

unsafe fn assign<T: LockedSetting>(extra: *mut c_void) {
    if let Some(value) = (extra as *const T).as_ref() {
        T::cell().with(|c| c.assign(value));
    }
    if T::DEFINITION.kind == Kind::Ceiling {
        crate::server_settings::tightened(); // a lower ceiling takes effect at once
    }
}

/// The show hook's text lives here until the next call (Postgres copies it at once).
static SHOWN: BackendCell<Option<CString>> = BackendCell::new(None);

/// A GUC's string value (NULL is empty).
unsafe fn guc_text(value: *const c_char) -> String {
    crate::nodes::cstr(value).unwrap_or_default()
}

/// Keeps a show hook's text until the next call and returns it.
fn shown(text: String) -> *const c_char {
    SHOWN.with(|s| s.insert(CString::new(text).unwrap_or_default()).as_ptr())
}

// `interdict.agent` -------------------------------------------------------------------------------

static mut AGENT_RAW: *mut c_char = std::ptr::null_mut();
const AGENT_MAX_CHARS: usize = 200;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_agent(newval: *mut *mut c_char, _extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    let text = if newval.is_null() { String::new() } else { guc_text(*newval) };
    if text.chars().count() > AGENT_MAX_CHARS {
        return reasons::reject(invalid("interdict.agent", &text, "at most 200 characters"));
    }
    if text.chars().any(char::is_control) {
        return reasons::reject(invalid("interdict.agent", &text, "no control characters"));
    }
    let (is_locked, current) = AGENT.with(|a| (a.locked, a.value.clone()));
    if is_locked && lock_source(source) != Source::Test && text != current {
        return reasons::reject(locked(ReasonCode::SettingLocked, "interdict.agent", current, text));
    }
    true
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn assign_agent(newval: *const c_char, _extra: *mut c_void) {
    if AGENT.with(|a| a.locked) {
        return;
    }
    let text = guc_text(newval);
    AGENT.with(|a| a.value = text);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn show_agent() -> *const c_char {
    shown(super::agent())
}

// `interdict.allowed_extensions` ------------------------------------------------------------------

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_allowed_extensions(newval: *mut *mut c_char, _extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    let text = if newval.is_null() { String::new() } else { guc_text(*newval) };
    if super::mode() == Mode::Off || source != pg_sys::GucSource::PGC_S_SESSION {
        return true;
    }
    let current = super::extension_list(&guc_text(ALLOWED_EXTENSIONS_RAW));
    if super::extension_list(&text).iter().all(|n| current.contains(n)) {
        return true;
    }
    reasons::reject(locked(ReasonCode::SettingLocked, "interdict.allowed_extensions", current.join(", "), text))
}

// `interdict.file_directories` --------------------------------------------------------------------

static mut FILE_DIRECTORIES_RAW: *mut c_char = std::ptr::null_mut();

/// `interdict.policy_file` and `interdict.file_directories` (the server directories a DBA named for
/// guarded sessions' files): where a file a guarded session writes on the server may be.
pub fn file_places() -> crate::facts::utility::FilePlaces {
    // SAFETY: the GUC's string, owned by guc.c (or null), read on the backend's thread.
    let text = unsafe { guc_text(FILE_DIRECTORIES_RAW) };
    let named = text.split(',').map(|d| d.trim().trim_matches('"').to_string()).filter(|d| !d.is_empty()).collect();
    crate::facts::utility::FilePlaces { policy_file: policy_file(), named }
}

// `interdict.policy_file` -------------------------------------------------------------------------

static mut POLICY_FILE_RAW: *mut c_char = std::ptr::null_mut();

/// `interdict.policy_file`, if set.
pub fn policy_file() -> Option<String> {
    // SAFETY: the GUC's string, owned by guc.c (or null), read on the backend's thread.
    Some(unsafe { guc_text(POLICY_FILE_RAW) }.trim().to_string()).filter(|p| !p.is_empty())
}

/// Policies the check hook parsed, by the number it handed Postgres as "extra"; the assign hook
/// takes its own (a check for validation only, `ALTER SYSTEM`'s, is never assigned: a few are kept).
static PARSED_POLICIES: BackendCell<Vec<(u64, String, Option<Policy>)>> = BackendCell::new(Vec::new());
static NEXT_PARSE: BackendCell<u64> = BackendCell::new(1);

/// Reads and validates the file where a failure can be reported: a file that does not parse is
/// refused (Postgres reports it at its level: a WARNING at load, a LOG line on reload) and never
/// replaces a valid one; with no valid one before it, guarded sessions refuse writes.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_policy_file(newval: *mut *mut c_char, extra: *mut *mut c_void, _source: pg_sys::GucSource::Type) -> bool {
    let path = if newval.is_null() { String::new() } else { guc_text(*newval).trim().to_string() };
    let parsed = if path.is_empty() {
        None
    } else {
        let read = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"));
        match read.and_then(|text| Policy::parse(&text, &super::command_tags()).map_err(|e| format!("{path}: {e}"))) {
            Ok(policy) => Some(policy),
            Err(error) => {
                let kept = crate::policy::file_broken(&path, &error);
                let consequence = if kept { "the policy in force stays" } else { "guarded sessions refuse writes until a valid policy is loaded" };
                return reasons::reject(invalid("interdict.policy_file", &path, format!("{error}; {consequence}")));
            }
        }
    };
    let id = NEXT_PARSE.get();
    NEXT_PARSE.set(id + 1);
    PARSED_POLICIES.with(|p| {
        p.push((id, path, parsed));
        let excess = p.len().saturating_sub(4);
        p.drain(..excess);
    });
    keep_as_extra(id, extra)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn assign_policy_file(_newval: *const c_char, extra: *mut c_void) {
    let Some(id) = (extra as *const u64).as_ref().copied() else { return };
    let parsed = PARSED_POLICIES.with(|p| p.iter().position(|(i, _, _)| *i == id).map(|at| p.remove(at)));
    if let Some((_, path, policy)) = parsed {
        crate::policy::file_set(path, policy);
    }
}

/// Makes unknown `interdict.*` names an error (PG15+), so a typo cannot silently leave a guard off.
#[cfg(not(any(feature = "pg13", feature = "pg14")))]
unsafe fn reserve_prefix() {
    pg_sys::MarkGUCPrefixReserved(c"interdict".as_ptr());
}

#[cfg(any(feature = "pg13", feature = "pg14"))]
unsafe fn reserve_prefix() {
    pg_sys::EmitWarningsOnPlaceholders(c"interdict".as_ptr());
}
