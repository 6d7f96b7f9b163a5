//! `ProcessUtility_hook`: every utility statement, top level and nested (`context` is QUERY inside
//! functions and `DO`). `EXPLAIN`, `COPY (query)`, `CREATE TABLE AS`, `DECLARE CURSOR` and `EXECUTE`
//! come here first and then run their query through the executor hook.

use crate::cell::BackendCell;
use crate::facts::utility::{utility_facts, utility_tables};
use crate::rows::{self, Depth};
use interdict_core::{decide_simulated, decide_utility, Mode};
use pgrx::pg_sys;
use std::ffi::c_char;

static PREV: BackendCell<pg_sys::ProcessUtility_hook_type> = BackendCell::new(None);

pub fn register() {
    // SAFETY: called once per process from _PG_init; we keep the previous hook and chain to it.
    unsafe {
        PREV.set(pg_sys::ProcessUtility_hook);
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

/// Decide, then chain. Returns the depth marker while rows are counted: statements this one runs
/// (`EXECUTE`, `DO`, `CALL`, `EXPLAIN ANALYZE`, `COPY (query)`) count toward it.
unsafe fn guard(pstmt: *mut pg_sys::PlannedStmt, query_string: *const c_char, params: pg_sys::ParamListInfo) -> Option<Depth> {
    let mode = super::agent_mode();
    let counting = super::counting_rows();
    if counting {
        rows::begin_if_top_level(query_string, pstmt, params);
    }
    if let Some(mode) = mode {
        let facts = utility_facts((*pstmt).utilityStmt, mode == Mode::Guarded);
        if rows::simulating() {
            super::enforce(decide_simulated(mode, Some(&facts), None));
        }
        super::enforce_on(decide_utility(&super::settings_for(mode), &facts), || utility_tables((*pstmt).utilityStmt).0);
        super::enforce_table_rules(mode, || utility_tables((*pstmt).utilityStmt));
        if mode == Mode::Guarded {
            crate::undo::check_writes(copy_from_target((*pstmt).utilityStmt).into_iter());
        }
    }
    counting.then(Depth::enter)
}

/// The table `COPY … FROM` loads, if this is one (its rows reach no ModifyTable node).
unsafe fn copy_from_target(node: *mut pg_sys::Node) -> Option<pg_sys::Oid> {
    if !crate::nodes::is_a(node, pg_sys::NodeTag::T_CopyStmt) {
        return None;
    }
    let copy = node as *mut pg_sys::CopyStmt;
    if !(*copy).is_from || (*copy).relation.is_null() {
        return None;
    }
    let relid = pg_sys::RangeVarGetRelidExtended((*copy).relation, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut());
    (relid != pg_sys::InvalidOid).then_some(relid)
}

/// After the statement: a top-level utility statement's recorded rows (COPY FROM, CALL, DO,
/// EXECUTE, EXPLAIN ANALYZE) become its change.
fn after(depth: Option<Depth>) {
    crate::ceilings::statement_ended();
    let counting = depth.is_some();
    drop(depth);
    if counting && rows::at_top_level() {
        crate::undo::flush(false);
    }
}

#[cfg(not(feature = "pg13"))]
#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments, reason = "the hook's signature is Postgres'")]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    let depth = guard(pstmt, query_string, params);
    match PREV.get() {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| {
            prev(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc)
        }),
        None => pg_sys::standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
    }
    after(depth);
}

#[cfg(feature = "pg13")]
#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments, reason = "the hook's signature is Postgres'")]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    let depth = guard(pstmt, query_string, params);
    match PREV.get() {
        Some(prev) => pg_sys::ffi::pg_guard_ffi_boundary(|| prev(pstmt, query_string, context, params, query_env, dest, qc)),
        None => pg_sys::standard_ProcessUtility(pstmt, query_string, context, params, query_env, dest, qc),
    }
    after(depth);
}
