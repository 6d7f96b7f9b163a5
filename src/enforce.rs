//! The one enforcement seam. Every hook gathers its facts, asks the core for a verdict, and hands
//! the verdict here; `interdict_core::outcome` decides what it becomes in this session (raised,
//! held for an operator, logged by a dry run, noted by a simulation, let through with a warning),
//! and this file only carries that out.

use crate::{approvals, audit, policy, reasons, settings, statement, stats};
use interdict_core::outcome::{effective_mode, outcome, Outcome, SessionFacts};
use interdict_core::stats::Counter;
use interdict_core::{Mode, ReasonCode, Refusal, Settings, Verdict};
use pgrx::pg_sys;

/// The session's mode, except in a session in mode `off` (a DBA's, an operator's): inside code an
/// agent role owns it is readonly (`agent_code.rs`), and while `interdict.revert()` runs the
/// reverted tables' code is judged as in guarded mode, where triggers off let it do only what
/// readonly may (`guarded.bypass`).
pub fn configured_mode() -> Mode {
    match settings::mode() {
        Mode::Off if crate::agent_code::inside().is_some() => Mode::Readonly,
        Mode::Off if crate::guard_sql::reverting() => Mode::Guarded,
        mode => mode,
    }
}

/// Inside code an agent role owns, in a session in mode `off`: the function running.
pub fn foreign_code() -> Option<pg_sys::Oid> {
    crate::agent_code::inside().filter(|_| settings::mode() == Mode::Off)
}

/// The mode the session's checks run under now, ignoring `simulate()`: `None` in mode `off`.
pub fn session_mode() -> Option<Mode> {
    effective_mode(configured_mode(), policy::unavailable().is_some(), false)
}

/// The mode this statement runs under, or `None` when nothing is to be checked (mode `off`, the
/// guard's own statements, `pg_upgrade`). Locks the session's settings on its first statement, and
/// in readonly forces the transaction read-only so core's own checks (`ExecCheckXactReadOnly`,
/// `PreventCommandIfReadOnly`) back up our classification.
pub fn agent_mode() -> Option<Mode> {
    if crate::guard_sql::is_internal() {
        return None;
    }
    crate::session::ensure_locked();
    let configured = configured_mode();
    let mode = effective_mode(configured, policy::unavailable().is_some(), statement::simulating());
    if mode == Some(Mode::Readonly) && settings::mode() != Mode::Off {
        // SAFETY: a plain write of a backend global. (Never in another role's session, whose
        // transaction goes on after the agent's code returns.)
        unsafe { pg_sys::XactReadOnly = true };
    }
    if settings::mode() != Mode::Off {
        let locked = mode.unwrap_or(configured);
        crate::server_settings::lock(locked); // once: the locks on Postgres' own settings take hold
        stats::checked(locked);
    }
    mode
}

/// PostgreSQL 13–16 have no `transaction_timeout`: in an agent session, a statement that starts in a
/// transaction older than `interdict.max_transaction_timeout` is refused (`ceiling.transaction_timeout`),
/// which ends the transaction and releases its locks (a transaction that keeps running statements
/// would otherwise hold them past every other ceiling). Transaction control passes (`ROLLBACK` ends
/// it). From 17, Postgres' own `transaction_timeout`, capped at the ceiling, ends it at the ceiling.
pub fn transaction_ceiling(mode: Mode) {
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16"))]
    {
        let ceiling = settings::ceilings()[3];
        if ceiling.0 == 0 {
            return;
        }
        // SAFETY: plain reads of the clock and of the transaction's start.
        let age_ms = unsafe { (pg_sys::GetCurrentTimestamp() - pg_sys::GetCurrentTransactionStartTimestamp()) / 1000 };
        if age_ms > ceiling.0 as i64 {
            let refusal = Refusal::new(ReasonCode::CeilingTransactionTimeout, mode, "a statement in a transaction older than the ceiling")
                .fact("setting", "interdict.max_transaction_timeout")
                .fact("ceiling", ceiling.render())
                .fact("transaction_ms", age_ms.to_string());
            crate::reasons::raise(&refusal);
        }
    }
    #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16")))]
    let _ = mode;
}

/// Locks the session, its interdict settings and Postgres' own, if it has not locked yet: called
/// on every object access, so that nothing runs before the lock closes — a fastpath function call
/// (libpq's `PQfn`) as a session's first message reaches no other hook.
pub fn lock_now() {
    if crate::guard_sql::is_internal() {
        return;
    }
    crate::session::ensure_locked();
    let configured = settings::mode();
    if configured != Mode::Off && settings::is_locked() {
        crate::server_settings::lock(session_mode().unwrap_or(configured));
    }
}

/// The settings decisions use, in the mode [`agent_mode`] chose.
pub fn settings_for(mode: Mode) -> Settings {
    Settings { mode, foreign_code: foreign_code().is_some(), ..settings::settings() }
}

/// Whether this statement's rows are counted: guarded mode, or inside `simulate()`, but never the
/// guard's own SQL.
pub fn counting_rows() -> bool {
    !crate::guard_sql::is_internal() && (settings::mode() == Mode::Guarded || statement::simulating())
}

/// The session, as `interdict_core::outcome` needs it.
fn session_facts() -> SessionFacts {
    let mode = settings::mode();
    SessionFacts {
        mode,
        dry_run: settings::dry_run(),
        simulating: statement::simulating(),
        policy_unavailable: if mode == Mode::Guarded { policy::unavailable() } else { None },
        foreign_code: foreign_code().map(crate::agent_code::describe),
    }
}

/// Carries a verdict out; lets anything allowed through.
pub fn enforce(verdict: Verdict) {
    enforce_on(verdict, Vec::new)
}

/// [`enforce`] for a statement on `tables` (named only if a policy's table rule needs them).
pub fn enforce_on(verdict: Verdict, tables: impl FnOnce() -> Vec<String>) {
    if verdict.is_allowed() {
        return;
    }
    let mut tables = Some(tables);
    let mut named = || tables.take().map(|f| f()).unwrap_or_default();
    let decided = policy::with_session_rule(|rule| outcome(verdict, &session_facts(), rule, &mut named));
    match decided {
        Outcome::Allow => {}
        Outcome::Warn(r) => {
            let why = r.fact_value("why").unwrap_or("undo cannot record it");
            pgrx::warning!("interdict: {} cannot be undone: {why}; the policy allows non-reversible writes", r.what);
        }
        Outcome::NoteUnrecordable => statement::note_unrecordable(),
        Outcome::DryRunLog(r) => dry_run_log(&r),
        Outcome::Record(r) => statement::record_refusal(approvals::with_approval_id(r)),
        Outcome::Stop(r) => {
            let r = approvals::with_approval_id(r);
            statement::record_refusal(r.clone());
            reasons::raise(&r) // simulate() reports the refusal it recorded; the statement stops here
        }
        Outcome::Raise(r) => {
            if r.approvable() && approvals::approved_override(r.code) {
                return; // an operator's approval for this very statement was waiting: consumed
            }
            reasons::raise(&approvals::with_approval_id(r))
        }
    }
}

/// A blast-radius refusal (the approval store was asked already): raised, or in a dry-run session
/// logged once (returns `true`: the statement goes on without a limit).
pub fn rows_refused(refusal: Refusal) -> bool {
    let refusal = approvals::with_approval_id(refusal);
    let session = session_facts();
    match outcome(Verdict::Refuse(refusal), &SessionFacts { policy_unavailable: None, ..session }, None, &mut Vec::new) {
        Outcome::DryRunLog(r) => {
            dry_run_log(&r);
            true
        }
        Outcome::Raise(r) | Outcome::Record(r) | Outcome::Stop(r) | Outcome::Warn(r) => reasons::raise(&r),
        Outcome::Allow | Outcome::NoteUnrecordable => false,
    }
}

fn dry_run_log(refusal: &Refusal) {
    audit::dry_run(refusal);
    stats::bump(Counter::DryRunWouldRefuse, 1);
}

/// A policy's `write: false` / `read: false` tables. The names are looked up only when the
/// session's policy has table rules.
pub fn table_rules(mode: Mode, tables: impl FnOnce() -> (Vec<String>, Vec<String>)) {
    if policy::with_rule(|rule| rule.has_table_rules()) != Some(true) {
        return;
    }
    let (written, read) = tables();
    if let Some(verdict) = policy::with_rule(|rule| rule.decide_tables(mode, &written, &read)) {
        enforce(verdict);
    }
}

/// A rename or move that takes a relation out of the policy's table rule for it (`renamed`: the
/// relations it renames, `schema.name` now and after), asked only under a policy with table rules.
pub fn renames_under_rules(mode: Mode, renamed: impl FnOnce() -> Vec<(String, String)>) {
    if policy::with_rule(|rule| rule.has_table_rules()) != Some(true) {
        return;
    }
    let renamed = renamed();
    if let Some(verdict) = policy::with_rule(|rule| rule.decide_renamed(mode, &renamed)) {
        enforce(verdict);
    }
}

/// Guarded mode: refuses writing relations undo cannot record (unless the policy allows it, with a
/// warning). Asked for every statement's result relations, nested ones included (cascades, trigger
/// writes, functions), and for `COPY FROM`. In a simulation the refusal is noted, not raised.
pub fn recordable_writes(relids: impl Iterator<Item = pg_sys::Oid>) {
    for relid in relids {
        // The guard's records and Postgres' catalogs are never written from an agent session, by
        // any command (COPY included), approval or not.
        // SAFETY: catalog lookups inside a transaction.
        let (guard, system) = unsafe { (crate::facts::guard_objects::is_guard_relation(relid), u32::from(relid) < pg_sys::FirstNormalObjectId) };
        if guard || system {
            let table = unsafe { crate::nodes::relation_name(relid) }.unwrap_or_default();
            let refusal = match guard {
                true => Refusal::new(ReasonCode::GuardedGuardSchema, Mode::Guarded, format!("writing {table}")),
                false => Refusal::new(ReasonCode::SystemProtected, Mode::Guarded, format!("writing the system catalog {table}")),
            };
            enforce(Verdict::Refuse(refusal.fact("relation", table)));
        }
        let Some(why) = crate::undo::not_recordable(relid) else { continue };
        // SAFETY: a catalog lookup inside a transaction.
        let table = unsafe { crate::nodes::relation_name(relid) }.unwrap_or_default();
        let refusal = Refusal::new(ReasonCode::GuardedNotReversible, Mode::Guarded, format!("writing {table}"))
            .fact("relation", table)
            .fact("why", why);
        enforce(Verdict::Refuse(refusal));
    }
}
