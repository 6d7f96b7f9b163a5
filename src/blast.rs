//! The blast radius: rows a guarded statement changes, counted while it runs, against its limit.
//!
//! Each `ModifyTable` node gets a counter: its input node's `ExecProcNodeReal` is wrapped, so each
//! row about to be inserted, updated or deleted passes through [`counted_exec`], which refuses the
//! statement as soon as the total passes the limit — the cost of refusing is bounded by the limit,
//! not by the table. The counts themselves live in `statement.rs`; which limit applies is the
//! core's `row_limit`.

use crate::facts::plan::rti_relid;
use crate::nodes::{is_a, is_session_temp, list_ptrs, relation_name};
use crate::statement::{self, NodeCounter, TableRows};
use interdict_core::facts::RowFacts;
use interdict_core::policy::TableCount;
use interdict_core::outcome::{approved_limit, row_limit, RowLimits};
use interdict_core::{decide_rows, Verdict};
use pgrx::pg_sys;

/// Before `ExecutorStart`: a statement with `INSERT … ON CONFLICT DO UPDATE` gets row
/// instrumentation (as `EXPLAIN (ANALYZE, TIMING OFF)` would), the only place Postgres counts the
/// conflicts it turned into updates; `es_processed` counts them together with the inserts.
///
/// # Safety
/// `query_desc` is about to be started.
pub unsafe fn instrument_conflicts(query_desc: *mut pg_sys::QueryDesc) {
    let conflict_update = crate::facts::scope::modify_tables((*query_desc).plannedstmt)
        .into_iter()
        .any(|mt| (*mt).onConflictAction == pg_sys::OnConflictAction::ONCONFLICT_UPDATE);
    if conflict_update {
        (*query_desc).instrument_options |= pg_sys::InstrumentOption::INSTRUMENT_ROWS as i32;
    }
}

/// After `ExecutorStart`: a counter on every ModifyTable node of the plan.
///
/// # Safety
/// `query_desc` was just started (its planstate exists).
pub unsafe fn watch(query_desc: *mut pg_sys::QueryDesc) {
    let estate = (*query_desc).estate;
    if estate.is_null() || (*query_desc).planstate.is_null() {
        return;
    }
    let pstmt = (*query_desc).plannedstmt;
    let nodes = std::iter::once((*query_desc).planstate).chain(list_ptrs::<pg_sys::PlanState>((*estate).es_subplanstates));
    let level = pg_sys::GetCurrentTransactionNestLevel();
    for node in nodes {
        if !is_a(node as *mut pg_sys::Node, pg_sys::NodeTag::T_ModifyTableState) {
            continue;
        }
        let mts = node as *mut pg_sys::ModifyTableState;
        let plan = (*mts).ps.plan as *mut pg_sys::ModifyTable;
        let relid = rti_relid(pstmt, (*plan).nominalRelation as i32).unwrap_or(pg_sys::InvalidOid);
        if is_session_temp(relid) {
            continue; // this session's scratch: not shared data (writes it triggers are their own nodes)
        }
        let operation = (*plan).operation;
        if node == (*query_desc).planstate && !(*plan).plan.lefttree.is_null() {
            statement::note_estimate((*(*plan).plan.lefttree).plan_rows);
        }
        for input in inputs(mts) {
            let counter = NodeCounter {
                query_desc,
                mt: mts,
                input,
                real: (*input).ExecProcNodeReal,
                relid,
                operation,
                fed: 0,
                base: ((*plan).canSetTag && operation != pg_sys::CmdType::CMD_SELECT).then(|| (*estate).es_processed),
                level,
                conflict_update: (*plan).onConflictAction == pg_sys::OnConflictAction::ONCONFLICT_UPDATE,
            };
            // ExecProcNodeFirst installs ExecProcNodeReal (or the instrumented wrapper, which calls
            // it) on the first call, so wrapping the "real" function covers both.
            (*input).ExecProcNodeReal = Some(counted_exec);
            statement::add_counter(counter);
        }
    }
}

#[cfg(not(feature = "pg13"))]
unsafe fn inputs(mts: *mut pg_sys::ModifyTableState) -> Vec<*mut pg_sys::PlanState> {
    let input = (*mts).ps.lefttree;
    if input.is_null() { Vec::new() } else { vec![input] }
}

#[cfg(feature = "pg13")]
unsafe fn inputs(mts: *mut pg_sys::ModifyTableState) -> Vec<*mut pg_sys::PlanState> {
    (0..(*mts).mt_nplans as usize).map(|i| *(*mts).mt_plans.add(i)).collect()
}

/// Every row an input node hands its ModifyTable comes through here.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn counted_exec(node: *mut pg_sys::PlanState) -> *mut pg_sys::TupleTableSlot {
    let Some(real) = statement::real_exec(node) else {
        // Not ours any more (an aborted statement's node cannot run again): refuse rather than guess.
        crate::reasons::internal_failure("counting a statement's rows", "lost track of a write node");
    };
    let slot = crate::chain::call_down_returning(|| real(node), || {});
    let row = !slot.is_null() && (*slot).tts_flags & pg_sys::TTS_FLAG_EMPTY as u16 == 0;
    if row {
        statement::count_fed(node);
    }
    check_limit();
    slot
}

/// Rows a guarded statement writes that no ModifyTable node sees (what `interdict.revert()` writes
/// back): against the policy's table rules (`write: false`), then joining its rows, against its limit.
pub fn count_written(tables: Vec<TableRows>) {
    if let Some(mode) = crate::enforce::agent_mode() {
        // SAFETY (each): catalog lookups inside the revert's transaction.
        crate::enforce::table_rules(mode, || (tables.iter().flat_map(|t| unsafe { crate::nodes::names_with_ancestors(t.relid) }).collect(), Vec::new()));
    }
    if crate::enforce::counting_rows() {
        statement::begin_if_outside("(a fast-path call) interdict.revert()");
        tables.into_iter().for_each(statement::add_rows);
        check_limit();
    }
}

/// Refuses the statement if its rows passed the limit (unless simulating, which counts to the end).
pub fn check_limit() {
    let (simulating, approved, estimate) = statement::limit_state();
    if simulating {
        return;
    }
    let reached = statement::rows_so_far();
    let mut limits = row_limit(approved, crate::settings::max_rows(), crate::policy::row_floor());
    if limits.within(reached) {
        return; // every row of a statement within its limits: no allocation, no catalog lookup
    }
    let Some(mut facts) = excess(&statement::tables(), &limits, estimate) else { return };
    if !limits.approved && statement::first_approval_ask() {
        if let Some(approval_rows) = crate::approvals::consume(reached, interdict_core::ReasonCode::GuardedBlastRadius) {
            let limit = approved_limit(approval_rows, crate::settings::max_rows());
            statement::set_approved_limit(limit);
            limits = row_limit(Some(limit), limit, u64::MAX);
            match excess(&statement::tables(), &limits, estimate) {
                None => return,
                Some(f) => facts = f,
            }
        }
    }
    if let Verdict::Refuse(refusal) = decide_rows(crate::settings::mode(), &facts) {
        if crate::enforce::rows_refused(refusal) {
            statement::lift_limit(); // a dry run logged it once: no limit for the rest of the statement
        }
    }
}

/// The name a policy's per-table limits find a table by: its own, or (without a rule of its own) the
/// first of its ancestors' that a rule names — a partition written directly answers to the rule on
/// its partitioned table.
///
/// # Safety
/// Inside a transaction (catalog lookups).
unsafe fn rule_name(relid: pg_sys::Oid) -> String {
    let own = relation_name(relid).unwrap_or_default();
    if crate::policy::with_rule(|rule| rule.has_table_rules() && rule.table(&own).is_none()) != Some(true) {
        return own;
    }
    let ruled = crate::nodes::names_with_ancestors(relid).into_iter().find(|name| crate::policy::with_rule(|rule| rule.table(name).is_some()) == Some(true));
    ruled.unwrap_or(own)
}

/// The limit `tables`' rows passed, if any: `limit` (`interdict.max_rows`, or an approval's), else,
/// without an approval, the first per-operation or per-table limit of the session's policy.
pub fn excess(tables: &[TableRows], limits: &RowLimits, estimate: Option<f64>) -> Option<RowFacts> {
    let (limit, approved) = (limits.limit, limits.approved);
    // SAFETY (each lookup): catalog lookups inside a transaction.
    let named: Vec<(String, &TableRows)> = tables.iter().filter(|t| t.total() > 0).map(|t| (unsafe { rule_name(t.relid) }, t)).collect();
    let names = named.iter().map(|(n, _)| n.clone()).collect();
    let reached: u64 = tables.iter().map(TableRows::total).sum();
    if reached > limit {
        return Some(RowFacts { reached, limit, estimate, tables: names, approved, policy_scope: None });
    }
    if approved {
        return None;
    }
    let counts: Vec<TableCount> = named
        .iter()
        .map(|(table, t)| TableCount { table: table.clone(), inserted: t.inserted, updated: t.updated, deleted: t.deleted })
        .collect();
    let e = crate::policy::with_rule(|rule| rule.row_excess(&counts)).flatten()?;
    Some(RowFacts { reached: e.reached, limit: e.limit, estimate, tables: names, approved: false, policy_scope: Some(e.scope) })
}
