//! `interdict.simulate(sql)`: what a statement would do, without doing it.
//!
//! Exactly one statement. In readonly mode it is only planned: the verdict and the planner's estimate.
//! Otherwise it runs inside a subtransaction that is always rolled back, with the row counters of
//! `statement.rs` counting exactly (no limit: a statement over it runs to its end, for its totals),
//! the first refusal recorded for the report — one of rows (too many, unscoped, unrecorded) lets the
//! statement go on for its totals; any other stops it (what it refused never runs, not even to be
//! rolled back) — what a rollback cannot undo refused outright, and a time box
//! (`interdict.simulate_timeout`, also used as `lock_timeout`). In mode `off` it shows what a guarded
//! session would get.

use crate::facts::plan::plan_facts;
use crate::facts::utility::{executed_query, executed_utility, utility_facts};
use crate::nodes::{list_ptrs, relation_name};
use crate::statement::{self, TableRows};
use crate::{approvals, settings};
use interdict_core::{decide_plan, decide_rows, decide_utility, Mode, ReasonCode, Refusal, Settings, Verdict};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::PgTryBuilder;
use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::time::Instant;

use crate::server_settings::{disable_timeout, enable_timeout_after, STATEMENT_TIMEOUT};
use pgrx::pg_sys::StatementTimeout;

pub fn simulate(sql: &str) -> Value {
    crate::stats::bump(interdict_core::stats::Counter::Simulations, 1);
    let csql = CString::new(sql).unwrap_or_else(|_| raise_statements(sql, "contains a NUL byte".into()));
    // SAFETY: the raw parser on a NUL-terminated string; syntax errors are Postgres' own ERRORs.
    let parsed = unsafe { pg_sys::pg_parse_query(csql.as_ptr()) };
    let count = unsafe { list_ptrs::<pg_sys::RawStmt>(parsed).count() };
    if count != 1 {
        raise_statements(sql, format!("{count} statements"));
    }
    let mode = settings::mode();
    let settings = Settings { mode: if mode == Mode::Off { Mode::Guarded } else { mode }, ..settings::settings() };
    let mut report = Map::new();
    report.insert("statement".into(), json!(interdict_core::approval::normalize(sql)));
    report.insert("mode".into(), json!(mode.as_str()));
    if let Some(refusal) = unsimulable(parsed, mode) {
        report.insert("executed".into(), json!(false));
        report.extend(verdict_of(&refusal).as_object().cloned().unwrap_or_default());
        return Value::Object(report);
    }
    if mode == Mode::Readonly {
        return plan_only(csql.as_ptr(), parsed, &settings, report);
    }
    let started = Instant::now();
    let (outcome, tables, seen, approval_id) = run_rolled_back(&csql, &settings);
    let statement::Seen { estimate, would_refuse, sequence_moved, unrecordable } = seen;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let total: u64 = tables.iter().map(|t| t.inserted + t.updated + t.deleted).sum();
    let verdict = match (&outcome, would_refuse) {
        (_, Some(refusal)) => verdict_of(&refusal), // the first refusal (which may have stopped the statement)
        (Err(failure), None) => failure.clone(),
        (Ok(()), None) => match crate::blast::excess(&tables, &interdict_core::outcome::row_limit(None, settings.max_rows.0, u64::MAX), estimate) {
            None => json!({ "verdict": "allowed" }),
            Some(facts) => match decide_rows(settings.mode, &facts) {
                Verdict::Refuse(r) => verdict_of(&r.fact("approval_id", approval_id)),
                Verdict::Allow => json!({ "verdict": "allowed" }),
            }
        }
    };
    let obj = &mut report;
    obj.insert("executed".into(), json!(true));
    obj.extend(verdict.as_object().cloned().unwrap_or_default());
    obj.insert("rows".into(), json!({ "total": total, "tables": tables.iter().map(table_json).collect::<Vec<_>>() }));
    obj.insert("max_rows".into(), json!(settings.max_rows.0));
    obj.insert("planner_estimate".into(), json!(estimate.map(|e| e.round() as u64)));
    // Whether undo could record the real run, so that interdict.revert() could take it back.
    obj.insert("reversible".into(), json!(outcome.is_ok() && !unrecordable));
    obj.insert("sequences_may_have_advanced".into(), json!(sequence_moved));
    obj.insert("elapsed_ms".into(), json!((elapsed_ms * 1000.0).round() / 1000.0));
    Value::Object(report)
}

/// Transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, …) would end or split the
/// subtransaction a simulation rolls back; SPI refuses to run it at all (`SPI_ERROR_TRANSACTION`),
/// before any hook sees it. Refused here with the reason simulations give for what a rollback
/// cannot undo, naming the command.
fn unsimulable(parsed: *mut pg_sys::List, mode: Mode) -> Option<Refusal> {
    // SAFETY: `parsed` is the raw parser's list of one statement.
    unsafe {
        let raw = list_ptrs::<pg_sys::RawStmt>(parsed).next()?;
        let node = (*raw).stmt;
        if !crate::nodes::is_a(node, pg_sys::NodeTag::T_TransactionStmt) {
            return None;
        }
        let tag = utility_facts(node, false).tag;
        Some(Refusal::new(ReasonCode::SimulateIrreversible, mode, format!("{tag} in a simulation")).fact("command", tag))
    }
}

fn raise_statements(sql: &str, found: String) -> ! {
    crate::reasons::raise(
        &Refusal::new(ReasonCode::SimulateStatements, settings::mode(), format!("simulate() of {found}"))
            .fact("statements", found)
            .fact("statement", sql.chars().take(200).collect::<String>()),
    )
}

fn verdict_of(refusal: &Refusal) -> Value {
    let facts: serde_json::Map<String, Value> = refusal.facts.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let needs_approval = refusal.approvable();
    json!({
        "verdict": if needs_approval { "needs_approval" } else { "refused" },
        "reason": refusal.code.reason().code,
        "message": refusal.message(),
        "hint": refusal.hint(),
        "approval_id": facts.get("approval_id").cloned().unwrap_or(Value::Null),
        "facts": facts,
    })
}

fn table_json(t: &TableRows) -> Value {
    // SAFETY: catalog lookup inside a transaction.
    let name = unsafe { relation_name(t.relid) }.unwrap_or_else(|| format!("oid {}", u32::from(t.relid)));
    json!({ "table": name, "inserted": t.inserted, "updated": t.updated, "deleted": t.deleted })
}

type Ran = (Result<(), Value>, Vec<TableRows>, statement::Seen, String);

/// Runs `sql` in a subtransaction that is always rolled back, counting its rows.
fn run_rolled_back(sql: &CString, settings: &Settings) -> Ran {
    let timeout_ms = settings.simulate_timeout.0.min(i32::MAX as u64) as i32;
    // The caller's statement state is put back however the run ends (an error escaping it too).
    struct PutBack(Option<statement::Statement>);
    impl Drop for PutBack {
        fn drop(&mut self) {
            if let Some(saved) = self.0.take() {
                statement::swap(saved);
            }
        }
    }
    let put_back = PutBack(Some(statement::swap(statement::fresh_simulation(&sql.to_string_lossy()))));
    let (outcome, tables, seen, approval_id) = in_rolled_back_subtransaction(|| {
        // Within the session's lock_timeout ceiling (agent modes refuse a higher lock_timeout).
        let lock_ms = if settings::mode() == Mode::Off { timeout_ms as u64 } else { settings::ceilings()[1].clamp(timeout_ms as u64) };
        // SAFETY: SET LOCAL and the statement timer, inside the subtransaction.
        unsafe {
            set_local("lock_timeout", &format!("{lock_ms}ms"));
            let left = if StatementTimeout > 0 { statement_time_left().max(1) } else { i32::MAX };
            enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms.min(left));
        }
        let sql_text = sql.to_string_lossy().into_owned();
        let outcome = PgTryBuilder::new(|| {
            pgrx::spi::Spi::run(&sql_text).map_err(|e| json!({ "verdict": "error", "message": e.to_string() }))
        })
        .catch_others(|e| Err(failure(e)))
        .execute();
        // SAFETY: the timer armed above.
        unsafe { disable_timeout(STATEMENT_TIMEOUT, false) };
        // Of `sql`'s row limit, while its statement state is in place.
        let approval_id = approvals::current_id(ReasonCode::GuardedBlastRadius).text;
        (outcome, statement::tables(), statement::seen(), approval_id)
    });
    drop(put_back);
    // SAFETY: a plain read of the setting; the statement timer re-armed.
    if unsafe { StatementTimeout } > 0 {
        // The caller's own, with what was left of it (a statement calling simulate() per row
        // would otherwise run past its timeout, and past the ceiling on it).
        unsafe { enable_timeout_after(STATEMENT_TIMEOUT, statement_time_left().max(1)) };
    }
    let changed = tables.into_iter().filter(|t| t.inserted + t.updated + t.deleted > 0).collect();
    (outcome, changed, seen, approval_id)
}

/// Runs `f` in a subtransaction that is rolled back after (also when `f` raises: the error then
/// goes on), with what `f` allocates in the caller's memory context.
fn in_rolled_back_subtransaction<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: the subtransaction pattern of plpgsql's exception blocks (pl_exec.c:
    // exec_stmt_block): remember context and owner, begin, run, roll back, restore.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        let f = std::panic::AssertUnwindSafe(f);
        let out = PgTryBuilder::new(move || Ok(f())).catch_others(Err).execute();
        pg_sys::RollbackAndReleaseCurrentSubTransaction();
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
        out.unwrap_or_else(|e: CaughtError| e.rethrow())
    }
}

/// Milliseconds of the caller's statement_timeout not yet spent by its statement.
fn statement_time_left() -> i32 {
    // SAFETY: plain reads of backend state.
    let spent_ms = unsafe { (pg_sys::GetCurrentTimestamp() - pg_sys::GetCurrentStatementStartTimestamp()) / 1000 };
    // SAFETY: as above.
    (i64::from(unsafe { StatementTimeout }) - spent_ms).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// A failed simulation: refused outright, timed out, or an error the statement would raise.
fn failure(e: CaughtError) -> Value {
    let report = match &e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) | CaughtError::RustPanic { ereport: r, .. } => r,
    };
    let sqlstate = crate::reasons::sqlstate_text(report.sql_error_code() as i32);
    if let Some(detail) = report.detail().and_then(|d| serde_json::from_str::<Value>(d).ok()) {
        if let Some(code) = detail.get("reason").and_then(Value::as_str) {
            return json!({ "verdict": "refused", "reason": code, "message": report.message(), "facts": detail });
        }
    }
    if report.sql_error_code() == pgrx::PgSqlErrorCode::ERRCODE_QUERY_CANCELED
        || report.sql_error_code() == pgrx::PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE
    {
        return json!({ "verdict": "timeout", "message": report.message(), "hint": "Raise interdict.simulate_timeout (a DBA setting), or simulate a smaller statement." });
    }
    json!({ "verdict": "error", "message": report.message(), "sqlstate": sqlstate, "detail": report.detail() })
}

/// `SET LOCAL name = value`, undone with the subtransaction.
unsafe fn set_local(name: &str, value: &str) {
    let (name, value) = (CString::new(name).unwrap_or_default(), CString::new(value).unwrap_or_default());
    pg_sys::set_config_option(
        name.as_ptr(),
        value.as_ptr(),
        pg_sys::GucContext::PGC_USERSET,
        pg_sys::GucSource::PGC_S_SESSION,
        pg_sys::GucAction::GUC_ACTION_LOCAL,
        true,
        0,
        false,
    );
}

/// Readonly sessions never execute a write, not even to roll it back: plan it and judge the plan.
fn plan_only(sql: *const std::ffi::c_char, parsed: *mut pg_sys::List, settings: &Settings, mut report: Map<String, Value>) -> Value {
    // SAFETY: analysis and planning of one raw statement, as exec_simple_query does, in a
    // subtransaction rolled back after: the locks planning takes (ROW EXCLUSIVE on a DELETE's
    // table) go with it, never held by a readonly session to its transaction's end.
    let (verdict, estimate) = in_rolled_back_subtransaction(|| unsafe {
        let Some(raw) = list_ptrs::<pg_sys::RawStmt>(parsed).next() else { raise_statements("", "no statement".into()) };
        let planned = pg_sys::pg_plan_queries(analyze(raw, sql), sql, pg_sys::CURSOR_OPT_PARALLEL_OK as i32, std::ptr::null_mut());
        let mut verdict = Verdict::Allow;
        let mut estimate = None;
        for pstmt in list_ptrs::<pg_sys::PlannedStmt>(planned) {
            let v = if (*pstmt).commandType == pg_sys::CmdType::CMD_UTILITY {
                // What the statement runs, as the hooks judge it when it runs: `EXPLAIN ANALYZE`
                // of a write or of `CREATE TABLE … AS` runs it.
                let mut node = (*pstmt).utilityStmt;
                let mut v = Verdict::Allow;
                while !node.is_null() && v.is_allowed() {
                    v = decide_utility(settings, &utility_facts(node, false));
                    if let (true, Some(query)) = (v.is_allowed(), executed_query(node)) {
                        // Analysed, not yet rewritten (ExplainQuery rewrites it as it runs).
                        for q in list_ptrs::<pg_sys::Query>(pg_sys::QueryRewrite(query)) {
                            if !v.is_allowed() {
                                break;
                            }
                            v = if (*q).commandType == pg_sys::CmdType::CMD_UTILITY {
                                decide_utility(settings, &utility_facts((*q).utilityStmt, false))
                            } else {
                                let inner = pg_sys::pg_plan_query(q, sql, pg_sys::CURSOR_OPT_PARALLEL_OK as i32, std::ptr::null_mut());
                                decide_plan(settings, &plan_facts(inner, false, false))
                            };
                        }
                    }
                    node = executed_utility(node);
                }
                v
            } else {
                let top = (*pstmt).planTree;
                let counted = if (*top).type_ == pg_sys::NodeTag::T_ModifyTable { (*top).lefttree } else { top };
                estimate.get_or_insert((*counted).plan_rows);
                decide_plan(settings, &plan_facts(pstmt, false, false))
            };
            if verdict.is_allowed() {
                verdict = v;
            }
        }
        (verdict, estimate)
    });
    let obj = &mut report;
    obj.insert("executed".into(), json!(false));
    match verdict {
        Verdict::Refuse(r) => obj.extend(verdict_of(&r).as_object().cloned().unwrap_or_default()),
        Verdict::Allow => {
            obj.insert("verdict".into(), json!("allowed"));
        }
    }
    obj.insert("planner_estimate".into(), json!(estimate.map(|e: f64| e.round() as u64)));
    obj.insert("note".into(), json!("readonly sessions only plan the statement; functions it calls are judged when it runs"));
    Value::Object(report)
}

#[cfg(any(feature = "pg13", feature = "pg14"))]
unsafe fn analyze(raw: *mut pg_sys::RawStmt, sql: *const std::ffi::c_char) -> *mut pg_sys::List {
    pg_sys::pg_analyze_and_rewrite(raw, sql, std::ptr::null_mut(), 0, std::ptr::null_mut())
}

#[cfg(not(any(feature = "pg13", feature = "pg14")))]
unsafe fn analyze(raw: *mut pg_sys::RawStmt, sql: *const std::ffi::c_char) -> *mut pg_sys::List {
    pg_sys::pg_analyze_and_rewrite_fixedparams(raw, sql, std::ptr::null_mut(), 0, std::ptr::null_mut())
}
