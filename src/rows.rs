//! Rows a statement changes, counted while it runs, against its limit (the blast radius).
//!
//! A *statement* is what the client sent at top level: it begins at a depth-0 `ExecutorStart` or
//! `ProcessUtility` and includes every nested executor (functions, `DO`, trigger writes, foreign-key
//! cascades run through SPI). Each `ModifyTable` node gets a counter: its input node's
//! `ExecProcNodeReal` is wrapped, so each row about to be inserted, updated or deleted passes through
//! [`counted_exec`], which refuses the statement as soon as the total passes the limit — the cost of
//! refusing is bounded by the limit, not by the table. Counts are exact where Postgres keeps them
//! (`es_processed` for the node that sets the command tag, `mt_merge_*` for MERGE); other nodes
//! (writes inside WITH clauses) count the rows fed to them.
//!
//! Counters and totals are tagged with the subtransaction level that made them: an aborted
//! subtransaction's rows are forgotten, like its writes.

use crate::cell::BackendCell;
use crate::facts::plan::rti_relid;
use crate::nodes::{is_a, list_ptrs, relation_name};
use interdict_core::facts::RowFacts;
use interdict_core::policy::TableCount;
use interdict_core::{decide_rows, Mode, Verdict};
use pgrx::pg_sys;
use std::ffi::c_void;

/// Rows changed in one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableRows {
    pub relid: pg_sys::Oid,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl TableRows {
    fn total(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }
}

/// One running ModifyTable node.
struct Counter {
    query_desc: *mut pg_sys::QueryDesc,
    mt: *mut pg_sys::ModifyTableState,
    /// The input node whose `ExecProcNodeReal` we wrapped, and the function it had.
    input: *mut pg_sys::PlanState,
    real: pg_sys::ExecProcNodeMtd,
    relid: pg_sys::Oid,
    operation: pg_sys::CmdType::Type,
    fed: u64,
    /// `es_processed` when the node started, for the node that sets the command tag.
    base: Option<u64>,
    level: i32,
    /// `INSERT … ON CONFLICT DO UPDATE`: its rows are split into inserted and updated by the
    /// node's instrumentation (see [`instrument_conflicts`]).
    conflict_update: bool,
}

impl Counter {
    /// Rows this node changed so far.
    unsafe fn rows(&self) -> TableRows {
        let mut t = TableRows { relid: self.relid, ..TableRows::default() };
        #[cfg(not(any(feature = "pg13", feature = "pg14")))]
        if self.operation == pg_sys::CmdType::CMD_MERGE {
            t.inserted = (*self.mt).mt_merge_inserted as u64;
            t.updated = (*self.mt).mt_merge_updated as u64;
            t.deleted = (*self.mt).mt_merge_deleted as u64;
            return t;
        }
        let n = match self.base {
            Some(base) => (*(*self.mt).ps.state).es_processed.saturating_sub(base),
            None => self.fed,
        };
        match self.operation {
            pg_sys::CmdType::CMD_INSERT if self.conflict_update && !(*self.mt).ps.instrument.is_null() => {
                // nodeModifyTable.c: ExecInsert counts each conflict it resolved with InstrCountTuples2,
                // and ExecOnConflictUpdate one whose DO UPDATE … WHERE said no with InstrCountFiltered1.
                let instrument = &*(*self.mt).ps.instrument;
                t.updated = ((instrument.ntuples2 - instrument.nfiltered1).max(0.0) as u64).min(n);
                t.inserted = n - t.updated;
            }
            pg_sys::CmdType::CMD_INSERT => t.inserted = n,
            pg_sys::CmdType::CMD_UPDATE => t.updated = n,
            _ => t.deleted = n,
        }
        t
    }
}

/// The statement in progress.
#[derive(Default)]
pub struct Statement {
    depth: u32,
    counters: Vec<Counter>,
    /// Rows of finished nodes, by (subtransaction level, table).
    finished: Vec<(i32, TableRows)>,
    /// The planner's estimate of rows for the statement's own target.
    pub estimate: Option<f64>,
    /// The limit an operator's approval set for this statement, once consumed.
    pub approved_limit: Option<u64>,
    /// The approval store was asked already (at most once per statement).
    pub approval_asked: bool,
    /// `interdict.simulate()` is counting: no limit, exact totals, refusals recorded not raised.
    pub simulating: bool,
    /// In a simulation: the first refusal the statement would have met.
    pub would_refuse: Option<interdict_core::Refusal>,
    /// In a simulation: a sequence was advanced or set (a rollback does not undo that).
    pub sequence_moved: bool,
    /// In a simulation: a write undo could not record (`guarded.not_reversible`).
    pub unrecordable: bool,
    /// The top-level statement's text and parameters, for its approval id.
    source: *const std::ffi::c_char,
    location: i32,
    length: i32,
    pub params: pg_sys::ParamListInfo,
}

static STATEMENT: BackendCell<Option<Statement>> = BackendCell::new(None);

fn with<R>(f: impl FnOnce(&mut Statement) -> R) -> R {
    STATEMENT.with(|s| f(s.get_or_insert_with(Statement::default)))
}

/// Whether rows are being counted now: guarded sessions, and any session inside `simulate()`.
pub fn counting(mode: Mode) -> bool {
    mode == Mode::Guarded || with(|s| s.simulating)
}

/// Marks entry into a hook that runs statements (`ProcessUtility`, `ExecutorRun/Finish`).
pub struct Depth;

impl Depth {
    pub fn enter() -> Depth {
        with(|s| s.depth += 1);
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        with(|s| s.depth = s.depth.saturating_sub(1));
    }
}

/// At a depth-0 `ExecutorStart` or `ProcessUtility`: a new statement begins, with its source text.
/// A rule can turn one statement into several plans that the same portal runs one after another
/// (pquery.c `PortalRunMulti`); only the first begins the statement, so their rows add up.
pub fn begin_if_top_level(source: *const std::ffi::c_char, pstmt: *mut pg_sys::PlannedStmt, params: pg_sys::ParamListInfo) {
    // SAFETY: ActivePortal is the portal running now, or null.
    if unsafe { later_in_portal(pstmt) } {
        return;
    }
    with(|s| {
        if s.depth > 0 || s.simulating {
            return;
        }
        s.finished.clear();
        crate::undo::statement_begins();
        s.estimate = None;
        s.approved_limit = None;
        s.approval_asked = false;
        s.source = source;
        // SAFETY: pstmt is the statement being started.
        unsafe {
            s.location = (*pstmt).stmt_location;
            s.length = (*pstmt).stmt_len;
        }
        s.params = params;
    });
}

/// Whether no statement is running now (between top-level statements, or as one ends).
pub fn at_top_level() -> bool {
    with(|s| s.depth == 0)
}

/// Whether `pstmt` is a later plan of the active portal's statement (a rule's product).
unsafe fn later_in_portal(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    let portal = pg_sys::ActivePortal;
    !portal.is_null() && list_ptrs::<pg_sys::PlannedStmt>((*portal).stmts).skip(1).any(|p| p == pstmt)
}

/// The top-level statement's own text: its slice of the query string (one of several statements
/// sent in one string gets its own text, so its own approval id), and its parameter values.
pub fn statement_text() -> (String, Vec<Option<String>>) {
    with(|s| {
        // SAFETY: source and params belong to the statement running now.
        unsafe {
            let whole = crate::nodes::cstr(s.source).unwrap_or_default();
            let start = (s.location.max(0) as usize).min(whole.len());
            let end = if s.length > 0 { (start + s.length as usize).min(whole.len()) } else { whole.len() };
            let text = whole.get(start..end).unwrap_or(&whole).to_string();
            (text, param_values(s.params))
        }
    })
}

unsafe fn param_values(params: pg_sys::ParamListInfo) -> Vec<Option<String>> {
    if params.is_null() {
        return Vec::new();
    }
    let n = (*params).numParams as usize;
    let data = (*params).params.as_ptr();
    (0..n)
        .map(|i| {
            let p = &*data.add(i);
            if p.isnull || p.ptype == pg_sys::InvalidOid {
                return None;
            }
            let (mut out, mut varlena) = (pg_sys::InvalidOid, false);
            pg_sys::getTypeOutputInfo(p.ptype, &mut out, &mut varlena);
            crate::nodes::cstr(pg_sys::OidOutputFunctionCall(out, p.value))
        })
        .collect()
}

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
        let operation = (*plan).operation;
        with(|s| {
            if node == (*query_desc).planstate && s.estimate.is_none() && !(*plan).plan.lefttree.is_null() {
                s.estimate = Some((*(*plan).plan.lefttree).plan_rows);
            }
        });
        for input in inputs(mts) {
            let counter = Counter {
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
            with(|s| s.counters.push(counter));
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
    let real = with(|s| s.counters.iter().find(|c| c.input == node).and_then(|c| c.real));
    let Some(real) = real else {
        // Not ours any more (an aborted statement's node cannot run again): refuse rather than guess.
        pgrx::error!("interdict: lost track of a write node");
    };
    let slot = pg_sys::ffi::pg_guard_ffi_boundary(|| real(node));
    let row = !slot.is_null() && (*slot).tts_flags & pg_sys::TTS_FLAG_EMPTY as u16 == 0;
    if row {
        with(|s| {
            if let Some(c) = s.counters.iter_mut().find(|c| c.input == node) {
                c.fed += 1;
            }
        });
    }
    check_limit();
    slot
}

/// Rows changed so far by the statement, per table (finished nodes and running ones).
pub fn tables() -> Vec<TableRows> {
    with(|s| {
        let mut out: Vec<TableRows> = Vec::new();
        // SAFETY: running counters point at live executor state (dropped at ExecutorEnd or abort).
        let live = s.counters.iter().map(|c| unsafe { c.rows() });
        for t in s.finished.iter().map(|(_, t)| *t).chain(live) {
            match out.iter_mut().find(|o| o.relid == t.relid) {
                Some(o) => {
                    o.inserted += t.inserted;
                    o.updated += t.updated;
                    o.deleted += t.deleted;
                }
                None => out.push(t),
            }
        }
        out
    })
}

/// Refuses the statement if its rows passed the limit (unless simulating, which counts to the end).
pub fn check_limit() {
    let (simulating, approved) = with(|s| (s.simulating, s.approved_limit));
    if simulating {
        return;
    }
    // SAFETY: running counters point at live executor state (dropped at ExecutorEnd or abort).
    let reached: u64 = with(|s| {
        s.finished.iter().map(|(_, t)| t.total()).sum::<u64>() + s.counters.iter().map(|c| unsafe { c.rows() }.total()).sum::<u64>()
    });
    let limit = approved.unwrap_or_else(crate::gucs::max_rows);
    let policy_floor = if approved.is_some() { u64::MAX } else { crate::policy::row_floor() };
    if reached <= limit.min(policy_floor) {
        return; // every row of a statement within its limits: no allocation, no catalog lookup
    }
    let estimate = with(|s| s.estimate);
    let Some(mut facts) = excess(&tables(), limit, approved.is_some(), estimate) else { return };
    if approved.is_none() && !with(|s| std::mem::replace(&mut s.approval_asked, true)) {
        if let Some(approved_rows) = crate::approvals::consume(reached) {
            let limit = approved_rows.unwrap_or_else(crate::gucs::max_rows);
            with(|s| s.approved_limit = Some(limit));
            match excess(&tables(), limit, true, estimate) {
                None => return,
                Some(f) => facts = f,
            }
        }
    }
    if let Verdict::Refuse(refusal) = decide_rows(crate::gucs::mode(), &facts) {
        let refusal = crate::approvals::with_approval_id(refusal);
        if crate::hooks::dry_run_lets_through(&refusal) {
            with(|s| s.approved_limit = Some(u64::MAX)); // logged once: no limit for the rest of the statement
            return;
        }
        crate::reasons::raise(&refusal);
    }
}

/// The limit `tables`' rows passed, if any: `limit` (`interdict.max_rows`, or an approval's), else,
/// without an approval, the first per-operation or per-table limit of the session's policy.
pub fn excess(tables: &[TableRows], limit: u64, approved: bool, estimate: Option<f64>) -> Option<RowFacts> {
    // SAFETY (each lookup): catalog lookups inside a transaction.
    let named: Vec<(String, &TableRows)> =
        tables.iter().filter(|t| t.total() > 0).map(|t| (unsafe { relation_name(t.relid) }.unwrap_or_default(), t)).collect();
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

/// Before `ExecutorEnd`: the node's final rows join the statement's totals.
///
/// # Safety
/// `query_desc` is still valid (its executor state not yet freed).
pub unsafe fn finish(query_desc: *mut pg_sys::QueryDesc) {
    with(|s| {
        if s.counters.is_empty() {
            return; // every statement outside guarded mode and simulate(): nothing to fold
        }
        let finished = &mut s.finished;
        s.counters.retain(|c| {
            if c.query_desc != query_desc {
                return true;
            }
            (*c.input).ExecProcNodeReal = c.real;
            finished.push((c.level, c.rows()));
            false
        });
    });
}

/// Swaps the statement state, for `simulate()`: it counts a statement of its own inside the caller's.
pub fn swap(replacement: Statement) -> Statement {
    with(|s| std::mem::replace(s, replacement))
}

/// A statement state for `simulate(sql)`: its approval id is that of `sql` itself.
pub fn fresh_simulation(sql: *const std::ffi::c_char) -> Statement {
    Statement { simulating: true, source: sql, ..Statement::default() }
}

pub fn simulating() -> bool {
    with(|s| s.simulating)
}

/// In a simulation: keeps the first refusal instead of raising it.
pub fn record_refusal(refusal: interdict_core::Refusal) {
    with(|s| {
        s.unrecordable |= refusal.code == interdict_core::ReasonCode::GuardedNotReversible;
        s.would_refuse.get_or_insert(refusal);
    });
}

/// In a simulation: a write undo could not record was allowed (the policy allows non-reversible writes).
pub fn note_unrecordable() {
    with(|s| s.unrecordable = true);
}

pub fn note_sequence_moved() {
    with(|s| s.sequence_moved = true);
}

/// What a simulation saw (for `simulate()`).
pub struct Outcome {
    pub estimate: Option<f64>,
    pub would_refuse: Option<interdict_core::Refusal>,
    pub sequence_moved: bool,
    pub unrecordable: bool,
}

pub fn outcome() -> Outcome {
    with(|s| Outcome { estimate: s.estimate, would_refuse: s.would_refuse.clone(), sequence_moved: s.sequence_moved, unrecordable: s.unrecordable })
}

/// An operator's approval was consumed for this statement: its limit is the approved one.
pub fn set_approved_limit(max_rows: Option<u64>) {
    let limit = max_rows.unwrap_or(crate::gucs::settings().max_rows.0);
    with(|s| {
        s.approved_limit = Some(limit);
        s.approval_asked = true;
    });
}

/// Transaction and subtransaction ends: forget what an abort undid (row counts here, undo's
/// captured rows in `undo`, which this one callback pair also serves).
pub fn register() {
    // SAFETY: called once per process from _PG_init.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    use pg_sys::XactEvent::*;
    crate::undo::xact_event(event);
    if matches!(event, XACT_EVENT_COMMIT | XACT_EVENT_ABORT | XACT_EVENT_PREPARE | XACT_EVENT_PARALLEL_ABORT) {
        crate::ceilings::statement_ended();
    }
    STATEMENT.with(|s| {
        let Some(st) = s else { return };
        match event {
            // Every executor of the transaction is gone.
            XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
                st.counters.clear();
                st.finished.clear();
            }
            // A procedure's COMMIT: what was changed is committed; running nodes (a held cursor) go on.
            XACT_EVENT_COMMIT | XACT_EVENT_PREPARE => st.finished.clear(),
            _ => {}
        }
    });
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    let level = pg_sys::GetCurrentTransactionNestLevel();
    crate::undo::subxact_event(event, level);
    STATEMENT.with(|s| {
        let Some(st) = s else { return };
        match event {
            pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
                st.counters.retain(|c| c.level < level);
                st.finished.retain(|(l, _)| *l < level);
            }
            pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => {
                st.finished.iter_mut().filter(|(l, _)| *l >= level).for_each(|(l, _)| *l = level - 1);
            }
            _ => {}
        }
    });
}
