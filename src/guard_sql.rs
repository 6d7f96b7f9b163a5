//! How the guard runs SQL of its own, immune to the session that called it.
//!
//! An agent controls its session's name resolution: `search_path` (from a client option, `SET`, a
//! function's `SET` clause), objects in schemas it can write, and its temporary schema (searched
//! first for relations and types unless named later). Any SQL the guard runs must resolve names the
//! same whatever the session did, and must never run a session's object with raised privileges.
//! Every statement the guard runs goes through one of these scopes:
//!
//! - [`pinned`]: `search_path = pg_catalog, pg_temp` (the temporary schema last, so it cannot shadow
//!   a type or relation) for the duration, at the caller's privileges. For catalog reads a caller
//!   asks for (`check_role()`).
//! - [`as_guard`]: pinned, as the extension's owner (the owner of the `interdict` tables, the least
//!   privilege that writes them), with the hooks standing aside. Only for statements on the
//!   guard's own tables and the catalog, which run no code a session can define.
//! - [`as_guard_direct`]: as the extension's owner, hooks aside, search path untouched: for the
//!   guard's direct inserts into its own tables (`undo/store.rs`), which run no SQL and resolve no
//!   name through the search path (relations by OID in the guard's schema, functions by OID).
//! - [`as_table_owner`]: pinned, as the owner of a user table, as a security-restricted operation
//!   (`SECURITY_RESTRICTED_OPERATION | SECURITY_NOFORCE_RLS`, as Postgres runs maintenance and
//!   foreign-key checks: `vacuum.c`, `ri_triggers.c: ri_PerformCheck`). Undo's revert writes user
//!   tables this way: their index expressions, CHECK constraints and domains may run code the
//!   table's owner defined, so they run as that owner, and the hooks do **not** stand aside —
//!   statements that code runs are judged like any other. Only the revert's own statements, run
//!   with [`own_statement`], pass without a verdict: they are recognised by their source text's
//!   address, which no other statement can share (`spi.c: SPI_execute_with_args` hands the
//!   caller's pointer to `CreateQueryDesc`).
//!
//! Session settings are read from the catalog directly (`session.rs`), not through SQL.

use crate::cell::BackendCell;
use pgrx::pg_sys;
use std::ffi::{c_char, CStr};

/// The search path of every statement the guard runs.
const PINNED_PATH: &CStr = c"pg_catalog, pg_temp";

/// Set while the guard runs statements on its own tables (`as_guard`): the hooks stand aside.
static GUARD_OWN_TABLES: BackendCell<bool> = BackendCell::new(false);
/// The source text of the guard's own statement on a user table while it runs (see `own_statement`).
static OWN_SOURCE: BackendCell<*const c_char> = BackendCell::new(std::ptr::null());
/// Set while the guard itself changes a setting (undo's revert sets `session_replication_role`),
/// so that the settings' locks let it through.
static GUARD_SETS: BackendCell<bool> = BackendCell::new(false);

/// Whether the guard is running statements on its own tables now (the hooks stand aside).
#[inline]
pub fn on_own_tables() -> bool {
    GUARD_OWN_TABLES.get()
}

/// Whether the hooks stand aside now: for the guard's own statements on its own tables, for
/// `pg_upgrade` (whose restore must never be refused), and while an extension's script runs
/// (`CREATE EXTENSION` of one a DBA allowed: its script is the DBA's installed code, C functions
/// included; readonly refuses `CREATE EXTENSION` itself).
pub fn is_internal() -> bool {
    // SAFETY: plain reads of process globals.
    on_own_tables() || unsafe { pg_sys::IsBinaryUpgrade || pg_sys::creating_extension }
}

/// Set while `interdict.revert()` runs, in any session (see [`reverting`]).
static REVERTING: BackendCell<bool> = BackendCell::new(false);

/// Whether `interdict.revert()` is running: the reverted tables' own code (a CHECK, a default, an
/// index expression) runs inside its statements, with triggers off, in the reverting session —
/// an operator's unguarded one too. That code is judged as guarded mode judges it there.
#[inline]
pub fn reverting() -> bool {
    REVERTING.get()
}

/// Marks the revert running until the value returned is dropped.
pub fn enter_revert() -> impl Drop {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REVERTING.set(self.0);
        }
    }
    let was = REVERTING.get();
    REVERTING.set(true);
    Restore(was)
}

/// Whether this executor start is the guard's own statement (by the address of its text).
#[inline]
pub fn is_own_statement(source: *const c_char) -> bool {
    let own = OWN_SOURCE.get();
    !own.is_null() && own == source
}

/// Whether the guard itself is changing a setting now.
#[inline]
pub fn guard_sets_setting() -> bool {
    GUARD_SETS.get()
}

/// Runs `f` with the settings' locks letting the guard's own changes through.
pub fn setting_by_guard<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GUARD_SETS.set(self.0);
        }
    }
    let _restore = Restore(GUARD_SETS.get());
    GUARD_SETS.set(true);
    f()
}

/// Inside [`as_guard`]: until the scope ends, plans take anything over a sequential scan. The
/// guard finds a change's rows by their addresses (undo/store.rs), a TID scan the planner would
/// otherwise price as ten random reads and skip for a small table's scan.
pub fn prefer_addresses() {
    setting_by_guard(|| {
        // SAFETY: a GUC change on the backend's thread, saved at the scope's nesting level.
        unsafe {
            pg_sys::set_config_option(
                c"enable_seqscan".as_ptr(),
                c"off".as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            )
        }
    });
}

/// Everything a scope changed, put back on the way out (errors included: an error unwinds through
/// Rust frames before pgrx re-raises it, so `Drop` runs).
struct Scope {
    gucs: i32,
    user: Option<(pg_sys::Oid, i32)>,
    own_tables: bool,
}

impl Scope {
    fn enter(user: Option<(pg_sys::Oid, i32)>) -> Scope {
        // SAFETY: GUC and user-id calls on the backend's thread, inside a transaction.
        unsafe {
            let gucs = pg_sys::NewGUCNestLevel();
            setting_by_guard(|| {
                pg_sys::set_config_option(
                    c"search_path".as_ptr(),
                    PINNED_PATH.as_ptr(),
                    pg_sys::GucContext::PGC_USERSET,
                    pg_sys::GucSource::PGC_S_SESSION,
                    pg_sys::GucAction::GUC_ACTION_SAVE,
                    true,
                    0,
                    false,
                )
            });
            let saved_user = user.map(|(to, flags)| {
                let (mut was, mut context) = (pg_sys::InvalidOid, 0);
                pg_sys::GetUserIdAndSecContext(&mut was, &mut context);
                pg_sys::SetUserIdAndSecContext(to, context | flags);
                (was, context)
            });
            let own_tables = GUARD_OWN_TABLES.get();
            Scope { gucs, user: saved_user, own_tables }
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // SAFETY: restores what `enter` saved, innermost first, on the backend's thread.
        unsafe {
            if let Some((user, context)) = self.user {
                pg_sys::SetUserIdAndSecContext(user, context);
            }
            pg_sys::AtEOXact_GUC(true, self.gucs);
        }
        GUARD_OWN_TABLES.set(self.own_tables);
    }
}

/// Runs `f` with the search path pinned, at the caller's privileges.
pub fn pinned<R>(f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(None);
    f()
}

/// Runs the guard's statements on its own tables: pinned, as the extension's owner, hooks aside.
/// `doing` names the step for `internal.failure` if Postgres raises an error inside it that is not a
/// refusal of the guard's and not operational (see [`step`]).
pub fn as_guard<R>(doing: &str, f: impl FnOnce() -> R) -> R {
    let owner = extension_owner().unwrap_or(pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID));
    let _scope = Scope::enter(Some((owner, pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32)));
    GUARD_OWN_TABLES.set(true);
    step(doing, f)
}

/// Before a function that writes the guard's records (a revert, a decision, a policy, a purge): in a
/// read-only transaction (`SET TRANSACTION READ ONLY`, a standby) Postgres' own error, naming the
/// function, as for any write, before any of its statements runs.
pub fn writes_records(function: &std::ffi::CStr) {
    // SAFETY: raises an ERROR (a longjmp pgrx turns into a panic) or returns.
    unsafe { pg_sys::PreventCommandIfReadOnly(function.as_ptr()) }
}

/// The guard's direct work on its own tables (heap and index inserts, `nextval` without a
/// permission check, as Postgres writes its catalogs): no SQL runs, no name is resolved through
/// the search path and no permission is checked, so no identity or setting needs changing; only
/// the guard's error handling applies ([`step`]).
pub fn direct<R>(doing: &str, f: impl FnOnce() -> R) -> R {
    step(doing, f)
}

/// A step of the guard's own: an error Postgres raises inside it (its record tables missing, a
/// permission, a bad value) becomes `internal.failure` saying which step failed and why, so that an
/// agent can parse it. Refusals (a DETAIL with a reason code) and operational errors — a cancel or
/// timeout (57), a serialization failure or deadlock (40), a shortage (53), a lock not available or
/// a state problem (55), a transaction's state (25: read-only, aborted), a connection problem (08) —
/// pass unchanged: they mean what they say.
fn step<R>(doing: &str, f: impl FnOnce() -> R) -> R {
    use pgrx::pg_sys::panic::CaughtError;
    pgrx::PgTryBuilder::new(std::panic::AssertUnwindSafe(f))
        .catch_others(|e| {
            let report = match &e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
                CaughtError::RustPanic { .. } => e.rethrow(),
            };
            let refusal = report.detail().is_some_and(|d| d.starts_with("{\"reason\":"));
            let sqlstate = crate::reasons::sqlstate_text(report.sql_error_code() as i32);
            if refusal || ["57", "40", "53", "55", "25", "08"].iter().any(|class| sqlstate.starts_with(class)) {
                e.rethrow()
            }
            crate::reasons::internal_failure(doing, &format!("{} ({sqlstate})", report.message()))
        })
        .execute()
}

/// Runs statements on a user table as its owner, security-restricted, hooks judging what they run.
pub fn as_table_owner<R>(relid: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    // SAFETY: a syscache lookup inside a transaction.
    let owner = unsafe { relation_owner(relid) };
    let flags = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION | pg_sys::SECURITY_NOFORCE_RLS) as i32;
    let _scope = Scope::enter(Some((owner, flags)));
    GUARD_OWN_TABLES.set(false);
    f()
}

/// `pg_class.relowner` (the current user if the relation is gone: the statement then fails on
/// the missing relation, with no one's privileges raised).
unsafe fn relation_owner(relid: pg_sys::Oid) -> pg_sys::Oid {
    crate::nodes::pg_class(relid, |c| c.relowner).unwrap_or_else(|| pg_sys::GetUserId())
}

/// The owner of the `interdict` extension in this database, if it is created here. Read from
/// `pg_extension` through its name index (no SQL), once per transaction (keyed by the backend's
/// local transaction id).
pub fn extension_owner() -> Option<pg_sys::Oid> {
    // SAFETY: plain reads of transaction state.
    let (in_xact, lxid) = unsafe { (pg_sys::IsTransactionState(), crate::nodes::local_transaction_id()) };
    if !in_xact {
        return None;
    }
    if let Some((at, owner)) = OWNER.get() {
        if at == lxid {
            return owner;
        }
    }
    let owner = read_extension_owner();
    OWNER.set(Some((lxid, owner)));
    owner
}

/// The last [`extension_owner`] lookup, with the transaction it was made in.
static OWNER: BackendCell<Option<(u32, Option<pg_sys::Oid>)>> = BackendCell::new(None);

fn read_extension_owner() -> Option<pg_sys::Oid> {
    // SAFETY: a catalog scan inside a transaction; the tuple is read before the scan ends.
    unsafe {
        let rel = pg_sys::table_open(pg_sys::ExtensionRelationId, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let mut key = std::mem::zeroed::<pg_sys::ScanKeyData>();
        pg_sys::ScanKeyInit(
            &mut key,
            pg_sys::Anum_pg_extension_extname as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::RegProcedure::from(pg_sys::F_NAMEEQ),
            pg_sys::Datum::from(c"interdict".as_ptr()),
        );
        let scan = pg_sys::systable_beginscan(rel, pg_sys::Oid::from(pg_sys::ExtensionNameIndexId), true, std::ptr::null_mut(), 1, &mut key);
        let tuple = pg_sys::systable_getnext(scan);
        let owner = (!tuple.is_null()).then(|| (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_extension)).extowner);
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        owner
    }
}

/// One argument of an own statement: its type and value (`None`: NULL).
pub struct Arg {
    pub typid: pg_sys::Oid,
    pub value: Option<pg_sys::Datum>,
}

impl Arg {
    pub fn int8(value: i64) -> Arg {
        Arg { typid: pg_sys::INT8OID, value: Some(pg_sys::Datum::from(value)) }
    }
}

/// Rows an own statement returned, each column as text (`None`: NULL).
pub struct Returned {
    pub rows: Vec<Vec<Option<String>>>,
}

/// Runs one statement of the guard's own on a user table (inside [`as_table_owner`]) through SPI,
/// recognised by the hooks as the guard's (see the module's header). Errors are Postgres' own.
pub fn own_statement(sql: &CStr, args: &[Arg]) -> Returned {
    run_own(sql, args, false)
}

/// [`own_statement`] reading the latest committed rows rather than the transaction's snapshot (in
/// REPEATABLE READ and SERIALIZABLE they differ), as Postgres' own foreign-key checks read: a check
/// that must see every row another session committed meanwhile.
pub fn own_statement_latest(sql: &CStr, args: &[Arg]) -> Returned {
    run_own(sql, args, true)
}

fn run_own(sql: &CStr, args: &[Arg], latest: bool) -> Returned {
    struct Restore(*const c_char);
    impl Drop for Restore {
        fn drop(&mut self) {
            OWN_SOURCE.set(self.0);
        }
    }
    let types: Vec<pg_sys::Oid> = args.iter().map(|a| a.typid).collect();
    let values: Vec<pg_sys::Datum> = args.iter().map(|a| a.value.unwrap_or(pg_sys::Datum::from(0usize))).collect();
    let nulls: Vec<c_char> = args.iter().map(|a| if a.value.is_some() { b' ' as c_char } else { b'n' as c_char }).collect();
    pgrx::spi::Spi::connect(|_client| {
        let _restore = Restore(OWN_SOURCE.get());
        OWN_SOURCE.set(sql.as_ptr());
        // SAFETY: SPI is connected; the argument arrays outlive the call; the result table is read
        // before SPI is finished.
        unsafe {
            let rc = if latest {
                let plan = pg_sys::SPI_prepare(sql.as_ptr(), args.len() as i32, types.as_ptr() as *mut pg_sys::Oid);
                if plan.is_null() {
                    crate::reasons::internal_failure("an undo statement", "it could not be prepared");
                }
                // Not read-only: the snapshot is copied and sees this transaction's own writes so far.
                let now = pg_sys::GetLatestSnapshot();
                pg_sys::SPI_execute_snapshot(plan, values.as_ptr() as *mut pg_sys::Datum, nulls.as_ptr(), now, std::ptr::null_mut(), false, false, 0)
            } else {
                pg_sys::SPI_execute_with_args(
                    sql.as_ptr(),
                    args.len() as i32,
                    types.as_ptr() as *mut pg_sys::Oid,
                    values.as_ptr() as *mut pg_sys::Datum,
                    nulls.as_ptr(),
                    false,
                    0,
                )
            };
            if rc < 0 {
                crate::reasons::internal_failure("an undo statement", &format!("SPI error code {rc}"));
            }
            let processed = pg_sys::SPI_processed;
            let table = pg_sys::SPI_tuptable;
            let mut rows = Vec::new();
            if !table.is_null() {
                let natts = (*(*table).tupdesc).natts;
                for i in 0..processed as usize {
                    let tuple = *(*table).vals.add(i);
                    let row = (1..=natts).map(|col| crate::nodes::cstr(pg_sys::SPI_getvalue(tuple, (*table).tupdesc, col))).collect();
                    rows.push(row);
                }
            }
            Returned { rows }
        }
    })
}
