//! The executor hooks: every planned statement the executor runs — top level, `EXECUTE`,
//! `EXPLAIN ANALYZE`, cursors, SPI inside functions, `DO`, procedures, triggers and foreign-key
//! cascades.
//!
//! - `ExecutorStart` decides on the plan *before* chaining (a refused statement never starts), then,
//!   when rows are counted (guarded mode, `simulate()`), puts a counter on each ModifyTable node.
//! - `ExecutorRun`/`ExecutorFinish` mark the nesting depth, so nested statements count toward the
//!   top-level one; `ExecutorFinish` (where AFTER triggers and cascades run) checks the limit again.
//! - `ExecutorEnd` folds the statement's counters into its totals before the executor state is freed.
//!
//! Only `ExecutorStart` is registered at load. The other three matter only while rows are counted,
//! so they are registered the first time a statement is counted: sessions in mode `off` or
//! `readonly` never pay for them (each call through a pgrx guard measured about 0.3% of a
//! `pgbench -S` backend's time).

use crate::cell::BackendCell;
use crate::facts::plan::{plan_facts, plan_tables};
use crate::{blast, statement};
use crate::chain;
use interdict_core::{decide_plan, Mode};
use pgrx::pg_sys;

static PREV_START: BackendCell<pg_sys::ExecutorStart_hook_type> = BackendCell::new(None);
static PREV_RUN: BackendCell<pg_sys::ExecutorRun_hook_type> = BackendCell::new(None);
static PREV_FINISH: BackendCell<pg_sys::ExecutorFinish_hook_type> = BackendCell::new(None);
static PREV_END: BackendCell<pg_sys::ExecutorEnd_hook_type> = BackendCell::new(None);

static COUNTING_HOOKS: BackendCell<bool> = BackendCell::new(false);

/// The plan our `ExecutorStart` is starting, while Postgres initialises it: the function-execute
/// hook (called from `ExecInitFunc`) reads the arguments of a call there (`facts/calls.rs`).
static STARTING: BackendCell<(*mut pg_sys::QueryDesc, u64)> = BackendCell::new((std::ptr::null_mut(), 0));
/// Plans started so far in this process: each start's number (a cached plan starts many times).
static STARTS: BackendCell<u64> = BackendCell::new(0);

/// A plan being started: its statement, and which start of it this is.
pub struct Starting {
    pub pstmt: *mut pg_sys::PlannedStmt,
    pub start: u64,
}

/// The plan being started now, if the function-execute hook is called from its initialisation:
/// the expression is being built in the plan's own memory (`es_query_cxt`, where
/// `standard_ExecutorStart` initialises every node). Code a function runs meanwhile (a STABLE
/// PL/pgSQL function partition pruning calls as the plan starts) builds its simple expressions in
/// PL/pgSQL's own executor state, with no plan of its own: those are not this plan's calls, and a
/// decision that reads a call's arguments from the plan (a constant path, a signal to the session's
/// own process, the sequence `setval` names) must not read them from here.
pub fn starting() -> Option<Starting> {
    let (query_desc, start) = STARTING.get();
    // SAFETY: STARTING is the QueryDesc whose ExecutorStart is on the stack (reset as it returns or
    // fails); its estate, once made, lives until ExecutorEnd.
    unsafe {
        let estate = if query_desc.is_null() { std::ptr::null_mut() } else { (*query_desc).estate };
        (!estate.is_null() && (*estate).es_query_cxt == pg_sys::CurrentMemoryContext).then(|| Starting { pstmt: (*query_desc).plannedstmt, start })
    }
}

pub fn register() {
    // SAFETY: called once per process from _PG_init; we keep the previous hook and chain to it.
    unsafe {
        PREV_START.set(pg_sys::ExecutorStart_hook);
        pg_sys::ExecutorStart_hook = Some(executor_start);
    }
}

/// Registers the hooks that count rows, once per process, before the first counted statement runs.
/// Registered late, they chain to whatever was registered before them, like any other hook.
fn register_counting_hooks() {
    if COUNTING_HOOKS.get() {
        return;
    }
    COUNTING_HOOKS.set(true);
    // SAFETY: backend's only thread; we keep the previous hooks and chain to them.
    unsafe {
        PREV_RUN.set(pg_sys::ExecutorRun_hook);
        pg_sys::ExecutorRun_hook = Some(executor_run);
        PREV_FINISH.set(pg_sys::ExecutorFinish_hook);
        pg_sys::ExecutorFinish_hook = Some(executor_finish);
        PREV_END.set(pg_sys::ExecutorEnd_hook);
        pg_sys::ExecutorEnd_hook = Some(executor_end);
    }
}

/// Decide before chaining. Returns whether to count the statement's rows once it has started.
unsafe fn before_start(query_desc: *mut pg_sys::QueryDesc, eflags: i32) -> bool {
    if crate::guard_sql::is_own_statement((*query_desc).sourceText) {
        return false; // the guard's own statement on a user table (undo's revert): see guard_sql
    }
    let mode = crate::enforce::agent_mode();
    let count = crate::enforce::counting_rows();
    let explain_only = eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 != 0;
    if count {
        register_counting_hooks();
        if statement::begin_if_top_level((*query_desc).sourceText, (*query_desc).plannedstmt, (*query_desc).params, query_desc) {
            crate::undo::statement_begins(); // a new statement gets its own change
        }
    }
    if let Some(mode) = mode {
        crate::enforce::transaction_ceiling(mode);
        let pstmt = (*query_desc).plannedstmt;
        let _judging = statement::judging((*query_desc).sourceText, (*pstmt).stmt_location, (*pstmt).stmt_len, (*query_desc).params);
        let facts = plan_facts((*query_desc).plannedstmt, explain_only, mode == Mode::Guarded);
        crate::enforce::enforce_on(decide_plan(&crate::enforce::settings_for(mode), &facts), || plan_tables((*query_desc).plannedstmt).0);
        if !explain_only {
            crate::enforce::table_rules(mode, || plan_tables((*query_desc).plannedstmt));
            if mode == Mode::Guarded && !(*(*query_desc).plannedstmt).resultRelations.is_null() {
                crate::enforce::recordable_writes(crate::undo::plan_writes((*query_desc).plannedstmt));
            }
        }
    }
    let count = count && !explain_only;
    if count {
        blast::instrument_conflicts(query_desc);
    }
    if statement::simulating() && !explain_only && crate::facts::calls::draws_identity((*query_desc).plannedstmt) {
        statement::note_sequence_moved(); // an identity column's sequence moves, and stays moved
    }
    count
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn executor_start(query_desc: *mut pg_sys::QueryDesc, eflags: i32) {
    let count = before_start(query_desc, eflags);
    let prev = PREV_START.get();
    let outer = STARTING.get();
    STARTS.set(STARTS.get().wrapping_add(1));
    STARTING.set((query_desc, STARTS.get()));
    // What runs while the plan starts (a function run-time partition pruning calls) is part of
    // this statement, not a new top-level one.
    let entered = enter();
    chain::call_down(
        || match prev {
            Some(prev) => prev(query_desc, eflags),
            None => chain::standard_ExecutorStart(query_desc, eflags),
        },
        || {
            statement::leave(entered);
            STARTING.set(outer)
        },
    );
    statement::leave(entered);
    STARTING.set(outer);
    if count {
        blast::watch(query_desc);
    }
}

/// Enters one level of statement nesting while rows are counted; returns whether it did.
fn enter() -> bool {
    let counting = crate::enforce::counting_rows();
    if counting {
        statement::enter();
    }
    counting
}

#[cfg(not(feature = "pg18"))]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn executor_run(
    query_desc: *mut pg_sys::QueryDesc,
    direction: pg_sys::ScanDirection::Type,
    count: u64,
    execute_once: bool,
) {
    resume(query_desc);
    let entered = enter();
    let prev = PREV_RUN.get();
    chain::call_down(
        || match prev {
            Some(prev) => prev(query_desc, direction, count, execute_once),
            None => chain::standard_ExecutorRun(query_desc, direction, count, execute_once),
        },
        || statement::leave(entered),
    );
    statement::leave(entered);
    ran(entered);
}

#[cfg(feature = "pg18")]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn executor_run(query_desc: *mut pg_sys::QueryDesc, direction: pg_sys::ScanDirection::Type, count: u64) {
    resume(query_desc);
    let entered = enter();
    let prev = PREV_RUN.get();
    chain::call_down(
        || match prev {
            Some(prev) => prev(query_desc, direction, count),
            None => chain::standard_ExecutorRun(query_desc, direction, count),
        },
        || statement::leave(entered),
    );
    statement::leave(entered);
    ran(entered);
}

/// Before a run: a top-level portal run again after another statement began is a statement of its
/// own (see `statement::resume_if_other`).
unsafe fn resume(query_desc: *mut pg_sys::QueryDesc) {
    if crate::enforce::counting_rows() && statement::resume_if_other(query_desc) {
        crate::undo::statement_begins();
    }
}

/// After a run: rows a top-level run captured (a function's writes) are written to its change now,
/// not left for whichever statement ends next (a portal run in pieces may be followed by another).
fn ran(entered: bool) {
    if entered && statement::at_top_level() {
        crate::undo::flush(false);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn executor_finish(query_desc: *mut pg_sys::QueryDesc) {
    let entered = enter();
    let prev = PREV_FINISH.get();
    chain::call_down(
        || match prev {
            Some(prev) => prev(query_desc),
            None => chain::standard_ExecutorFinish(query_desc),
        },
        || statement::leave(entered),
    );
    statement::leave(entered);
    if entered {
        blast::check_limit();
        if statement::at_top_level() {
            crate::undo::flush(false); // the statement's rows, cascades and AFTER triggers included
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn executor_end(query_desc: *mut pg_sys::QueryDesc) {
    statement::fold_node(query_desc);
    let prev = PREV_END.get();
    chain::call_down(
        || match prev {
            Some(prev) => prev(query_desc),
            None => chain::standard_ExecutorEnd(query_desc),
        },
        || {},
    );
}
