//! The session's start: where the lock closes. The first statement a session runs, or the first
//! function it calls or name it resolves (the fastpath protocol calls a function with no statement
//! around it), locks every interdict setting (see `settings/`); a parallel worker locks as its
//! leader did. If the library was loaded after the role's settings were
//! applied (`session_preload_libraries`, `LOAD`), Postgres handed us only the winning value of each
//! setting, so a client's startup option could have hidden the DBA's value: in that case the DBA's
//! values are read from `pg_db_role_setting` before locking.

use crate::cell::BackendCell;
use crate::settings;
use interdict_core::lock::Source;
use interdict_core::Mode;
use pgrx::pg_sys;

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

struct Reentry;
impl Drop for Reentry {
    fn drop(&mut self) {
        LOCKING.set(false);
    }
}

/// Locks the settings if the session has not started yet. Cheap after the first statement.
#[inline]
pub fn ensure_locked() {
    if settings::is_locked() || LOCKING.get() {
        return;
    }
    lock_session();
}

#[cold]
fn lock_session() {
    // SAFETY: reads of process globals and transaction state.
    // Never during connection setup (`InitPostgres`, before `PostgresMain` enters normal processing):
    // a client option whose check looks a name up (default_text_search_config) reaches the
    // object-access hook there, before the client's other options and the role's and database's
    // settings are in; the first statement, or fast-path call, locks. A parallel worker locks once it
    // has its leader's settings (`RestoreGUCState`, late in its start).
    let ready = unsafe {
        pg_sys::Mode == pg_sys::ProcessingMode::NormalProcessing
            && pg_sys::IsTransactionState()
            && !pg_sys::IsAbortedTransactionBlockState()
            && !pg_sys::InitializingParallelWorker
    };
    if !ready {
        return; // the next statement in a usable transaction locks
    }
    LOCKING.set(true);
    let _reentry = Reentry;
    // Whenever a client gave interdict values at connect, the lock reads the DBA's from the catalog
    // and the server's files and takes them as floors: a client's value outranks the role's and the
    // database's (Postgres applies theirs beneath it), and loaded late, or in a parallel worker (which
    // gets only the winning value of each setting from its leader), the DBA's are not in force.
    if settings::client_set_any() {
        read_dba_values();
    }
    settings::lock_all();
    crate::policy::lock(); // the role's policy rule, folded into the settings (tighter wins)
    crate::audit::note_session(); // names for audit lines written outside a transaction
    if settings::mode() != Mode::Off {
        // SAFETY: a plain read of a process global, set once the user logged in.
        crate::messages::note_log_role(unsafe { pg_sys::GetAuthenticatedUserId() }); // the role's log budget
    }
}

/// Feeds every interdict value a DBA stored for this database and the user who logged in into the
/// lock. (The user who logged in, not the session user: a parallel worker of a superuser agent
/// that ran `SET SESSION AUTHORIZATION` starts as that other role.)
///
/// Read from `pg_db_role_setting` directly (a catalog scan, no SQL): nothing the session can
/// create or set resolves here, and a failure is an error, never an empty result (which would let
/// a client's value stand in for the DBA's).
fn read_dba_values() {
    // SAFETY: plain reads of process globals.
    let (db, role) = unsafe { (pg_sys::MyDatabaseId, pg_sys::GetAuthenticatedUserId()) };
    // SAFETY: a catalog scan inside a transaction (checked by the caller); each tuple is deformed
    // and its array copied before the scan moves on.
    // SAFETY: the server's own configuration files, parsed as it parses them, inside a transaction.
    let entries = unsafe { file_settings(|n| n.starts_with("interdict.")).into_iter().chain(stored_settings(db, role)) };
    for (source, setting) in entries {
        let Some((name, value)) = setting.split_once('=') else { continue };
        if settings::LOCKED_SETTINGS.contains(&name) {
            settings::record_dba_value(name, source, value);
        }
    }
}

/// The values a DBA set for setting `name` in the server's files and for this database and session
/// user, with their sources (for `server_settings`' floors, when a client's startup value stands in
/// for them).
pub fn dba_values(name: &str) -> Vec<(Source, String)> {
    // SAFETY: plain reads of process globals; a catalog scan inside a transaction (the lock runs in one).
    let entries = unsafe {
        if !pg_sys::IsTransactionState() {
            return Vec::new();
        }
        file_settings(|n| n == name).into_iter().chain(stored_settings(pg_sys::MyDatabaseId, pg_sys::GetAuthenticatedUserId()))
    };
    entries
        .into_iter()
        .filter_map(|(source, setting)| setting.split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| (source, v.to_string())))
        .collect()
}

/// The mode a DBA configured for sessions of `role` in this database, whatever their clients ask:
/// the server's files (read once per process), then `pg_db_role_setting` by rank, as the lock reads
/// them for the session's own role. A value that does not parse counts as readonly.
pub fn configured_mode_of(role: pg_sys::Oid) -> Mode {
    static SERVER: BackendCell<Option<Vec<(Source, String)>>> = BackendCell::new(None);
    // SAFETY: the server's files, parsed as it parses them; a catalog scan inside a transaction
    // (the caller checks).
    let server = SERVER.with(|files| files.get_or_insert_with(|| unsafe { file_settings(|n| n == "interdict.mode") }).clone());
    let stored = unsafe { stored_settings(pg_sys::MyDatabaseId, role) };
    let mut chosen: Option<(Source, String)> = None;
    for (source, setting) in server.into_iter().chain(stored) {
        let Some((name, value)) = setting.split_once('=') else { continue };
        if name.eq_ignore_ascii_case("interdict.mode") && chosen.as_ref().is_none_or(|(s, _)| source >= *s) {
            chosen = Some((source, value.to_string()));
        }
    }
    chosen.map_or(Mode::Off, |(_, value)| Mode::parse(&value).unwrap_or(Mode::Readonly))
}

/// The server's configuration files' values of the settings `wanted` names (lower case)
/// (`postgresql.conf` with what it includes, then `postgresql.auto.conf`: `ALTER SYSTEM`, then its
/// command line), in the order the server applies them. A client's startup value takes their place in the setting (with
/// the library loaded per session, before it is there to see them), so they are read again here,
/// as the catalog's are.
unsafe fn file_settings(wanted: impl Fn(&str) -> bool) -> Vec<(Source, String)> {
    let mut out = Vec::new();
    for file in [pg_sys::ConfigFileName as *const std::ffi::c_char, c"postgresql.auto.conf".as_ptr()] {
        if file.is_null() || pg_sys::DataDir.is_null() {
            continue;
        }
        let (mut head, mut tail) = (std::ptr::null_mut(), std::ptr::null_mut());
        // A relative name is the data directory's; a file that cannot be read gives what was read.
        pg_sys::ParseConfigFile(file, false, std::ptr::null(), 0, 0, pg_sys::DEBUG1 as i32, &mut head, &mut tail);
        let mut item = head;
        while !item.is_null() {
            if let (Some(name), Some(value)) = (crate::nodes::cstr((*item).name), crate::nodes::cstr((*item).value)) {
                if wanted(&name.to_ascii_lowercase()) {
                    out.push((Source::Server, format!("{}={value}", name.to_ascii_lowercase())));
                }
            }
            item = (*item).next;
        }
        pg_sys::FreeConfigVariables(head);
    }
    out.extend(command_line_settings(&wanted));
    out
}

/// The server's command line's settings (`-c name=value`, `--name=value`: `pg_ctl -o`, a service's
/// or a container's arguments), which override its files: from `/proc/<postmaster>/cmdline`, else
/// the `postmaster.opts` the server wrote at start.
unsafe fn command_line_settings(wanted: &impl Fn(&str) -> bool) -> Vec<(Source, String)> {
    let postmaster = pg_sys::PostmasterPid;
    let args: Vec<String> = match std::fs::read(format!("/proc/{postmaster}/cmdline")) {
        Ok(bytes) => bytes.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
        Err(_) => {
            let opts = crate::nodes::cstr(pg_sys::DataDir).map(|dir| std::fs::read_to_string(format!("{dir}/postmaster.opts")).unwrap_or_default());
            // `"/path/postgres" "-D" "…" "-c" "name=value"`: each argument in double quotes.
            opts.unwrap_or_default().split('"').skip(1).step_by(2).map(str::to_string).collect()
        }
    };
    let mut out = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let setting = match arg.as_str() {
            "-c" => args.next(),
            a if a.starts_with("--") => Some(a[2..].to_string()),
            a if a.starts_with("-c") => Some(a[2..].to_string()),
            _ => None,
        };
        if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            let name = name.to_ascii_lowercase().replace('-', "_"); // as `guc.c: ParseLongOption` reads it
            if wanted(&name) {
                out.push((Source::Server, format!("{name}={value}")));
            }
        }
    }
    out
}

/// `pg_db_role_setting`'s OID (`pg_db_role_setting.h`, stable since 9.0), which pgrx does not bind.
const DB_ROLE_SETTING_RELATION_ID: u32 = 2964;

/// `pg_db_role_setting` rows that apply to this session, each `name=value` with its source. Ranks
/// follow `postinit.c: process_settings`: role in database > role > database > all roles.
unsafe fn stored_settings(db: pg_sys::Oid, role: pg_sys::Oid) -> Vec<(Source, String)> {
    use pgrx::FromDatum;
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let rel = pg_sys::table_open(pg_sys::Oid::from(DB_ROLE_SETTING_RELATION_ID), lock);
    let scan = pg_sys::systable_beginscan(rel, pg_sys::InvalidOid, false, std::ptr::null_mut(), 0, std::ptr::null_mut());
    let mut out = Vec::new();
    loop {
        let tuple = pg_sys::systable_getnext(scan);
        if tuple.is_null() {
            break;
        }
        let mut values = [pg_sys::Datum::from(0usize); 3];
        let mut nulls = [true; 3];
        pg_sys::heap_deform_tuple(tuple, (*rel).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
        let (setdb, setrole) = (pg_sys::Oid::from(values[0].value() as u32), pg_sys::Oid::from(values[1].value() as u32));
        let source = match (setdb == db, setdb == pg_sys::InvalidOid, setrole == role, setrole == pg_sys::InvalidOid) {
            (true, _, true, _) => Source::RoleInDatabase,
            (_, true, true, _) => Source::Role,
            (true, _, _, true) => Source::Database,
            (_, true, _, true) => Source::Global,
            _ => continue,
        };
        let config = Vec::<Option<String>>::from_polymorphic_datum(values[2], nulls[2], pg_sys::TEXTARRAYOID).unwrap_or_default();
        out.extend(config.into_iter().flatten().map(|setting| (source, setting)));
    }
    pg_sys::systable_endscan(scan);
    pg_sys::table_close(rel, lock);
    out
}
