//! The session's start: where the lock closes. The first statement a session runs locks every
//! interdict setting (see `gucs.rs`). If the library was loaded after the role's settings were
//! applied (`session_preload_libraries`, `LOAD`), Postgres handed us only the winning value of each
//! setting, so a client's startup option could have hidden the DBA's value: in that case the DBA's
//! values are read from `pg_db_role_setting` before locking.

use crate::cell::BackendCell;
use crate::gucs;
use interdict_core::lock::Source;
use pgrx::pg_sys;
use pgrx::spi::Spi;

/// Whether `_PG_init` ran after the backend applied role and database settings.
static LOADED_LATE: BackendCell<bool> = BackendCell::new(false);
/// Set while the lock reads the catalog, so the hooks that query re-enters do not lock again.
static LOCKING: BackendCell<bool> = BackendCell::new(false);

/// Whether this is the first time the library initialises in this process. Loading the library
/// twice (from `$libdir` and from `$libdir/plugins`, say) must install the hooks once.
pub fn first_load() -> bool {
    // SAFETY: find_rendezvous_variable returns a process-wide slot shared by every loaded library.
    unsafe {
        let slot = pg_sys::find_rendezvous_variable(c"interdict.loaded".as_ptr());
        if !(*slot).is_null() {
            return false;
        }
        *slot = 1usize as *mut std::ffi::c_void;
    }
    true
}

/// Records how the library is being loaded; called from `_PG_init`.
pub fn note_load_time() {
    // SAFETY: plain reads of process globals.
    let late = unsafe { pg_sys::IsUnderPostmaster && !pg_sys::process_shared_preload_libraries_in_progress };
    LOADED_LATE.set(late);
}

struct Reentry;
impl Drop for Reentry {
    fn drop(&mut self) {
        LOCKING.set(false);
    }
}

/// Locks the settings if the session has not started yet. Cheap after the first statement.
#[inline]
pub fn ensure_locked() {
    if gucs::is_locked() || LOCKING.get() {
        return;
    }
    lock_session();
}

#[cold]
fn lock_session() {
    // SAFETY: reads of process globals and transaction state.
    let ready = unsafe {
        pg_sys::ParallelWorkerNumber < 0 && pg_sys::IsTransactionState() && !pg_sys::IsAbortedTransactionBlockState()
    };
    if !ready {
        return; // the next statement in a usable transaction locks
    }
    if LOADED_LATE.get() && gucs::client_set_any() {
        LOCKING.set(true);
        let _reentry = Reentry;
        read_dba_values();
    }
    gucs::lock_all();
    crate::policy::lock(); // the role's policy rule, folded into the settings (tighter wins)
    crate::audit::note_session(); // names for audit lines written outside a transaction
}

/// Feeds every interdict value a DBA stored for this database and session user into the lock.
fn read_dba_values() {
    // SAFETY: plain reads of process globals.
    let (db, role) = unsafe { (u32::from(pg_sys::MyDatabaseId), u32::from(pg_sys::GetSessionUserId())) };
    // Ranks follow `postinit.c: process_settings`: role in database > role > database > all roles.
    let query = format!(
        "SELECT pg_catalog.string_agg(rank || ' ' || cfg, E'\\n') FROM (
           SELECT CASE WHEN s.setdatabase <> 0 AND s.setrole <> 0 THEN 3 WHEN s.setrole <> 0 THEN 2
                       WHEN s.setdatabase <> 0 THEN 1 ELSE 0 END AS rank, c AS cfg
             FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) AS c
            WHERE s.setdatabase IN (0, {db}) AND s.setrole IN (0, {role}) AND c LIKE 'interdict.%') r"
    );
    let rows = Spi::get_one::<String>(&query).ok().flatten().unwrap_or_default();
    for line in rows.lines() {
        let Some((rank, setting)) = line.split_once(' ') else { continue };
        let Some((name, value)) = setting.split_once('=') else { continue };
        let source = match rank {
            "3" => Source::RoleInDatabase,
            "2" => Source::Role,
            "1" => Source::Database,
            _ => Source::Global,
        };
        if gucs::LOCKED_SETTINGS.contains(&name) {
            gucs::record_dba_value(name, source, value);
        }
    }
}
