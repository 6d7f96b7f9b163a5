//! Native functions whose call changes the database or the server even inside a read-only
//! transaction, or that core's read-only transactions do not refuse (see shared/postgres-notes.md).
//! Matched on C/internal functions only, by name and by what they run (`prosrc`: a builtin's own
//! name, or its `be_…`/`…_oid` symbol, declared under another name is the same function): a user's
//! SQL or PL function of the same name is judged by the statements it runs.

use crate::ReasonCode;

const SEQUENCE: &[&str] = &["nextval", "setval", "nextval_oid", "setval_oid", "setval3_oid"];

/// Large-object functions that write (or export). `lo_open` is not here: opening changes nothing,
/// and a descriptor opened for writing writes only through `lowrite`/`lo_truncate`, refused here.
/// A constant `INV_WRITE` mode is refused where the plan shows it (`facts/plan.rs`).
const LARGE_OBJECT: &[&str] = &[
    "lo_creat", "lo_create", "lo_import", "lo_export", "lo_unlink", "lo_put", "lo_from_bytea",
    "lo_truncate", "lo_truncate64", "lowrite", "be_lo_creat", "be_lo_create", "be_lo_import", "be_lo_import_with_oid",
    "be_lo_export", "be_lo_unlink", "be_lo_put", "be_lo_from_bytea", "be_lo_truncate", "be_lo_truncate64", "be_lowrite",
];

const SERVER_ADMIN: &[&str] = &[
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
    "pg_rotate_logfile_old", "pg_switch_wal", "pg_switch_xlog", "pg_create_restore_point",
    "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_promote",
    "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot", "pg_drop_replication_slot", "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot", "pg_replication_slot_advance", "pg_logical_slot_get_changes",
    "pg_logical_slot_get_binary_changes", "pg_logical_emit_message", "pg_replication_origin_create",
    "pg_replication_origin_drop", "pg_replication_origin_advance", "pg_replication_origin_session_setup",
    "pg_replication_origin_session_reset", "pg_replication_origin_xact_setup",
    "pg_replication_origin_xact_reset", "pg_sync_replication_slots", "pg_log_standby_snapshot",
    "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
    "pg_stat_reset_subscription_stats", "pg_stat_statements_reset", "pg_import_system_collations",
    "pg_log_backend_memory_contexts", "pg_truncate_visibility_map", "pg_restore_relation_stats",
    "pg_restore_attribute_stats", "pg_clear_relation_stats", "pg_clear_attribute_stats", "pg_stat_reset_backend_stats",
    "binary_upgrade_add_sub_rel_state", "binary_upgrade_replorigin_advance", "autoprewarm_start_worker",
];

/// Index maintenance a read-only transaction does not stop: it writes the index's pages (and WAL).
const INDEX_MAINTENANCE: &[&str] = &["brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range", "gin_clean_pending_list"];

/// `pg_surgery`: rows killed or frozen on their pages, past every trigger and read-only check.
const HEAP_SURGERY: &[&str] = &["heap_force_kill", "heap_force_freeze"];

const SERVER_FILE: &[&str] = &["pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync", "autoprewarm_dump_now"];

const ADVISORY_LOCK: &[&str] = &[
    "pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock", "pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
];

const NOTIFY: &[&str] = &["pg_notify"];

const REMOTE: &[&str] =
    &["dblink", "dblink_record", "dblink_exec", "dblink_open", "dblink_send_query", "dblink_connect", "dblink_connect_u"];

const TABLE: &[(&[&str], ReasonCode)] = &[
    (SEQUENCE, ReasonCode::ReadonlySequence),
    (LARGE_OBJECT, ReasonCode::ReadonlyLargeObject),
    (SERVER_ADMIN, ReasonCode::ReadonlyServerAdmin),
    (INDEX_MAINTENANCE, ReasonCode::ReadonlyMaintenance),
    (HEAP_SURGERY, ReasonCode::ReadonlyDml),
    (SERVER_FILE, ReasonCode::ReadonlyServerFile),
    (ADVISORY_LOCK, ReasonCode::ReadonlyAdvisoryLock),
    (NOTIFY, ReasonCode::ReadonlyNotify),
    (REMOTE, ReasonCode::ReadonlyRemote),
];

/// Whether a native function acts outside the database's transaction, so a rolled-back simulation
/// could not undo it: other sessions and the server, server files, other servers, session locks.
pub fn irreversible(name: &str) -> bool {
    matches!(
        side_effect(name),
        Some(ReasonCode::ReadonlyServerAdmin | ReasonCode::ReadonlyServerFile | ReasonCode::ReadonlyAdvisoryLock | ReasonCode::ReadonlyRemote)
    ) || matches!(name, "lo_import" | "lo_export" | "be_lo_import" | "be_lo_import_with_oid" | "be_lo_export")
        // a sequence set back stays set back after the simulation's rollback
        || matches!(name, "setval" | "setval_oid" | "setval3_oid")
}

/// Guarded mode's refusal of a native function, if any, with why (for `guarded.not_reversible`):
/// what undo cannot record (large objects, no row trigger sees `pg_largeobject`; other servers;
/// server files; a sequence set back) is not reversible; what acts on the server or on other sessions
/// is `guarded.server_admin`. Guarded mode allows what stays in its own session and moves nothing
/// back: `nextval`, advisory locks (its own), `pg_cancel_backend`/`pg_terminate_backend` of its own
/// backend (decided from the call's argument by the extension).
pub fn guarded_refusal(name: &str) -> Option<(ReasonCode, Option<&'static str>)> {
    if matches!(name, "setval" | "setval_oid" | "setval3_oid") {
        return Some((ReasonCode::GuardedNotReversible, Some(crate::guarded::SEQUENCE_SET)));
    }
    match side_effect(name)? {
        ReasonCode::ReadonlyLargeObject => Some((ReasonCode::GuardedNotReversible, Some("large-object writes are not recorded for undo"))),
        ReasonCode::ReadonlyRemote => Some((ReasonCode::GuardedNotReversible, Some("it writes through a connection to another server"))),
        ReasonCode::ReadonlyServerFile => Some((ReasonCode::GuardedNotReversible, Some("it writes a file on the database server"))),
        ReasonCode::ReadonlyServerAdmin | ReasonCode::ReadonlyNotify => Some((ReasonCode::GuardedServerAdmin, None)),
        ReasonCode::ReadonlyDml => Some((ReasonCode::GuardedNotReversible, Some("it changes rows on their pages, past the recording trigger"))),
        _ => None,
    }
}

/// Functions that signal a backend, allowed in guarded mode when it is the session's own.
pub fn signals_backend(name: &str) -> bool {
    matches!(name, "pg_cancel_backend" | "pg_terminate_backend")
}

/// Whether calling it advances or sets a sequence (not undone by a rollback).
pub fn moves_sequence(name: &str) -> bool {
    SEQUENCE.contains(&name)
}

/// The readonly reason a native function with this name is refused for, if any.
pub fn side_effect(name: &str) -> Option<ReasonCode> {
    TABLE.iter().find(|(names, _)| names.contains(&name)).map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_side_effects() {
        assert_eq!(side_effect("nextval"), Some(ReasonCode::ReadonlySequence));
        assert_eq!(side_effect("lo_export"), Some(ReasonCode::ReadonlyLargeObject));
        assert_eq!(side_effect("pg_terminate_backend"), Some(ReasonCode::ReadonlyServerAdmin));
        assert_eq!(side_effect("dblink_exec"), Some(ReasonCode::ReadonlyRemote));
        assert_eq!(side_effect("pg_try_advisory_xact_lock"), Some(ReasonCode::ReadonlyAdvisoryLock));
        assert_eq!(side_effect("gin_clean_pending_list"), Some(ReasonCode::ReadonlyMaintenance));
        assert_eq!(side_effect("heap_force_kill"), Some(ReasonCode::ReadonlyDml));
        assert_eq!(guarded_refusal("heap_force_freeze").map(|(c, _)| c), Some(ReasonCode::GuardedNotReversible));
        assert_eq!(guarded_refusal("brin_summarize_range"), None, "index maintenance changes no row");
        assert!(irreversible("setval") && irreversible("setval3_oid"), "a simulation's rollback does not set a sequence back");
    }

    #[test]
    fn reads_are_not_side_effects() {
        for f in ["currval", "lastval", "lo_get", "loread", "pg_sleep", "set_config", "now", "pg_advisory_unlock"] {
            assert_eq!(side_effect(f), None, "{f}");
        }
    }

    #[test]
    fn no_name_is_listed_twice() {
        let mut all: Vec<&str> = TABLE.iter().flat_map(|(n, _)| n.iter().copied()).collect();
        let before = all.len();
        all.sort();
        all.dedup();
        assert_eq!(before, all.len());
    }
}
