//! `ProcessUtility_hook`: every utility statement, top level and nested (`context` is QUERY inside
//! functions and `DO`). `EXPLAIN`, `COPY (query)`, `CREATE TABLE AS`, `DECLARE CURSOR` and `EXECUTE`
//! come here first and then run their query through the executor hook.

use crate::cell::BackendCell;
use crate::chain;
use crate::facts::utility::{executed_utility, resolve, utility_facts, utility_tables};
use crate::{blast, statement};
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

/// Decide, then chain. Returns whether rows are counted: statements this one runs (`EXECUTE`, `DO`,
/// `CALL`, `EXPLAIN ANALYZE`, `COPY (query)`) count toward it, and so do the rows `COPY FROM` loads.
unsafe fn guard(pstmt: *mut pg_sys::PlannedStmt, query_string: *const c_char, params: pg_sys::ParamListInfo) -> bool {
    let mode = crate::enforce::agent_mode();
    let counting = crate::enforce::counting_rows();
    if counting {
        if statement::begin_if_top_level(query_string, pstmt, params, std::ptr::null_mut()) {
            crate::undo::statement_begins(); // a new statement gets its own change
        }
    }
    if let Some(mode) = mode {
        if !crate::nodes::is_a((*pstmt).utilityStmt, pg_sys::NodeTag::T_TransactionStmt) {
            crate::enforce::transaction_ceiling(mode); // ROLLBACK ends a transaction past it
        }
        let _judging = statement::judging(query_string, (*pstmt).stmt_location, (*pstmt).stmt_len, params);
        // What the statement runs, whatever wraps it: `EXPLAIN ANALYZE CREATE TABLE … AS` creates the
        // table through its INTO receiver, which no other hook sees.
        let mut node = (*pstmt).utilityStmt;
        while !node.is_null() {
            let facts = utility_facts(node, mode == Mode::Guarded);
            if statement::simulating() {
                crate::enforce::enforce(decide_simulated(mode, Some(&facts), None));
            }
            if mode == Mode::Guarded {
                // Before the verdict on writes outside the database, which an approval or a policy may allow.
                if let Some(target) = crate::facts::utility::copy_to_server_file(node, &crate::settings::hooks::file_places()) {
                    crate::enforce::enforce(interdict_core::guarded::server_file_write("COPY … TO", target));
                }
            }
            crate::enforce::enforce_on(decide_utility(&crate::enforce::settings_for(mode), &facts), || utility_tables(node).0);
            crate::enforce::table_rules(mode, || utility_tables(node));
            crate::enforce::renames_under_rules(mode, || crate::facts::utility::renamed_relations(node));
            if mode == Mode::Guarded {
                crate::enforce::recordable_writes(copy_from_target(node).into_iter());
            }
            node = executed_utility(node);
        }
    }
    if counting {
        statement::enter();
        if let Some(relid) = copy_from_target((*pstmt).utilityStmt) {
            statement::copy_begins(relid);
        }
    }
    counting
}

/// The table `COPY … FROM` loads, if this is one (its rows reach no ModifyTable node).
unsafe fn copy_from_target(node: *mut pg_sys::Node) -> Option<pg_sys::Oid> {
    if !crate::nodes::is_a(node, pg_sys::NodeTag::T_CopyStmt) {
        return None;
    }
    let copy = node as *mut pg_sys::CopyStmt;
    if !(*copy).is_from {
        return None;
    }
    resolve((*copy).relation)
}

/// After the statement: in guarded mode, no permanent object may now depend on a temporary one; the
/// rows `COPY … FROM` loaded join the statement's count (and its limit is checked: past it, the COPY
/// is refused and its rows go with the transaction); a top-level utility statement's recorded rows
/// (COPY FROM, CALL, DO, EXECUTE, EXPLAIN ANALYZE) become its change.
unsafe fn after(counting: bool, pstmt: *mut pg_sys::PlannedStmt, qc: *mut pg_sys::QueryCompletion) {
    crate::server_settings::statement_ended();
    statement::leave(counting);
    if crate::enforce::agent_mode() == Some(Mode::Guarded) && may_add_dependencies((*pstmt).utilityStmt) {
        // What the statement made depend on the session's temporary objects (refused as a row
        // limit is below: the statement's work goes with the transaction).
        crate::enforce::enforce(interdict_core::guarded::temporary_dependency(crate::facts::temporary::permanent_dependent()));
        crate::enforce::enforce(interdict_core::guarded::planted_code(planted((*pstmt).utilityStmt)));
        let noted = crate::facts::expressions::take_noted();
        crate::enforce::enforce(interdict_core::guarded::planted_code(planted_calls(&noted)));
        if let Some((class, object, relid)) = noted.iter().find_map(|&(c, o)| crate::facts::guard_objects::guard_relation_depended_on(c, o).map(|r| (c, o, r))) {
            let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::ExtensionProtected, Mode::Guarded, "an object that depends on the guard's records")
                .fact("object", crate::nodes::describe_object(class, object, 0))
                .fact("depends_on", crate::nodes::describe_object(pg_sys::RelationRelationId, relid, 0));
            crate::reasons::raise(&refusal);
        }
        if let Some((object, shadowed)) = noted.iter().find_map(|&(class, object)| crate::facts::planted::shadows(class, object)) {
            let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::SystemProtected, Mode::Guarded, format!("{object}, which other sessions' names would find instead of {shadowed}"))
                .fact("object", object)
                .fact("shadows", shadowed);
            crate::reasons::raise(&refusal);
        }
    }
    if !counting {
        return;
    }
    if let Some(relid) = copy_from_target((*pstmt).utilityStmt) {
        statement::add_rows(statement::TableRows { relid, inserted: (*qc).nprocessed, ..Default::default() });
        blast::check_limit();
    }
    if statement::at_top_level() {
        crate::undo::flush(false);
        statement::statement_ended();
    }
}

/// Code the statement left for other sessions to run (see `facts/planted.rs`): a function of the
/// agent's that an index or extended statistics evaluate, or that another role's relation now
/// calls; a table inheriting from or partitioning another role's table.
unsafe fn planted(node: *mut pg_sys::Node) -> Option<(String, String)> {
    use crate::facts::planted::{agent_code_on, others_parent};
    use crate::nodes::is_a;
    use pg_sys::NodeTag::*;
    let relation = if is_a(node, T_IndexStmt) {
        (*(node as *mut pg_sys::IndexStmt)).relation
    } else if is_a(node, T_CreateStmt) {
        let create = node as *mut pg_sys::CreateStmt;
        if !(*create).inhRelations.is_null() {
            if let Some(found) = resolve((*create).relation).and_then(others_parent) {
                return Some(found);
            }
        }
        (*create).relation
    } else if is_a(node, T_AlterTableStmt) {
        (*(node as *mut pg_sys::AlterTableStmt)).relation
    } else if is_a(node, T_ViewStmt) {
        (*(node as *mut pg_sys::ViewStmt)).view
    } else if is_a(node, T_CreateStatsStmt) {
        crate::nodes::list_ptrs::<pg_sys::Node>((*(node as *mut pg_sys::CreateStatsStmt)).relations)
            .find(|n| is_a(*n, T_RangeVar))
            .map_or(std::ptr::null_mut(), |n| n as *mut pg_sys::RangeVar)
    } else if is_a(node, T_CreatePolicyStmt) {
        (*(node as *mut pg_sys::CreatePolicyStmt)).table
    } else if is_a(node, T_AlterPolicyStmt) {
        (*(node as *mut pg_sys::AlterPolicyStmt)).table
    } else {
        return None;
    };
    if relation.is_null() {
        return None;
    }
    resolve(relation).and_then(agent_code_on)
}

/// Stored code of the objects the statement created or altered (`noted`) that calls a function
/// acting where other sessions evaluate it (`interdict_core::guarded::acts_elsewhere`): (what calls
/// what, where it runs).
unsafe fn planted_calls(noted: &[(pg_sys::Oid, pg_sys::Oid)]) -> Option<(String, String)> {
    for &(class, object) in noted {
        // A domain's CHECK, a range type's subtype_diff run where no session judges them
        // (autovacuum, through an index's cast or ANALYZE): no function of the agent's either, as
        // in an index.
        let anywhere = crate::facts::expressions::runs_anywhere(class, object);
        for function in crate::facts::expressions::functions_called(class, object) {
            if crate::undo::is_capture_function(function) {
                continue; // the recording trigger interdict.record() gives every recorded table
            }
            let Some(facts) = crate::facts::function::function_facts(function) else { continue };
            let agents = crate::agent_code::function_owner(function)
                .is_some_and(|o| crate::facts::planted::the_agents(o) || crate::agent_code::is_agent_role(o));
            if interdict_core::guarded::acts_elsewhere(&facts, agents) || (anywhere && agents && u32::from(function) >= pg_sys::FirstNormalObjectId) {
                let what = format!("{} calls {}", crate::nodes::describe_object(class, object, 0), crate::nodes::describe_object(pg_sys::ProcedureRelationId, function, 0));
                return Some((what, "every session that evaluates it (a DBA reading a view, writing a table, calling a function), with that session's rights".into()));
            }
        }
    }
    None
}

/// Whether a statement can record a dependency in the catalog itself. Transaction control, `SET`,
/// `SHOW`, cursors, prepared statements, `COPY`, `LOCK`, `NOTIFY`/`LISTEN`, `VACUUM`, `DISCARD`
/// cannot; `DO` and `CALL` only through the statements they run, each of which comes here on its
/// own. The catalog is not read after them (they are most of a session's utility statements).
unsafe fn may_add_dependencies(node: *mut pg_sys::Node) -> bool {
    use pg_sys::NodeTag::*;
    ![
        T_TransactionStmt, T_VariableSetStmt, T_VariableShowStmt, T_DoStmt, T_CallStmt, T_DeclareCursorStmt, T_FetchStmt,
        T_ClosePortalStmt, T_PrepareStmt, T_ExecuteStmt, T_DeallocateStmt, T_CopyStmt, T_LockStmt, T_NotifyStmt, T_ListenStmt,
        T_UnlistenStmt, T_VacuumStmt, T_DiscardStmt, T_CheckPointStmt,
    ]
    .into_iter()
    .any(|tag| crate::nodes::is_a(node, tag))
}

/// An error beneath: the statement's nesting level is left (the transaction or subtransaction abort
/// forgets its rows).
fn failed(counting: bool) {
    crate::server_settings::statement_ended();
    statement::leave(counting);
}

/// The hook's body, whatever the version's signature: decide, chain (`call` with the completion to
/// fill), then count what the statement did.
unsafe fn guarded(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    params: pg_sys::ParamListInfo,
    qc: *mut pg_sys::QueryCompletion,
    call: impl FnOnce(*mut pg_sys::QueryCompletion),
) {
    let counting = guard(pstmt, query_string, params);
    // A caller that passes no completion (event triggers, some internal callers) gets ours, so that
    // the rows a COPY loaded are always known.
    let mut own_qc = std::mem::zeroed::<pg_sys::QueryCompletion>();
    let qc = if qc.is_null() { &raw mut own_qc } else { qc };
    let outer = RENAMING.get();
    RENAMING.set(crate::enforce::agent_mode() == Some(Mode::Guarded) && renames((*pstmt).utilityStmt));
    chain::call_down(|| call(qc), || {
        failed(counting);
        RENAMING.set(outer);
    });
    RENAMING.set(outer);
    after(counting, pstmt, qc);
}

/// Set while a guarded session's `ALTER … RENAME` or `ALTER … SET SCHEMA` runs: the objects
/// Postgres alters meanwhile are renamed or moved (the object-access hook judges whose they are).
static RENAMING: BackendCell<bool> = BackendCell::new(false);

/// Whether a guarded session's rename or schema move is running (see [`RENAMING`]).
pub fn renaming() -> bool {
    RENAMING.get()
}

unsafe fn renames(node: *mut pg_sys::Node) -> bool {
    crate::nodes::is_a(node, pg_sys::NodeTag::T_RenameStmt) || crate::nodes::is_a(node, pg_sys::NodeTag::T_AlterObjectSchemaStmt)
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
    let prev = PREV.get();
    guarded(pstmt, query_string, params, qc, |qc| match prev {
        Some(prev) => prev(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
        None => chain::standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
    });
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
    let prev = PREV.get();
    guarded(pstmt, query_string, params, qc, |qc| match prev {
        Some(prev) => prev(pstmt, query_string, context, params, query_env, dest, qc),
        None => chain::standard_ProcessUtility(pstmt, query_string, context, params, query_env, dest, qc),
    });
}
