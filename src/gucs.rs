//! Every `interdict.*` setting: their definitions, their check/assign/show hooks, and the lock.
//!
//! The GUC variables only carry what Postgres stored; the values in force live in [`Locked`] cells
//! (see `interdict_core::lock`): check hooks refuse loosening once the session is locked, assign
//! hooks can only tighten a locked value (so `RESET`, rollback, function exit and `DISCARD ALL`,
//! which restore values without calling the check hook, cannot loosen it), and show hooks report the
//! value in force. Values are parsed once, in the check hook, into GUC "extra" (`guc.c` frees
//! it with `free()` up to 15 and `guc_free()` from 16: see [`guc_alloc`]).

use crate::cell::BackendCell;
use crate::reasons;
use interdict_core::commands::{Allowed, Blocked};
use interdict_core::lock::{Locked, Source, Tighten};
use interdict_core::policy::RolePolicy;
pub use interdict_core::LogStatement;
use interdict_core::{Ceiling, CommandSet, DryRun, Millis, Mode, ReasonCode, Refusal, RowLimit, Settings};
use pgrx::pg_sys;
use std::ffi::{c_char, c_int, c_void, CStr, CString};

static MODE: BackendCell<Locked<Mode>> = BackendCell::new(Locked::new(Mode::Off));
static BLOCKED: BackendCell<Locked<Blocked>> = BackendCell::new(Locked::new(Blocked(CommandSet::EMPTY)));
static ALLOWED: BackendCell<Locked<Allowed>> = BackendCell::new(Locked::new(Allowed(CommandSet::EMPTY)));
static MAX_ROWS: BackendCell<Locked<RowLimit>> = BackendCell::new(Locked::new(RowLimit::DEFAULT));
static SIMULATE_TIMEOUT: BackendCell<Locked<Millis>> = BackendCell::new(Locked::new(Millis::DEFAULT_SIMULATE));
static STATEMENT_CEILING: BackendCell<Locked<StatementCeiling>> = BackendCell::new(Locked::new(StatementCeiling(Ceiling::STATEMENT_DEFAULT)));
static LOCK_CEILING: BackendCell<Locked<LockCeiling>> = BackendCell::new(Locked::new(LockCeiling(Ceiling::LOCK_DEFAULT)));
static IDLE_CEILING: BackendCell<Locked<IdleCeiling>> = BackendCell::new(Locked::new(IdleCeiling(Ceiling::IDLE_DEFAULT)));
static TRANSACTION_CEILING: BackendCell<Locked<TransactionCeiling>> = BackendCell::new(Locked::new(TransactionCeiling(Ceiling::TRANSACTION_DEFAULT)));
static DRY_RUN: BackendCell<Locked<DryRun>> = BackendCell::new(Locked::new(DryRun(false)));
static LOG_STATEMENT: BackendCell<Locked<LogStatement>> = BackendCell::new(Locked::new(LogStatement::Redacted));

/// The three timeout ceilings, each its own setting (and so its own type for the lock).
macro_rules! ceiling_type {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub Ceiling);
        impl Tighten for $name {
            fn tighter(&self, other: &Self) -> Self {
                $name(self.0.tighter(&other.0))
            }
        }
    };
}
ceiling_type!(StatementCeiling);
ceiling_type!(LockCeiling);
ceiling_type!(IdleCeiling);
ceiling_type!(TransactionCeiling);

/// Whether any interdict setting was given by the client at connect time (startup options).
static CLIENT_SET: BackendCell<bool> = BackendCell::new(false);

// Storage Postgres writes the raw strings to; we never read them (the cells above are the truth).
static mut MODE_RAW: *mut c_char = std::ptr::null_mut();
static mut BLOCKED_RAW: *mut c_char = std::ptr::null_mut();
static mut ALLOWED_RAW: *mut c_char = std::ptr::null_mut();
static mut MAX_ROWS_RAW: *mut c_char = std::ptr::null_mut();
static mut SIMULATE_TIMEOUT_RAW: *mut c_char = std::ptr::null_mut();
static mut STATEMENT_CEILING_RAW: *mut c_char = std::ptr::null_mut();
static mut LOCK_CEILING_RAW: *mut c_char = std::ptr::null_mut();
static mut IDLE_CEILING_RAW: *mut c_char = std::ptr::null_mut();
static mut TRANSACTION_CEILING_RAW: *mut c_char = std::ptr::null_mut();
static mut DRY_RUN_RAW: *mut c_char = std::ptr::null_mut();
static mut AGENT_RAW: *mut c_char = std::ptr::null_mut();
static mut LOG_STATEMENT_RAW: *mut c_char = std::ptr::null_mut();

extern "C" {
    /// `walsender.c` (not in pgrx's bindings for every version).
    static am_walsender: bool;
}

/// The mode in force: the one hot-path read.
#[inline]
pub fn mode() -> Mode {
    MODE.with(|m| *m.effective())
}

/// All settings in force, for the core.
pub fn settings() -> Settings {
    Settings {
        mode: mode(),
        blocked: BLOCKED.with(|b| b.effective().0),
        readonly_allow: ALLOWED.with(|a| a.effective().0).union(&POLICY_ALLOWED.get()),
        max_rows: MAX_ROWS.with(|m| *m.effective()),
        simulate_timeout: SIMULATE_TIMEOUT.with(|t| *t.effective()),
    }
}

/// `interdict.max_rows` in force (the blast-radius limit), read on every counted row.
pub fn max_rows() -> u64 {
    MAX_ROWS.with(|m| m.effective().0)
}

/// The ceilings in force on `statement_timeout`, `lock_timeout` and
/// `idle_in_transaction_session_timeout` (agent modes only; see `server_settings.rs`).
pub fn ceilings() -> [Ceiling; 4] {
    [
        STATEMENT_CEILING.with(|c| c.effective().0),
        LOCK_CEILING.with(|c| c.effective().0),
        IDLE_CEILING.with(|c| c.effective().0),
        TRANSACTION_CEILING.with(|c| c.effective().0),
    ]
}

/// `interdict.dry_run` in force: guarded refusals are logged and counted, not raised.
pub fn dry_run() -> bool {
    DRY_RUN.with(|d| d.effective().0)
}

pub fn is_locked() -> bool {
    MODE.with(|m| m.is_locked())
}

pub fn client_set_any() -> bool {
    CLIENT_SET.get()
}

/// Feeds DBA values read from `pg_db_role_setting` (see `session.rs`) into the lock's floor.
/// An invalid stored value fails closed: the strictest value.
pub fn record_dba_value(name: &str, source: Source, value: &str) {
    match name {
        "interdict.mode" => MODE.with(|m| m.record_dba(source, Mode::parse(value).unwrap_or(Mode::Readonly))),
        "interdict.blocked_commands" => {
            let set = CommandSet::parse(value, &command_tags()).unwrap_or_else(|_| all_tags());
            BLOCKED.with(|b| b.record_dba(source, Blocked(set)))
        }
        "interdict.readonly_allow" => {
            let set = CommandSet::parse(value, &command_tags()).unwrap_or(CommandSet::EMPTY);
            ALLOWED.with(|a| a.record_dba(source, Allowed(set)))
        }
        "interdict.max_rows" => MAX_ROWS.with(|m| m.record_dba(source, RowLimit::parse(value).unwrap_or(RowLimit(0)))),
        "interdict.simulate_timeout" => {
            SIMULATE_TIMEOUT.with(|t| t.record_dba(source, Millis::parse(value).unwrap_or(Millis(1))))
        }
        "interdict.max_statement_timeout" => record_dba_parsed::<StatementCeiling>(source, value),
        "interdict.max_lock_timeout" => record_dba_parsed::<LockCeiling>(source, value),
        "interdict.max_idle_in_transaction_timeout" => record_dba_parsed::<IdleCeiling>(source, value),
        "interdict.max_transaction_timeout" => record_dba_parsed::<TransactionCeiling>(source, value),
        "interdict.dry_run" => record_dba_parsed::<DryRun>(source, value),
        "interdict.log_statement" => record_dba_parsed::<LogStatement>(source, value),
        _ => {}
    }
}

/// A DBA value read from the catalog, parsed as the check hook would (the strictest if invalid).
fn record_dba_parsed<T: LockedSetting>(source: Source, value: &str) {
    let parsed = T::parse(value).unwrap_or_else(|_| T::strictest());
    T::cell().with(|c| c.record_dba(source, parsed));
}

/// Folds the session's policy into its settings: for each limit, the tighter of the two is in force.
pub fn tighten_with(policy: &RolePolicy) {
    if let Some(mode) = policy.mode {
        MODE.with(|m| m.tighten(&mode));
    }
    if let Some(rows) = policy.max_rows {
        MAX_ROWS.with(|m| m.tighten(&RowLimit(rows)));
    }
    if let Some(timeout) = policy.simulate_timeout {
        SIMULATE_TIMEOUT.with(|t| t.tighten(&timeout));
    }
    let tags = command_tags();
    let mut blocked = CommandSet::EMPTY;
    for tag in &policy.blocked_commands {
        // Validated when the policy was loaded; a tag this server lacks blocks everything.
        blocked = blocked.union(&CommandSet::parse(tag, &tags).unwrap_or_else(|_| all_tags()));
    }
    BLOCKED.with(|b| b.tighten(&Blocked(blocked)));
    let mut allowed = CommandSet::EMPTY;
    for tag in &policy.allowed_commands {
        // Validated when the policy was loaded; a tag this server lacks allows nothing.
        allowed = allowed.union(&CommandSet::parse(tag, &tags).unwrap_or(CommandSet::EMPTY));
    }
    POLICY_ALLOWED.set(allowed);
}

/// The policy's `allowed_commands`: a DBA's additions to `interdict.readonly_allow`, fixed at lock
/// (kept apart from the setting, whose lock only shrinks it and whose `RESET` would drop them).
static POLICY_ALLOWED: BackendCell<CommandSet> = BackendCell::new(CommandSet::EMPTY);

/// Locks every setting: from now on they only tighten.
pub fn lock_all() {
    MODE.with(|m| m.lock());
    BLOCKED.with(|b| b.lock());
    ALLOWED.with(|a| a.lock());
    MAX_ROWS.with(|m| m.lock());
    SIMULATE_TIMEOUT.with(|t| t.lock());
    STATEMENT_CEILING.with(|c| c.lock());
    LOCK_CEILING.with(|c| c.lock());
    IDLE_CEILING.with(|c| c.lock());
    TRANSACTION_CEILING.with(|c| c.lock());
    DRY_RUN.with(|d| d.lock());
    LOG_STATEMENT.with(|l| l.lock());
    AGENT.with(|a| a.locked = true);
}

/// The names of the settings whose DBA values make the lock's floor.
pub const LOCKED_SETTINGS: [&str; 11] = [
    "interdict.mode",
    "interdict.blocked_commands",
    "interdict.readonly_allow",
    "interdict.max_rows",
    "interdict.simulate_timeout",
    "interdict.max_statement_timeout",
    "interdict.max_lock_timeout",
    "interdict.max_idle_in_transaction_timeout",
    "interdict.max_transaction_timeout",
    "interdict.dry_run",
    "interdict.log_statement",
];

/// How many command tags the running Postgres has (`cmdtaglist.h`).
#[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16"))]
const COMMAND_TAGS: u32 = pg_sys::CommandTag::COMMAND_TAG_NEXTTAG;
/// 17 dropped the `COMMAND_TAG_NEXTTAG` sentinel; the list is alphabetical and `VACUUM` is its last.
#[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16")))]
const COMMAND_TAGS: u32 = pg_sys::CommandTag::CMDTAG_VACUUM + 1;

/// Every command tag of the running Postgres, by `CommandTag` index (`cmdtaglist.h`).
pub fn command_tags() -> Vec<&'static str> {
    (0..COMMAND_TAGS)
        .map(|tag| {
            // SAFETY: every index below COMMAND_TAG_NEXTTAG names a static tag string.
            unsafe { CStr::from_ptr(pg_sys::GetCommandTagName(tag)) }.to_str().unwrap_or("")
        })
        .collect()
}

fn all_tags() -> CommandSet {
    let mut set = CommandSet::EMPTY;
    (0..COMMAND_TAGS as usize).for_each(|i| set.insert(i));
    set
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

/// One locked setting's parse and lock, shared by the three check hooks.
trait LockedSetting: Tighten + Copy + 'static {
    const NAME: &'static str;
    fn cell() -> &'static BackendCell<Locked<Self>>;
    fn parse(text: &str) -> Result<Self, String>;
    /// What an invalid value from a DBA source becomes: fail closed.
    fn strictest() -> Self;
    fn render(&self) -> String;
    fn loosen_code() -> ReasonCode {
        ReasonCode::SettingLocked
    }
    /// After the value in force may have changed.
    fn assigned() {}
    /// A value arriving while the connection starts (a role's, a database's or the client's setting).
    fn connecting(_value: &Self, _source: Source) {}
}

impl LockedSetting for Mode {
    const NAME: &'static str = "interdict.mode";
    fn cell() -> &'static BackendCell<Locked<Self>> {
        &MODE
    }
    fn parse(text: &str) -> Result<Self, String> {
        Mode::parse(text)
    }
    fn strictest() -> Self {
        Mode::Readonly
    }
    fn render(&self) -> String {
        self.as_str().into()
    }
    fn loosen_code() -> ReasonCode {
        ReasonCode::ModeLocked
    }
    /// A replication connection (a walsender) runs replication commands no hook sees, and never
    /// loads `session_preload_libraries`: a role, database or client that gives one an agent mode
    /// is refused at connect (with `shared_preload_libraries`, the only way the library is there).
    /// The server file's and `ALTER ROLE ALL`'s settings do not count: they apply to every role,
    /// standbys' replication roles included.
    fn connecting(value: &Self, source: Source) {
        // SAFETY: a plain read of a process global.
        let walsender = unsafe { am_walsender };
        if walsender && *value != Mode::Off && matches!(source, Source::Role | Source::RoleInDatabase | Source::Database | Source::Client) {
            reasons::fatal(&Refusal::new(ReasonCode::SessionReplication, *value, "a replication connection").fact("mode", value.as_str()));
        }
    }
}

impl LockedSetting for Blocked {
    const NAME: &'static str = "interdict.blocked_commands";
    fn cell() -> &'static BackendCell<Locked<Self>> {
        &BLOCKED
    }
    fn parse(text: &str) -> Result<Self, String> {
        CommandSet::parse(text, &command_tags()).map(Blocked)
    }
    fn strictest() -> Self {
        Blocked(all_tags())
    }
    fn render(&self) -> String {
        self.0.render(&command_tags())
    }
}

impl LockedSetting for Allowed {
    const NAME: &'static str = "interdict.readonly_allow";
    fn cell() -> &'static BackendCell<Locked<Self>> {
        &ALLOWED
    }
    fn parse(text: &str) -> Result<Self, String> {
        CommandSet::parse(text, &command_tags()).map(Allowed)
    }
    fn strictest() -> Self {
        Allowed(CommandSet::EMPTY)
    }
    fn render(&self) -> String {
        self.0.render(&command_tags())
    }
}

impl LockedSetting for RowLimit {
    const NAME: &'static str = "interdict.max_rows";
    fn cell() -> &'static BackendCell<Locked<Self>> {
        &MAX_ROWS
    }
    fn parse(text: &str) -> Result<Self, String> {
        RowLimit::parse(text)
    }
    fn strictest() -> Self {
        RowLimit(0)
    }
    fn render(&self) -> String {
        self.0.to_string()
    }
}

macro_rules! ceiling_setting {
    ($ty:ident, $name:literal, $cell:ident) => {
        impl LockedSetting for $ty {
            const NAME: &'static str = $name;
            fn cell() -> &'static BackendCell<Locked<Self>> {
                &$cell
            }
            fn parse(text: &str) -> Result<Self, String> {
                Ceiling::parse(text).map($ty)
            }
            fn strictest() -> Self {
                $ty(Ceiling(1000))
            }
            fn render(&self) -> String {
                self.0.render()
            }
            fn assigned() {
                crate::server_settings::tightened(); // a lower ceiling takes effect at once
            }
        }
    };
}
ceiling_setting!(StatementCeiling, "interdict.max_statement_timeout", STATEMENT_CEILING);
ceiling_setting!(LockCeiling, "interdict.max_lock_timeout", LOCK_CEILING);
ceiling_setting!(IdleCeiling, "interdict.max_idle_in_transaction_timeout", IDLE_CEILING);
ceiling_setting!(TransactionCeiling, "interdict.max_transaction_timeout", TRANSACTION_CEILING);

impl LockedSetting for DryRun {
    const NAME: &'static str = "interdict.dry_run";
    fn cell() -> &'static BackendCell<Locked<Self>> {
        &DRY_RUN
    }
    fn parse(text: &str) -> Result<Self, String> {
        DryRun::parse(text)
    }
    fn strictest() -> Self {
        DryRun(false)
    }
    fn render(&self) -> String {
        if self.0 { "on".into() } else { "off".into() }
    }
}

impl LockedSetting for LogStatement {
    const NAME: &'static str = "interdict.log_statement";
    fn cell() -> &'static BackendCell<Locked<Self>> {
        &LOG_STATEMENT
    }
    fn parse(text: &str) -> Result<Self, String> {
        LogStatement::parse(text)
    }
    fn strictest() -> Self {
        LogStatement::Full
    }
    fn render(&self) -> String {
        self.as_str().into()
    }
}

impl LockedSetting for Millis {
    const NAME: &'static str = "interdict.simulate_timeout";
    fn cell() -> &'static BackendCell<Locked<Self>> {
        &SIMULATE_TIMEOUT
    }
    fn parse(text: &str) -> Result<Self, String> {
        Millis::parse(text)
    }
    fn strictest() -> Self {
        Millis(1)
    }
    fn render(&self) -> String {
        Millis::render(self)
    }
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

/// The check hook of every locked setting.
unsafe fn check<T: LockedSetting>(newval: *mut *mut c_char, extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    let text = if newval.is_null() { String::new() } else { guc_text(*newval) };
    let source = lock_source(source);
    let value = match T::parse(&text) {
        Ok(v) => v,
        Err(why) if is_dba(source) => {
            // A DBA's broken value must not leave the session unguarded: the floor becomes the strictest.
            T::cell().with(|c| c.record_dba(source, T::strictest()));
            return reject(Refusal::new(ReasonCode::SettingInvalid, mode(), format!("value \"{text}\" for {}", T::NAME))
                .fact("setting", T::NAME).fact("value", text).fact("error", why));
        }
        Err(why) => {
            return reject(Refusal::new(ReasonCode::SettingInvalid, mode(), format!("value \"{text}\" for {}", T::NAME))
                .fact("setting", T::NAME).fact("value", text).fact("error", why));
        }
    };
    if source == Source::Client {
        CLIENT_SET.set(true);
    }
    T::connecting(&value, source);
    if let Err(attempt) = T::cell().with(|c| c.check(&value, source)) {
        return reject(
            Refusal::new(T::loosen_code(), mode(), format!("setting {} to \"{}\"", T::NAME, attempt.attempted.render()))
                .fact("setting", T::NAME)
                .fact("in_force", attempt.effective.render())
                .fact("attempted", attempt.attempted.render()),
        );
    }
    let slot = guc_alloc(std::mem::size_of::<T>()) as *mut T;
    if slot.is_null() {
        return false;
    }
    slot.write(value);
    *extra = slot as *mut c_void;
    true
}

/// Reports a refusal from a check hook through `GUC_check_*`, which `guc.c` turns into the error.
/// It never reaches `reasons::raise`, so it is noted (counted, audited) here.
pub(crate) unsafe fn reject(refusal: Refusal) -> bool {
    reasons::note(&refusal);
    let pstr = |s: String| crate::nodes::palloc_text(&s);
    pg_sys::GUC_check_errcode(reasons::sqlstate_code(refusal.code) as c_int);
    pg_sys::GUC_check_errmsg_string = pstr(refusal.message());
    pg_sys::GUC_check_errdetail_string = pstr(refusal.detail());
    pg_sys::GUC_check_errhint_string = pstr(refusal.hint().to_string());
    false
}

unsafe fn assign<T: LockedSetting>(extra: *mut c_void) {
    if let Some(value) = (extra as *const T).as_ref() {
        T::cell().with(|c| c.assign(value));
    }
    T::assigned();
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

fn show<T: LockedSetting>() -> *const c_char {
    let text = T::cell().with(|c| c.effective().render());
    shown(text)
}

macro_rules! hooks_for {
    ($ty:ty, $check:ident, $assign:ident, $show:ident) => {
        #[pgrx::pg_guard]
        unsafe extern "C-unwind" fn $check(newval: *mut *mut c_char, extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
            check::<$ty>(newval, extra, source)
        }
        #[pgrx::pg_guard]
        unsafe extern "C-unwind" fn $assign(_newval: *const c_char, extra: *mut c_void) {
            assign::<$ty>(extra)
        }
        #[pgrx::pg_guard]
        unsafe extern "C-unwind" fn $show() -> *const c_char {
            show::<$ty>()
        }
    };
}

hooks_for!(Mode, check_mode, assign_mode, show_mode);
hooks_for!(Blocked, check_blocked, assign_blocked, show_blocked);
hooks_for!(Allowed, check_allowed, assign_allowed, show_allowed);
hooks_for!(RowLimit, check_max_rows, assign_max_rows, show_max_rows);
hooks_for!(Millis, check_simulate_timeout, assign_simulate_timeout, show_simulate_timeout);
hooks_for!(StatementCeiling, check_statement_ceiling, assign_statement_ceiling, show_statement_ceiling);
hooks_for!(LockCeiling, check_lock_ceiling, assign_lock_ceiling, show_lock_ceiling);
hooks_for!(IdleCeiling, check_idle_ceiling, assign_idle_ceiling, show_idle_ceiling);
hooks_for!(TransactionCeiling, check_transaction_ceiling, assign_transaction_ceiling, show_transaction_ceiling);
hooks_for!(DryRun, check_dry_run, assign_dry_run, show_dry_run);
hooks_for!(LogStatement, check_log_statement, assign_log_statement, show_log_statement);

/// `interdict.agent`: who is acting (a run or chat id), free text set at connect time and fixed
/// once the session runs. Not a limit, so nothing is "tighter": after the lock only the same
/// value is accepted, and restores that skip the check hook cannot change it either.
struct Agent {
    value: String,
    locked: bool,
}

static AGENT: BackendCell<Agent> = BackendCell::new(Agent { value: String::new(), locked: false });

/// The session's agent identity (empty when none was given).
pub fn agent() -> String {
    AGENT.with(|a| a.value.clone())
}

const AGENT_MAX_CHARS: usize = 200;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_agent(newval: *mut *mut c_char, _extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    let text = if newval.is_null() { String::new() } else { guc_text(*newval) };
    let invalid = |why: &str| {
        reject(Refusal::new(ReasonCode::SettingInvalid, mode(), format!("value \"{text}\" for interdict.agent")).fact("setting", "interdict.agent").fact("error", why))
    };
    if text.chars().count() > AGENT_MAX_CHARS {
        return invalid("at most 200 characters");
    }
    if text.chars().any(char::is_control) {
        return invalid("no control characters");
    }
    let (locked, current) = AGENT.with(|a| (a.locked, a.value.clone()));
    if locked && lock_source(source) != Source::Test && text != current {
        return reject(
            Refusal::new(ReasonCode::SettingLocked, mode(), format!("setting interdict.agent to \"{text}\""))
                .fact("setting", "interdict.agent")
                .fact("in_force", current)
                .fact("attempted", text),
        );
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
    let text = agent();
    shown(text)
}

/// `interdict.log_statement` in force: how audit lines carry statement text.
pub fn log_statement() -> LogStatement {
    LOG_STATEMENT.with(|l| *l.effective())
}

type CheckString = unsafe extern "C-unwind" fn(*mut *mut c_char, *mut *mut c_void, pg_sys::GucSource::Type) -> bool;
type AssignString = unsafe extern "C-unwind" fn(*const c_char, *mut c_void);
type ShowHook = unsafe extern "C-unwind" fn() -> *const c_char;

/// Defines the settings. Called once per backend from `_PG_init`.
pub fn init() {
    // SAFETY: called from _PG_init on the backend's main thread; the names and descriptions are
    // static C strings and the value pointers are statics that live as long as the library.
    unsafe {
        pg_sys::DefineCustomStringVariable(
            c"interdict.mode".as_ptr(),
            c"Agent mode of this session: off, guarded or readonly.".as_ptr(),
            c"Set at connect time (ALTER ROLE/DATABASE … SET, startup options). Once the session runs, it can be raised, never lowered.".as_ptr(),
            &raw mut MODE_RAW,
            c"off".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            0,
            Some(check_mode),
            Some(assign_mode),
            Some(show_mode),
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.blocked_commands".as_ptr(),
            c"Command tags refused in every mode but off, comma-separated (e.g. VACUUM, ANALYZE).".as_ptr(),
            c"Set by a DBA per role or database; within a session the list can only grow.".as_ptr(),
            &raw mut BLOCKED_RAW,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GUC_LIST_INPUT as c_int,
            Some(check_blocked),
            Some(assign_blocked),
            Some(show_blocked),
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.readonly_allow".as_ptr(),
            c"Utility command tags readonly sessions may run anyway, comma-separated (e.g. ANALYZE).".as_ptr(),
            c"Set by a DBA per role or database; within a session the list can only shrink.".as_ptr(),
            &raw mut ALLOWED_RAW,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GUC_LIST_INPUT as c_int,
            Some(check_allowed),
            Some(assign_allowed),
            Some(show_allowed),
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.max_rows".as_ptr(),
            c"Guarded mode: rows one statement may change (inserted, updated and deleted, cascades and trigger writes included) without an operator's approval.".as_ptr(),
            c"Set by a DBA per role or database; within a session it can only be lowered. 0: every write needs approval.".as_ptr(),
            &raw mut MAX_ROWS_RAW,
            c"1000".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            0,
            Some(check_max_rows),
            Some(assign_max_rows),
            Some(show_max_rows),
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.simulate_timeout".as_ptr(),
            c"How long interdict.simulate() may run a statement (e.g. 5s, 500ms).".as_ptr(),
            c"Set by a DBA per role or database; within a session it can only be lowered.".as_ptr(),
            &raw mut SIMULATE_TIMEOUT_RAW,
            c"5s".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            0,
            Some(check_simulate_timeout),
            Some(assign_simulate_timeout),
            Some(show_simulate_timeout),
        );
        pg_sys::DefineCustomStringVariable(
            c"interdict.policy_file".as_ptr(),
            c"A YAML policy file for agent sessions, read at load and on reload (SIGHUP).".as_ptr(),
            c"Takes precedence over policies loaded with interdict.load_policy(). A file that does not parse or validate never replaces a valid one; with none valid, guarded sessions refuse writes.".as_ptr(),
            &raw mut POLICY_FILE_RAW,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_SIGHUP,
            0,
            None,
            Some(assign_policy_file),
            None,
        );
        let ceilings: [(&CStr, &CStr, *mut *mut c_char, &CStr, CheckString, AssignString, ShowHook); 4] = [
            (c"interdict.max_statement_timeout", c"Agent modes: the highest statement_timeout a session may have (0: no ceiling).", &raw mut STATEMENT_CEILING_RAW, c"30s", check_statement_ceiling, assign_statement_ceiling, show_statement_ceiling),
            (c"interdict.max_lock_timeout", c"Agent modes: the highest lock_timeout a session may have (0: no ceiling).", &raw mut LOCK_CEILING_RAW, c"2s", check_lock_ceiling, assign_lock_ceiling, show_lock_ceiling),
            (c"interdict.max_idle_in_transaction_timeout", c"Agent modes: the highest idle_in_transaction_session_timeout a session may have (0: no ceiling).", &raw mut IDLE_CEILING_RAW, c"60s", check_idle_ceiling, assign_idle_ceiling, show_idle_ceiling),
            (c"interdict.max_transaction_timeout", c"Agent modes: the highest transaction_timeout a session may have (PostgreSQL 17+; 0: no ceiling).", &raw mut TRANSACTION_CEILING_RAW, c"5min", check_transaction_ceiling, assign_transaction_ceiling, show_transaction_ceiling),
        ];
        for (name, short, raw, boot, check, assign, show) in ceilings {
            pg_sys::DefineCustomStringVariable(
                name.as_ptr(),
                short.as_ptr(),
                c"Set by a DBA per role or database; a session may lower it, never raise it. A timeout of 0 (none) or above the ceiling is refused; the DBA's own settings are capped at it.".as_ptr(),
                raw,
                boot.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                0,
                Some(check),
                Some(assign),
                Some(show),
            );
        }
        pg_sys::DefineCustomStringVariable(
            c"interdict.dry_run".as_ptr(),
            c"Guarded mode: refusals are logged and counted, not raised (for trying a policy out).".as_ptr(),
            c"Set by a DBA per role or database; a session may turn it off, never on.".as_ptr(),
            &raw mut DRY_RUN_RAW,
            c"off".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            0,
            Some(check_dry_run),
            Some(assign_dry_run),
            Some(show_dry_run),
        );
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
            c"interdict.log_statement".as_ptr(),
            c"Statement text in audit lines: none, redacted (literals replaced by ?) or full.".as_ptr(),
            std::ptr::null(),
            &raw mut LOG_STATEMENT_RAW,
            c"redacted".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            0,
            Some(check_log_statement),
            Some(assign_log_statement),
            Some(show_log_statement),
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

/// `interdict.allowed_extensions`: extensions guarded sessions may create (a DBA's list; within an
/// agent session it can only shrink). Read as Postgres stored it, when a `CREATE EXTENSION` is judged.
static mut ALLOWED_EXTENSIONS_RAW: *mut c_char = std::ptr::null_mut();

fn extension_list(text: &str) -> Vec<String> {
    text.split(',').map(|n| n.trim().trim_matches('"').to_ascii_lowercase()).filter(|n| !n.is_empty()).collect()
}

/// Whether `interdict.allowed_extensions` names this extension.
pub fn extension_allowed(name: &str) -> bool {
    // SAFETY: a read of the string Postgres keeps for the setting, on the backend's thread.
    let text = unsafe { guc_text(ALLOWED_EXTENSIONS_RAW) };
    extension_list(&text).iter().any(|n| *n == name.to_ascii_lowercase())
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_allowed_extensions(newval: *mut *mut c_char, _extra: *mut *mut c_void, source: pg_sys::GucSource::Type) -> bool {
    let text = if newval.is_null() { String::new() } else { guc_text(*newval) };
    if mode() == Mode::Off || source != pg_sys::GucSource::PGC_S_SESSION {
        return true;
    }
    let current = extension_list(&guc_text(ALLOWED_EXTENSIONS_RAW));
    if extension_list(&text).iter().all(|n| current.contains(n)) {
        return true;
    }
    reject(
        Refusal::new(ReasonCode::SettingLocked, mode(), format!("setting interdict.allowed_extensions to \"{text}\""))
            .fact("setting", "interdict.allowed_extensions")
            .fact("in_force", current.join(", "))
            .fact("attempted", text),
    )
}

/// `interdict.undo_retention`, in minutes (a server setting: no session, agent or not, shortens it).
static mut UNDO_RETENTION_MIN: c_int = 0;

/// How long recorded changes are kept, in seconds; `None` keeps them until purged by hand.
pub fn undo_retention_secs() -> Option<f64> {
    // SAFETY: a plain read of a setting Postgres writes on this backend's thread.
    let minutes = unsafe { UNDO_RETENTION_MIN };
    (minutes > 0).then(|| minutes as f64 * 60.0)
}

static mut POLICY_FILE_RAW: *mut c_char = std::ptr::null_mut();

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn assign_policy_file(newval: *const c_char, _extra: *mut c_void) {
    let path = guc_text(newval);
    crate::policy::file_set(&path);
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
