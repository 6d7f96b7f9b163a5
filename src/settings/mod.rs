//! The `interdict.*` settings in force: the bottom floor. Everything above reads its limits here;
//! nothing here calls up (the GUC hooks that fill these cells live in `settings/hooks.rs`).
//!
//! The GUC variables only carry what Postgres stored; the values in force live in [`Locked`] cells
//! (see `interdict_core::lock`): check hooks refuse loosening once the session is locked, assign
//! hooks can only tighten a locked value (so `RESET`, rollback, function exit and `DISCARD ALL`,
//! which restore values without calling the check hook, cannot loosen it), and show hooks report
//! the value in force.
//!
//! **Adding a locked setting is one entry in [`locked_settings!`]** below (and, for a new value type,
//! its [`Value`] impl): the entry makes the cell, the GUC definition, its check/assign/show hooks,
//! its place in the lock and in the DBA floor read from the catalog.

pub mod hooks;
mod values;

pub use values::{IdleCeiling, LockCeiling, StatementCeiling, TransactionCeiling};

use crate::cell::BackendCell;
use interdict_core::commands::{Allowed, Blocked};
use interdict_core::lock::{Locked, Source, Tighten};
use interdict_core::policy::RolePolicy;
pub use interdict_core::LogStatement;
use interdict_core::{Ceiling, CommandSet, DryRun, Millis, Mode, ReasonCode, RowLimit, Settings};
use pgrx::pg_sys;
use std::ffi::{c_char, CStr};

/// How a setting's text becomes a value, and back; what an invalid DBA value becomes.
pub trait Value: Tighten + Copy + 'static {
    fn parse(text: &str) -> Result<Self, String>;
    /// What an invalid value from a DBA source becomes: fail closed.
    fn strictest() -> Self;
    fn render(&self) -> String;
    /// The mode, if this is `interdict.mode`'s value.
    fn as_mode(&self) -> Option<Mode> {
        None
    }
}

/// What a setting is to the rest of the guard, beyond its value (see `settings/hooks.rs`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `interdict.mode`: loosening it is `mode.locked`, and a replication connection may not have one.
    Mode,
    /// A ceiling on one of Postgres' timeouts: a lower one takes effect at once.
    Ceiling,
    /// Any other limit.
    Limit,
}

/// One locked setting's GUC definition.
pub struct Definition {
    pub name: &'static CStr,
    pub boot: &'static CStr,
    pub short: &'static CStr,
    pub long: &'static CStr,
    pub context: pg_sys::GucContext::Type,
    pub list: bool,
    pub kind: Kind,
}

/// A locked setting: its value type, its cell and its definition (made by [`locked_settings!`]).
pub trait LockedSetting: Value {
    const NAME: &'static str;
    const DEFINITION: Definition;
    fn cell() -> &'static BackendCell<Locked<Self>>;
    /// Where Postgres stores the raw string (never read: the cell is the truth).
    fn raw() -> *mut *mut c_char;
}

/// Calls `f` once per locked setting, with its type (for the GUC hooks' definitions).
pub trait EachSetting {
    fn setting<T: LockedSetting>(&mut self);
}

macro_rules! locked_settings {
    ($( $cell:ident: $ty:ty = $default:expr, $name:literal, boot $boot:literal, $context:ident, list $list:literal, $kind:ident,
        $short:literal, $long:literal; )*) => {
        $(
            static $cell: BackendCell<Locked<$ty>> = BackendCell::new(Locked::new($default));
            impl LockedSetting for $ty {
                const NAME: &'static str = $name;
                const DEFINITION: Definition = Definition {
                    name: match CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes()) { Ok(c) => c, Err(_) => panic!() },
                    boot: match CStr::from_bytes_with_nul(concat!($boot, "\0").as_bytes()) { Ok(c) => c, Err(_) => panic!() },
                    short: match CStr::from_bytes_with_nul(concat!($short, "\0").as_bytes()) { Ok(c) => c, Err(_) => panic!() },
                    long: match CStr::from_bytes_with_nul(concat!($long, "\0").as_bytes()) { Ok(c) => c, Err(_) => panic!() },
                    context: pg_sys::GucContext::$context,
                    list: $list,
                    kind: Kind::$kind,
                };
                fn cell() -> &'static BackendCell<Locked<Self>> {
                    &$cell
                }
                fn raw() -> *mut *mut c_char {
                    static mut RAW: *mut c_char = std::ptr::null_mut();
                    &raw mut RAW
                }
            }
        )*

        /// The names of the settings whose DBA values make the lock's floor.
        pub const LOCKED_SETTINGS: &[&str] = &[$( $name, )*];

        /// Locks every setting: from now on they only tighten.
        pub fn lock_all() {
            $( $cell.with(|c| c.lock()); )*
            AGENT.with(|a| a.locked = true);
        }

        /// Feeds a DBA value read from `pg_db_role_setting` (see `session.rs`) into the lock's
        /// floor. An invalid stored value fails closed: the strictest value.
        pub fn record_dba_value(name: &str, source: Source, value: &str) {
            $( if name == $name { return record_dba_parsed::<$ty>(source, value); } )*
        }

        /// Calls `each` with every locked setting's type.
        pub fn each_setting(each: &mut impl EachSetting) {
            $( each.setting::<$ty>(); )*
        }

        #[cfg(any(test, feature = "pg_test"))]
        /// Each setting's default is what its boot value parses to.
        pub fn defaults_match_boot_values() -> Result<(), String> {
            $(
                let parsed = <$ty as Value>::parse($boot).map_err(|e| format!("{}: {e}", $name))?;
                if parsed != $default {
                    return Err(format!("{}: boot value {:?} is not the default", $name, $boot));
                }
            )*
            Ok(())
        }
    };
}

locked_settings! {
    MODE: Mode = Mode::Off, "interdict.mode", boot "off", PGC_USERSET, list false, Mode,
        "Agent mode of this session: off, guarded or readonly.",
        "Set at connect time (ALTER ROLE/DATABASE … SET, startup options). Once the session runs, it can be raised, never lowered.";
    BLOCKED: Blocked = Blocked(CommandSet::EMPTY), "interdict.blocked_commands", boot "", PGC_SUSET, list true, Limit,
        "Command tags refused in every mode but off, comma-separated (e.g. VACUUM, ANALYZE).",
        "Set by a DBA per role or database; within a session the list can only grow.";
    ALLOWED: Allowed = Allowed(CommandSet::EMPTY), "interdict.readonly_allow", boot "", PGC_SUSET, list true, Limit,
        "Utility command tags readonly sessions may run anyway, comma-separated (e.g. ANALYZE).",
        "Set by a DBA per role or database; within a session the list can only shrink.";
    MAX_ROWS: RowLimit = RowLimit::DEFAULT, "interdict.max_rows", boot "1000", PGC_USERSET, list false, Limit,
        "Guarded mode: rows one statement may change (inserted, updated and deleted, cascades and trigger writes included) without an operator's approval.",
        "Set by a DBA per role or database; within a session it can only be lowered. 0: every write needs approval.";
    SIMULATE_TIMEOUT: Millis = Millis::DEFAULT_SIMULATE, "interdict.simulate_timeout", boot "5s", PGC_USERSET, list false, Limit,
        "How long interdict.simulate() may run a statement (e.g. 5s, 500ms).",
        "Set by a DBA per role or database; within a session it can only be lowered.";
    STATEMENT_CEILING: StatementCeiling = StatementCeiling(Ceiling::STATEMENT_DEFAULT), "interdict.max_statement_timeout", boot "30s", PGC_USERSET, list false, Ceiling,
        "Agent modes: the highest statement_timeout a session may have (0: no ceiling).",
        "Set by a DBA per role or database; a session may lower it, never raise it. A timeout of 0 (none) or above the ceiling is refused; the DBA's own settings are capped at it.";
    LOCK_CEILING: LockCeiling = LockCeiling(Ceiling::LOCK_DEFAULT), "interdict.max_lock_timeout", boot "2s", PGC_USERSET, list false, Ceiling,
        "Agent modes: the highest lock_timeout a session may have (0: no ceiling).",
        "Set by a DBA per role or database; a session may lower it, never raise it. A timeout of 0 (none) or above the ceiling is refused; the DBA's own settings are capped at it.";
    IDLE_CEILING: IdleCeiling = IdleCeiling(Ceiling::IDLE_DEFAULT), "interdict.max_idle_in_transaction_timeout", boot "60s", PGC_USERSET, list false, Ceiling,
        "Agent modes: the highest idle_in_transaction_session_timeout a session may have (0: no ceiling).",
        "Set by a DBA per role or database; a session may lower it, never raise it. A timeout of 0 (none) or above the ceiling is refused; the DBA's own settings are capped at it.";
    TRANSACTION_CEILING: TransactionCeiling = TransactionCeiling(Ceiling::TRANSACTION_DEFAULT), "interdict.max_transaction_timeout", boot "5min", PGC_USERSET, list false, Ceiling,
        "Agent modes: the highest transaction_timeout a session may have (PostgreSQL 17+; 0: no ceiling).",
        "Set by a DBA per role or database; a session may lower it, never raise it. A timeout of 0 (none) or above the ceiling is refused; the DBA's own settings are capped at it.";
    DRY_RUN: DryRun = DryRun(false), "interdict.dry_run", boot "off", PGC_USERSET, list false, Limit,
        "Guarded mode: refusals are logged and counted, not raised (for trying a policy out).",
        "Set by a DBA per role or database; a session may turn it off, never on.";
    LOG_STATEMENT: LogStatement = LogStatement::Redacted, "interdict.log_statement", boot "redacted", PGC_SUSET, list false, Limit,
        "Statement text in audit lines: none, redacted (literals replaced by ?) or full.",
        "Set by a DBA per role or database; within an agent session it can only show more.";
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
        foreign_code: false, // the session's own code: enforce::settings_for says otherwise
    }
}

/// `interdict.max_rows` in force (the blast-radius limit), read on every counted row.
pub fn max_rows() -> u64 {
    MAX_ROWS.with(|m| m.effective().0)
}

/// The ceilings in force on `statement_timeout`, `lock_timeout`,
/// `idle_in_transaction_session_timeout` and `transaction_timeout` (agent modes only; see
/// `server_settings.rs`).
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

/// `interdict.log_statement` in force: how audit lines carry statement text.
pub fn log_statement() -> LogStatement {
    LOG_STATEMENT.with(|l| *l.effective())
}

pub fn is_locked() -> bool {
    MODE.with(|m| m.is_locked())
}

/// Whether any interdict setting was given by the client at connect time (startup options).
static CLIENT_SET: BackendCell<bool> = BackendCell::new(false);

pub fn client_set_any() -> bool {
    CLIENT_SET.get()
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
            // SAFETY: every index below COMMAND_TAGS names a static tag string.
            unsafe { CStr::from_ptr(pg_sys::GetCommandTagName(tag)) }.to_str().unwrap_or("")
        })
        .collect()
}

fn all_tags() -> CommandSet {
    let mut set = CommandSet::EMPTY;
    (0..COMMAND_TAGS as usize).for_each(|i| set.insert(i));
    set
}

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

/// `interdict.allowed_extensions` as Postgres stored it (a DBA's list; within an agent session its
/// check hook lets it only shrink).
static mut ALLOWED_EXTENSIONS_RAW: *mut c_char = std::ptr::null_mut();

fn extension_list(text: &str) -> Vec<String> {
    text.split(',').map(|n| n.trim().trim_matches('"').to_ascii_lowercase()).filter(|n| !n.is_empty()).collect()
}

/// Whether `interdict.allowed_extensions` names this extension.
pub fn extension_allowed(name: &str) -> bool {
    // SAFETY: a read of the string Postgres keeps for the setting, on the backend's thread.
    let text = unsafe { crate::nodes::cstr(ALLOWED_EXTENSIONS_RAW) }.unwrap_or_default();
    extension_list(&text).iter().any(|n| *n == name.to_ascii_lowercase())
}

/// `interdict.undo_retention`, in minutes (a server setting: no session, agent or not, shortens it).
static mut UNDO_RETENTION_MIN: std::ffi::c_int = 0;

/// How long recorded changes are kept, in seconds; `None` keeps them until purged by hand.
pub fn undo_retention_secs() -> Option<f64> {
    // SAFETY: a plain read of a setting Postgres writes on this backend's thread.
    let minutes = unsafe { UNDO_RETENTION_MIN };
    (minutes > 0).then(|| minutes as f64 * 60.0)
}

/// The reason a refused loosening of `T` reports.
fn loosen_code<T: LockedSetting>() -> ReasonCode {
    if T::DEFINITION.kind == Kind::Mode { ReasonCode::ModeLocked } else { ReasonCode::SettingLocked }
}
