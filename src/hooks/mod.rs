//! One file per hook. Each hook is a thin entry: gather facts, ask the core for a verdict, raise the
//! refusal or chain to the previous hook (else the standard function). Every hook decides *before*
//! chaining, so a refused statement never starts, whatever runs after us.

pub mod chain;
pub mod executor;
pub mod function;
pub mod utility;

use crate::{gucs, session};
use interdict_core::{Mode, ReasonCode, Settings, Verdict};
use pgrx::pg_sys;

/// The settings decisions use, in the mode [`agent_mode`] chose.
fn settings_for(mode: Mode) -> Settings {
    Settings { mode, ..gucs::settings() }
}

/// Whether this statement's rows are counted: guarded mode, or inside `simulate()`, but never the
/// guard's own SQL.
fn counting_rows() -> bool {
    !is_internal() && crate::rows::counting(gucs::mode())
}

/// Whether the hooks stand aside now: for the guard's own statements on its own tables (see
/// `guard_sql`), for `pg_upgrade` (whose restore must never be refused), and while an extension's
/// script runs (`CREATE EXTENSION` of one a DBA allowed: its script is the DBA's installed code,
/// C functions included; readonly refuses `CREATE EXTENSION` itself).
pub fn is_internal() -> bool {
    // SAFETY: plain reads of process globals.
    crate::guard_sql::on_own_tables() || unsafe { pg_sys::IsBinaryUpgrade || pg_sys::creating_extension }
}

/// The agent mode this statement runs under, or `None` when nothing is to be checked (mode `off`,
/// or `pg_upgrade`, whose restore must never be refused). Locks the session's settings on its first
/// statement, and in readonly forces the transaction read-only so core's own checks
/// (`ExecCheckXactReadOnly`, `PreventCommandIfReadOnly`) back up our classification.
fn agent_mode() -> Option<Mode> {
    // SAFETY: plain reads and writes of backend globals on the backend's thread.
    unsafe {
        if pg_sys::IsBinaryUpgrade || is_internal() {
            return None;
        }
        session::ensure_locked();
        let mut mode = gucs::mode();
        if crate::policy::writes_closed() {
            mode = Mode::Readonly; // a configured policy that is not valid: reads only
        }
        if mode == Mode::Readonly {
            pg_sys::XactReadOnly = true;
        }
        if mode != Mode::Off {
            crate::server_settings::lock(mode); // once: the locks on Postgres' own settings take hold
            crate::stats::checked(mode);
        }
        if mode == Mode::Off && crate::rows::simulating() {
            return Some(Mode::Guarded); // simulate() in a DBA session shows what guarded mode would do
        }
        (mode != Mode::Off).then_some(mode)
    }
}

/// A policy's `write: false` / `read: false` tables. The names are looked up only when the
/// session's policy has table rules.
fn enforce_table_rules(mode: Mode, tables: impl FnOnce() -> (Vec<String>, Vec<String>)) {
    if crate::policy::with_rule(|rule| rule.has_table_rules()) != Some(true) {
        return;
    }
    let (written, read) = tables();
    if let Some(verdict) = crate::policy::with_rule(|rule| rule.decide_tables(mode, &written, &read)) {
        enforce(verdict);
    }
}

/// A dry-run session (`interdict.dry_run`, guarded mode): a refusal of guarded mode's is logged
/// and counted, and the statement goes on. Not inside `simulate()`, which reports refusals itself.
pub fn dry_run_lets_through(refusal: &interdict_core::Refusal) -> bool {
    if !gucs::dry_run() || gucs::mode() != Mode::Guarded || !refusal.code.dry_runnable() || crate::rows::simulating() {
        return false;
    }
    crate::audit::dry_run(refusal);
    crate::stats::bump(interdict_core::stats::Counter::DryRunWouldRefuse, 1);
    true
}

/// Raises a refusal; lets anything else through. A refusal an operator may approve lets the
/// statement through if an approval for it is waiting, and otherwise carries its approval id.
pub fn enforce(verdict: Verdict) {
    enforce_on(verdict, Vec::new)
}

/// [`enforce`] for a statement on `tables` (named only if a policy's table rule needs them).
pub fn enforce_on(verdict: Verdict, tables: impl FnOnce() -> Vec<String>) {
    if let Verdict::Refuse(r) = &verdict {
        if r.code == ReasonCode::GuardedNotReversible && crate::policy::with_rule(|rule| rule.allows_non_reversible()) == Some(true) {
            if crate::rows::simulating() {
                crate::rows::note_unrecordable(); // allowed, but simulate() says it cannot be undone
                return;
            }
            let why = r.fact_value("why").unwrap_or("undo cannot record it");
            pgrx::warning!("interdict: {} cannot be undone: {why}; the policy allows non-reversible writes", r.what);
            return;
        }
    }
    if let Verdict::Refuse(mut refusal) = crate::policy::apply(verdict, tables) {
        if crate::policy::writes_closed() {
            refusal = crate::policy::unavailable(refusal);
        }
        if dry_run_lets_through(&refusal) {
            return;
        }
        if crate::rows::simulating() && refusal.code != ReasonCode::SimulateIrreversible {
            crate::rows::record_refusal(crate::approvals::with_approval_id(refusal));
            return;
        }
        if refusal.approvable() && crate::approvals::approved_override() {
            return;
        }
        crate::reasons::raise(&crate::approvals::with_approval_id(refusal));
    }
}
