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
    /// The top-level statement's text and parameters, for its approval id and its change.
    text: Text,
    /// What the statement's names resolved to, for its approval id (computed once, when needed).
    binding: Option<Vec<u32>>,
    /// The transaction (see [`XACT_SEQ`]) whose work at commit this statement counts, if it is
    /// that work (deferred triggers fired at commit).
    at_commit_of: Option<u64>,
}

/// Where a statement's text comes from.
#[derive(Default)]
enum Text {
    #[default]
    None,
    /// A client's statement: its slice of the query string, its parameters and its plan. The
    /// pointers belong to the portal running it: read only while `live` (from its start to its end).
    Client {
        source: *const std::ffi::c_char,
        location: i32,
        length: i32,
        params: pg_sys::ParamListInfo,
        pstmt: *mut pg_sys::PlannedStmt,
        top: *mut pg_sys::QueryDesc,
        live: bool,
    },
    /// Work no client statement runs (deferred triggers at commit), or a simulation's statement.
    Owned(String),
}

/// Counts top-level transaction ends, to tell one transaction's commit-time work from the next's.
static XACT_SEQ: BackendCell<u64> = BackendCell::new(0);

static STATEMENT: BackendCell<Option<Statement>> = BackendCell::new(None);

/// The level of rows an earlier transaction of the running statement committed: no abort forgets them.
const COMMITTED: i32 = 0;

fn with<R>(f: impl FnOnce(&mut Statement) -> R) -> R {
    STATEMENT.with(|s| f(s.get_or_insert_with(Statement::default)))
}

/// Whether rows are being counted now: guarded sessions, and any session inside `simulate()`.
pub fn counting(mode: Mode) -> bool {
    mode == Mode::Guarded || with(|s| s.simulating)
}

/// Entry into a hook that runs statements (`ProcessUtility`, `ExecutorRun/Finish`), while rows are
/// counted. Paired with [`leave`], on the error path too (see `hooks/chain.rs`).
pub fn enter() {
    with(|s| s.depth += 1);
}

/// Leaves what [`enter`] entered (`entered`: whether it did).
pub fn leave(entered: bool) {
    if entered {
        with(|s| s.depth = s.depth.saturating_sub(1));
    }
}

/// At a depth-0 `ExecutorStart` (`top` is its QueryDesc) or `ProcessUtility` (`top` is null): a
/// new statement begins, with its source text.
///
/// - A rule can turn one statement into several plans that the same portal runs one after another
///   (pquery.c `PortalRunMulti`); only the first begins the statement, so their rows add up.
/// - Work that no client statement runs (no active portal: deferred triggers fired at commit,
///   `xact.c: CommitTransaction` → `AfterTriggerFireDeferred`) is one statement per transaction,
///   however many trigger queries it takes: its rows add up against one limit.
/// - Inside `simulate()`, the simulated statement's binding is taken at its first start (its plan
///   does not outlive the simulation).
pub fn begin_if_top_level(source: *const std::ffi::c_char, pstmt: *mut pg_sys::PlannedStmt, params: pg_sys::ParamListInfo, top: *mut pg_sys::QueryDesc) {
    // SAFETY: ActivePortal is the portal running now, or null.
    if unsafe { later_in_portal(pstmt) } {
        with(|s| {
            if let Text::Client { live, .. } = &mut s.text {
                *live = true; // the same portal, the same source text
            }
        });
        return;
    }
    // SAFETY: plain reads of backend globals.
    let client = unsafe { !pg_sys::ActivePortal.is_null() };
    let xact = XACT_SEQ.get();
    with(|s| {
        if s.simulating {
            // SAFETY: source is the started statement's text.
            let simulated = matches!(&s.text, Text::Owned(t) if unsafe { crate::nodes::cstr(source) }.as_deref().map(str::trim) == Some(t.trim()));
            if s.binding.is_none() && simulated {
                // SAFETY: pstmt is the statement being started.
                s.binding = Some(unsafe { binding_of(pstmt) });
            }
            return;
        }
        if s.depth > 0 {
            return;
        }
        if !client && s.at_commit_of == Some(xact) {
            return; // more of the same commit's work
        }
        s.finished.clear();
        crate::undo::statement_begins();
        s.estimate = None;
        s.approved_limit = None;
        s.approval_asked = false;
        s.binding = None;
        s.at_commit_of = (!client).then_some(xact);
        s.text = if client {
            // SAFETY: pstmt is the statement being started.
            let (location, length) = unsafe { ((*pstmt).stmt_location, (*pstmt).stmt_len) };
            Text::Client { source, location, length, params, pstmt, top, live: true }
        } else {
            // SAFETY: debug_query_string is the client's statement being committed, or null.
            let committing = unsafe { crate::nodes::cstr(pg_sys::debug_query_string) };
            Text::Owned(format!("(deferred triggers at commit) {}", committing.unwrap_or_default()).trim_end().to_string())
        };
    });
}

/// The top-level statement ended (its `ExecutorEnd`, or its utility hook returned): its text
/// and parameters are no longer read.
pub fn statement_ended() {
    with(|s| {
        if let Text::Client { live, .. } = &mut s.text {
            *live = false;
        }
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
    with(|s| match &s.text {
        // SAFETY: source and params belong to the statement running now (`live`).
        Text::Client { source, location, length, params, live: true, .. } => unsafe {
            let whole = crate::nodes::cstr(*source).unwrap_or_default();
            let start = ((*location).max(0) as usize).min(whole.len());
            let end = if *length > 0 { (start + *length as usize).min(whole.len()) } else { whole.len() };
            let text = whole.get(start..end).unwrap_or(&whole).to_string();
            (text, param_values(*params))
        },
        Text::Owned(text) => (text.clone(), Vec::new()),
        _ => ("(no statement)".to_string(), Vec::new()),
    })
}

/// What the statement's names resolved to (see [`binding_of`]); computed once per statement.
pub fn statement_binding() -> Vec<u32> {
    if let Some(b) = with(|s| s.binding.clone()) {
        return b;
    }
    let pstmt = with(|s| match &s.text {
        Text::Client { pstmt, live: true, .. } => *pstmt,
        _ => std::ptr::null_mut(),
    });
    // SAFETY: the plan of the statement running now (`live`), or null.
    let b = unsafe { binding_of(pstmt) };
    with(|s| s.binding = Some(b.clone()));
    b
}

/// What a statement's names resolve to, for its approval id: the relations its plan depends on
/// (`PlannedStmt->relationOids`; a utility statement's named relations), each partition or
/// inheritance child as its topmost parent (so that partition pruning, which differs between
/// custom and generic plans, does not change it), then a separator and the effective search path
/// (`namespace.c: fetch_search_path`, the temporary schema included once it exists). The same text
/// over other objects (a temporary table shadowing a real one, another search path) is another
/// request.
///
/// # Safety
/// `pstmt` is null or the plan of a statement running now, inside a transaction.
unsafe fn binding_of(pstmt: *mut pg_sys::PlannedStmt) -> Vec<u32> {
    let mut relations: Vec<u32> = Vec::new();
    if !pstmt.is_null() {
        let oids: Vec<pg_sys::Oid> = if (*pstmt).commandType == pg_sys::CmdType::CMD_UTILITY {
            crate::facts::utility::named_relids((*pstmt).utilityStmt)
        } else {
            crate::nodes::list_oids((*pstmt).relationOids).collect()
        };
        relations = oids.into_iter().map(|r| u32::from(crate::nodes::topmost_parent(r))).collect();
        relations.sort_unstable();
        relations.dedup();
    }
    relations.push(0);
    let path = pg_sys::fetch_search_path(true);
    relations.extend(crate::nodes::list_oids(path).map(u32::from));
    pg_sys::list_free(path);
    relations
}

/// Parameter values as text, read only through the interface each kind of list offers: a list
/// with a fetch hook (PL/pgSQL's, whose array is not allocated) through `paramFetch`, speculatively
/// (no evaluation with side effects, `params.h`); a plain list from its array. A value whose output
/// function fails is kept as a marker: reading parameters never fails a statement.
unsafe fn param_values(params: pg_sys::ParamListInfo) -> Vec<Option<String>> {
    if params.is_null() {
        return Vec::new();
    }
    let n = (*params).numParams.clamp(0, u16::MAX as i32);
    (1..=n)
        .map(|id| {
            pgrx::PgTryBuilder::new(|| {
                let mut workspace = std::mem::zeroed::<pg_sys::ParamExternData>();
                let p: *const pg_sys::ParamExternData = match (*params).paramFetch {
                    Some(fetch) => pg_sys::ffi::pg_guard_ffi_boundary(|| fetch(params, id, true, &mut workspace)),
                    None => (*params).params.as_ptr().add((id - 1) as usize),
                };
                if p.is_null() || (*p).isnull || (*p).ptype == pg_sys::InvalidOid {
                    return None;
                }
                let (mut out, mut varlena) = (pg_sys::InvalidOid, false);
                pg_sys::getTypeOutputInfo((*p).ptype, &mut out, &mut varlena);
                crate::nodes::cstr(pg_sys::OidOutputFunctionCall(out, (*p).value))
            })
            .catch_others(|_| Some(format!("(parameter ${id} unreadable)")))
            .execute()
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
        if is_session_temp(relid) {
            continue; // this session's scratch: not shared data (writes it triggers are their own nodes)
        }
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

/// Whether a relation is one of this session's temporary tables (no other session's are reachable).
/// Writes to them are not counted toward the blast radius nor scope-checked: they are the agent's
/// own scratch and go with the session. Cascades and triggers into real tables run their own
/// ModifyTable nodes, which count.
pub fn is_session_temp(relid: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup inside a transaction.
    relid != pg_sys::InvalidOid && unsafe { pg_sys::get_rel_persistence(relid) } as u8 == pg_sys::RELPERSISTENCE_TEMP
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
        crate::reasons::internal_failure("counting a statement's rows", "lost track of a write node");
    };
    let slot = crate::hooks::chain::call_down_returning(|| real(node), || {});
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
        if let Text::Client { top, live, .. } = &mut s.text {
            if *top == query_desc {
                *live = false; // the top-level statement ends: its text and parameters go with it
            }
        }
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

/// `COPY … FROM` loaded `n` rows into `relid` (no ModifyTable node saw them): they join the
/// statement's rows at the current (sub)transaction level.
pub fn add_loaded(relid: pg_sys::Oid, n: u64) {
    if n == 0 || is_session_temp(relid) {
        return;
    }
    // SAFETY: a plain read of transaction state.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    with(|s| s.finished.push((level, TableRows { relid, inserted: n, ..TableRows::default() })));
}

/// Swaps the statement state, for `simulate()`: it counts a statement of its own inside the caller's.
pub fn swap(replacement: Statement) -> Statement {
    with(|s| std::mem::replace(s, replacement))
}

/// A statement state for `simulate(sql)`: its approval id is that of `sql` itself.
pub fn fresh_simulation(sql: &str) -> Statement {
    Statement { simulating: true, text: Text::Owned(sql.to_string()), ..Statement::default() }
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
        crate::server_settings::statement_ended();
    }
    if matches!(event, XACT_EVENT_COMMIT | XACT_EVENT_ABORT | XACT_EVENT_PREPARE | XACT_EVENT_PARALLEL_ABORT) {
        XACT_SEQ.set(XACT_SEQ.get().wrapping_add(1));
    }
    STATEMENT.with(|s| {
        let Some(st) = s else { return };
        match event {
            // Every executor of the transaction is gone; what earlier transactions of the same
            // statement committed (a procedure's COMMIT) stays counted.
            XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
                st.counters.clear();
                st.finished.retain(|(level, _)| *level == COMMITTED);
            }
            // A COMMIT inside a running statement (a procedure's or a DO block's): its rows are
            // committed and still count toward the statement's limit; running nodes (a held
            // cursor) go on. A new statement starts its count afresh.
            XACT_EVENT_COMMIT | XACT_EVENT_PREPARE => st.finished.iter_mut().for_each(|(level, _)| *level = COMMITTED),
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
