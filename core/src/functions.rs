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
    "pg_copy_logical_replication_slot", "pg_copy_physical_replication_slot_a", "pg_copy_physical_replication_slot_b",
    "pg_copy_logical_replication_slot_a", "pg_copy_logical_replication_slot_b", "pg_copy_logical_replication_slot_c",
    "pg_replication_slot_advance", "pg_logical_slot_get_changes",
    "pg_logical_slot_get_binary_changes", "pg_logical_slot_peek_changes", "pg_logical_slot_peek_binary_changes",
    "pg_logical_emit_message", "pg_logical_emit_message_text", "pg_logical_emit_message_bytea", "pg_replication_origin_create",
    "pg_replication_origin_drop", "pg_replication_origin_advance", "pg_replication_origin_session_setup",
    "pg_replication_origin_session_reset", "pg_replication_origin_xact_setup",
    "pg_replication_origin_xact_reset", "pg_sync_replication_slots", "pg_log_standby_snapshot",
    "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
    "pg_stat_reset_subscription_stats", "pg_stat_statements_reset", "pg_stat_statements_reset_1_7", "pg_stat_statements_reset_1_11", "pg_import_system_collations",
    "pg_log_backend_memory_contexts", "pg_truncate_visibility_map", "pg_restore_relation_stats",
    "pg_restore_attribute_stats", "pg_clear_relation_stats", "pg_clear_attribute_stats", "pg_stat_reset_backend_stats",
    "binary_upgrade_add_sub_rel_state", "binary_upgrade_replorigin_advance", "autoprewarm_start_worker",
    "pg_logfile_rotate", "pg_rotate_logfile_v2", "pg_buffercache_evict", "pg_buffercache_evict_relation",
    "pg_buffercache_evict_all",
];

/// Counters of the whole cluster a call draws from: a transaction id assigned (`txid_current` is
/// declared STABLE, yet assigns one), an OID. Readonly sessions draw neither; guarded writes do anyway.
const CLUSTER_COUNTER: &[&str] = &["txid_current", "pg_current_xact_id", "pg_nextoid"];

/// Index maintenance a read-only transaction does not stop: it writes the index's pages (and WAL).
const INDEX_MAINTENANCE: &[&str] = &["brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range", "gin_clean_pending_list"];

/// `pg_surgery`: rows killed or frozen on their pages, past every trigger and read-only check.
const HEAP_SURGERY: &[&str] = &["heap_force_kill", "heap_force_freeze"];

const SERVER_FILE: &[&str] =
    &["pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync", "pg_file_write_v1_1", "pg_file_rename_v1_1",
      "pg_file_unlink_v1_1", "autoprewarm_dump_now", "pg_export_snapshot"];

/// By name and by what they run (each name runs an `_int4` and an `_int8` builtin).
const ADVISORY_LOCK: &[&str] = &[
    "pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock", "pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared", "pg_advisory_lock_int4", "pg_advisory_lock_int8", "pg_advisory_lock_shared_int4",
    "pg_advisory_lock_shared_int8", "pg_advisory_xact_lock_int4", "pg_advisory_xact_lock_int8",
    "pg_advisory_xact_lock_shared_int4", "pg_advisory_xact_lock_shared_int8", "pg_try_advisory_lock_int4",
    "pg_try_advisory_lock_int8", "pg_try_advisory_lock_shared_int4", "pg_try_advisory_lock_shared_int8",
    "pg_try_advisory_xact_lock_int4", "pg_try_advisory_xact_lock_int8", "pg_try_advisory_xact_lock_shared_int4",
    "pg_try_advisory_xact_lock_shared_int8",
];

const NOTIFY: &[&str] = &["pg_notify"];

const REMOTE: &[&str] =
    &["dblink", "dblink_record", "dblink_exec", "dblink_open", "dblink_send_query", "dblink_connect", "dblink_connect_u"];

const TABLE: &[(&[&str], ReasonCode)] = &[
    (SEQUENCE, ReasonCode::ReadonlySequence),
    (LARGE_OBJECT, ReasonCode::ReadonlyLargeObject),
    (SERVER_ADMIN, ReasonCode::ReadonlyServerAdmin),
    (CLUSTER_COUNTER, ReasonCode::ReadonlyServerAdmin),
    (INDEX_MAINTENANCE, ReasonCode::ReadonlyMaintenance),
    (HEAP_SURGERY, ReasonCode::ReadonlyDml),
    (SERVER_FILE, ReasonCode::ReadonlyServerFile),
    (ADVISORY_LOCK, ReasonCode::ReadonlyAdvisoryLock),
    (NOTIFY, ReasonCode::ReadonlyNotify),
    (REMOTE, ReasonCode::ReadonlyRemote),
];

/// Volatile native functions known to change nothing but the session's own state, by what they run
/// (`prosrc`, which for most is the name): reads of the database, of the server's state and files,
/// the clock and randomness, and the session's own cursors, settings (the settings hooks judge those),
/// random seed and advisory locks released. The lists above name what is known to change something;
/// this one is the other half: a volatile native function on neither is refused
/// ([`unknown`]), since Postgres' own VOLATILE says it may change something. Functions returning
/// `trigger` are not here: triggers fire without the function-execute hook.
const CHANGES_NOTHING: &[&str] = &[
    // the clock, randomness, the session's own state
    "clock_timestamp", "timeofday", "pg_sleep", "drandom", "drandom_normal", "int4random", "int8random", "numeric_random",
    "setseed", "gen_random_uuid", "uuidv7", "uuidv7_interval", "array_sample", "array_shuffle", "current_query",
    "set_config_by_name", "pg_stat_clear_snapshot", "pg_stat_force_next_flush", "currval_oid", "lastval",
    "pg_advisory_unlock_int4", "pg_advisory_unlock_int8", "pg_advisory_unlock_shared_int4",
    "pg_advisory_unlock_shared_int8", "pg_advisory_unlock_all",
    // statements run through SPI, each judged as it runs; a cursor of the session's own
    "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
    "ts_stat1", "ts_stat2", "tsquery_rewrite_query",
    // reads of the database
    "currtid_byrelname", "pg_sequence_last_value", "pg_get_sequence_data", "pg_partition_tree", "pg_partition_ancestors",
    "pg_relation_size", "pg_table_size", "pg_indexes_size", "pg_total_relation_size", "pg_database_size_name",
    "pg_database_size_oid", "pg_tablespace_size_name", "pg_tablespace_size_oid", "pg_collation_actual_version",
    "pg_database_collation_actual_version", "amvalidate", "be_lo_open", "be_lo_close", "be_loread", "be_lo_get",
    "be_lo_get_fragment", "be_lo_lseek", "be_lo_lseek64", "be_lo_tell", "be_lo_tell64", "pg_xact_commit_timestamp",
    "pg_xact_commit_timestamp_origin", "pg_xact_status", "pg_last_committed_xact", "pg_get_multixact_members",
    // reads of the server's state
    "pg_lock_status", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids", "pg_isolation_test_session_is_blocked",
    "pg_prepared_xact", "pg_notification_queue_usage", "pg_get_backend_memory_contexts", "pg_get_shmem_allocations",
    "pg_get_shmem_allocations_numa", "pg_get_aios", "pg_get_loaded_modules", "pg_get_wait_events", "pg_jit_available",
    "pg_is_in_recovery", "pg_is_wal_replay_paused", "pg_get_wal_replay_pause_state", "pg_get_wal_resource_managers",
    "pg_get_wal_summarizer_state", "pg_available_wal_summaries", "pg_wal_summary_contents", "pg_current_wal_lsn",
    "pg_current_wal_insert_lsn", "pg_current_wal_flush_lsn", "pg_last_wal_receive_lsn", "pg_last_wal_replay_lsn",
    "pg_last_xact_replay_timestamp", "pg_control_checkpoint", "pg_control_init", "pg_control_recovery",
    "pg_control_system", "pg_show_replication_origin_status", "pg_replication_origin_session_is_setup",
    "pg_stat_get_backend_io", "pg_stat_get_backend_wal", "pg_stat_get_io", "pg_stat_get_recovery_prefetch",
    "pg_stat_have_stats", "pg_stat_get_xact_blocks_fetched", "pg_stat_get_xact_blocks_hit",
    "pg_stat_get_xact_function_calls", "pg_stat_get_xact_function_self_time", "pg_stat_get_xact_function_total_time",
    "pg_stat_get_xact_numscans", "pg_stat_get_xact_tuples_deleted", "pg_stat_get_xact_tuples_fetched",
    "pg_stat_get_xact_tuples_hot_updated", "pg_stat_get_xact_tuples_inserted", "pg_stat_get_xact_tuples_newpage_updated",
    "pg_stat_get_xact_tuples_returned", "pg_stat_get_xact_tuples_updated",
    // reads of the server's files
    "pg_read_file", "pg_read_file_v2", "pg_read_file_all", "pg_read_file_all_missing", "pg_read_file_off_len",
    "pg_read_file_off_len_missing", "pg_read_binary_file", "pg_read_binary_file_all", "pg_read_binary_file_all_missing",
    "pg_read_binary_file_off_len", "pg_read_binary_file_off_len_missing", "pg_stat_file", "pg_stat_file_1arg",
    "pg_ls_dir", "pg_ls_dir_1arg", "pg_ls_logdir", "pg_ls_waldir", "pg_ls_archive_statusdir", "pg_ls_tmpdir_noargs",
    "pg_ls_tmpdir_1arg", "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir", "pg_ls_replslotdir", "pg_ls_summariesdir",
    "pg_current_logfile", "pg_current_logfile_1arg", "show_all_file_settings", "pg_hba_file_rules",
    "pg_ident_file_mappings", "pg_logdir_ls_v1_1",
    // contrib: page, index and WAL inspection (amcheck, pageinspect, pg_buffercache's reads, pg_freespacemap,
    // pg_visibility's reads, pgrowlocks, pgstattuple, pg_walinspect, pg_logicalinspect), pg_prewarm's read
    "bt_index_check", "bt_index_parent_check", "gin_index_check", "verify_heapam", "brin_metapage_info",
    "brin_page_items", "brin_page_type", "brin_revmap_data", "bt_metap", "bt_multi_page_stats", "bt_page_items",
    "bt_page_items_1_9", "bt_page_items_bytea", "bt_page_stats", "bt_page_stats_1_9", "fsm_page_contents",
    "get_raw_page", "get_raw_page_fork", "get_raw_page_1_9", "get_raw_page_fork_1_9", "gin_leafpage_items",
    "gin_metapage_info", "gin_page_opaque_info", "gist_page_items", "gist_page_items_bytea", "gist_page_opaque_info",
    "hash_bitmap_info", "hash_metapage_info", "hash_page_items", "hash_page_stats", "hash_page_type", "heap_page_items",
    "heap_tuple_infomask_flags", "page_checksum", "page_checksum_1_9", "page_header", "tuple_data_split",
    "pg_buffercache_pages", "pg_buffercache_summary", "pg_buffercache_usage_counts", "pg_buffercache_numa_pages",
    "pg_freespace", "pg_check_frozen", "pg_check_visible", "pg_visibility", "pg_visibility_rel", "pg_visibility_map",
    "pg_visibility_map_rel", "pg_visibility_map_summary", "pgrowlocks", "pg_relpages", "pg_relpages_v1_5",
    "pg_relpagesbyid", "pg_relpagesbyid_v1_5", "pgstatginindex", "pgstatginindex_v1_5", "pgstathashindex", "pgstatindex",
    "pgstatindex_v1_5", "pgstatindexbyid", "pgstatindexbyid_v1_5", "pgstattuple", "pgstattuple_v1_5", "pgstattuplebyid",
    "pgstattuplebyid_v1_5", "pgstattuple_approx", "pgstattuple_approx_v1_5", "pg_get_wal_block_info",
    "pg_get_wal_record_info", "pg_get_wal_records_info", "pg_get_wal_records_info_till_end_of_wal", "pg_get_wal_stats",
    "pg_get_wal_stats_till_end_of_wal", "pg_get_logical_snapshot_info", "pg_get_logical_snapshot_meta", "pg_prewarm",
    // contrib: statistics read, randomness, session settings, the session's own remote connections closed
    "pg_stat_statements", "pg_stat_statements_1_2", "pg_stat_statements_1_3", "pg_stat_statements_1_8",
    "pg_stat_statements_1_9", "pg_stat_statements_1_10", "pg_stat_statements_1_11", "pg_stat_statements_1_12",
    "pg_stat_statements_info", "pg_random_bytes", "pg_random_uuid", "pg_gen_salt", "pg_gen_salt_rounds",
    "pgp_sym_encrypt_text", "pgp_sym_encrypt_bytea", "pgp_pub_encrypt_text", "pgp_pub_encrypt_bytea",
    "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "normal_rand", "set_limit", "accept_weak_input",
    "array_agg_finalfn", "ssl_cipher", "ssl_client_cert_present", "ssl_client_dn", "ssl_client_dn_field",
    "ssl_client_serial", "ssl_extension_info", "ssl_is_used", "ssl_issuer_dn", "ssl_issuer_field", "ssl_version",
    "xslt_process", "postgres_fdw_disconnect", "postgres_fdw_disconnect_all", "postgres_fdw_get_connections",
    "postgres_fdw_get_connections_1_2", "dblink_build_sql_insert", "dblink_build_sql_update", "dblink_build_sql_delete",
    "dblink_current_query", "dblink_error_message", "dblink_get_connections", "dblink_get_pkey", "dblink_is_busy",
    "dblink_disconnect",
];

/// Whether a native function is refused for being unknown: declared VOLATILE, on no list of what
/// changes something (those are refused for what they do) and not known to change nothing. `runs`
/// is what it runs (`prosrc`).
pub fn unknown(runs: &str, volatile: bool) -> bool {
    volatile && side_effect(runs).is_none() && !CHANGES_NOTHING.contains(&runs)
}

/// The arguments that name a server file, by position, of a native function that writes, renames or
/// removes one: where guarded mode lets such a function run (an operator's approval, a policy's
/// `non_reversible: allow`), each must be a constant of the statement naming no file of the
/// server's own (`guarded::server_file_write`). adminpack's `pg_file_*` (13–16) resolve a relative
/// name in the data directory, `lo_export` in the server's working directory (the same).
pub fn path_arguments(runs: &str) -> Option<&'static [usize]> {
    match runs {
        "lo_export" | "be_lo_export" => Some(&[1]),
        "pg_file_write" | "pg_file_write_v1_1" | "pg_file_unlink" | "pg_file_unlink_v1_1" => Some(&[0]),
        "pg_file_rename" | "pg_file_rename_v1_1" => Some(&[0, 1, 2]),
        _ => None,
    }
}

/// Whether a native function acts outside the database's transaction, so a rolled-back simulation
/// could not undo it: other sessions and the server, server files, other servers, session locks.
pub fn irreversible(name: &str) -> bool {
    matches!(
        side_effect(name),
        Some(ReasonCode::ReadonlyServerAdmin | ReasonCode::ReadonlyServerFile | ReasonCode::ReadonlyAdvisoryLock | ReasonCode::ReadonlyRemote)
    ) || matches!(name, "lo_import" | "lo_export" | "be_lo_import" | "be_lo_import_with_oid" | "be_lo_export")
        // a sequence set back stays set back after the simulation's rollback
        || matches!(name, "setval" | "setval_oid" | "setval3_oid")
        // rows killed or frozen on their pages stay so (no transaction undoes pg_surgery)
        || HEAP_SURGERY.contains(&name)
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
    if CLUSTER_COUNTER.contains(&name) {
        return None; // a guarded write draws a transaction id anyway
    }
    match side_effect(name)? {
        ReasonCode::ReadonlyLargeObject => Some((ReasonCode::GuardedNotReversible, Some("large-object writes are not recorded for undo"))),
        // A connection runs SQL as whatever role it logs in as, on any server — this one included,
        // as its DBA (a superuser's dblink needs no password): nothing of it is guarded or recorded.
        ReasonCode::ReadonlyRemote => Some((ReasonCode::GuardedUntrustedCode, Some("it runs SQL through a connection to a server, this one included, as a role no guard sees"))),
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
    fn volatile_and_unknown_is_refused() {
        assert!(unknown("pg_extension_config_dump", true));
        assert!(!unknown("pg_extension_config_dump", false), "STABLE is Postgres' word that it changes nothing");
        assert!(!unknown("drandom", true) && !unknown("pg_read_file_all", true) && !unknown("pg_stat_statements_1_12", true));
        assert!(!unknown("pg_reload_conf", true), "listed: refused for what it does, not as unknown");
        assert_eq!(side_effect("pg_buffercache_evict_all"), Some(ReasonCode::ReadonlyServerAdmin));
        assert_eq!(side_effect("txid_current"), Some(ReasonCode::ReadonlyServerAdmin));
        assert_eq!(guarded_refusal("txid_current"), None, "a guarded write draws a transaction id anyway");
    }

    #[test]
    fn no_name_is_listed_twice() {
        // and none both known to change something and known to change nothing
        let mut all: Vec<&str> = TABLE.iter().flat_map(|(n, _)| n.iter().copied()).chain(CHANGES_NOTHING.iter().copied()).collect();
        let before = all.len();
        all.sort();
        all.dedup();
        assert_eq!(before, all.len());
    }
}
