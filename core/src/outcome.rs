//! What happens after a verdict: the session's mode in force, which row limit applies, and what a
//! refusal becomes (raised, held for an operator, logged by a dry run, noted by a simulation, or let
//! through with a warning by the policy). The extension's one enforcement seam (`src/enforce.rs`)
//! asks here and only carries the answer out.

use crate::policy::RolePolicy;
use crate::{Mode, ReasonCode, Refusal, Verdict};

/// The session, as far as what happens to a verdict depends on it.
#[derive(Debug, Clone, Default)]
pub struct SessionFacts {
    pub mode: Mode,
    /// `interdict.dry_run` in force.
    pub dry_run: bool,
    /// Inside `interdict.simulate()`.
    pub simulating: bool,
    /// A configured policy that is not valid, in a guarded session: its source and error.
    pub policy_unavailable: Option<(String, String)>,
    /// Inside code an agent role owns, in a session in mode `off`: the function (and its owner).
    pub foreign_code: Option<String>,
}

/// What to do with a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    /// Allowed with a warning: the policy allows writes undo cannot record (the refusal says why).
    Warn(Refusal),
    /// Inside `simulate()`: allowed, but noted as not reversible.
    NoteUnrecordable,
    /// A dry-run session: the refusal is logged and counted, the statement goes on.
    DryRunLog(Refusal),
    /// Inside `simulate()`: a refusal of rows (too many, unscoped, unrecorded) is kept for the report
    /// and the statement goes on, for its exact totals.
    Record(Refusal),
    /// Inside `simulate()`: any other refusal is kept for the report and stops the simulated
    /// statement (what it refused — a C function, an event trigger, a read of a closed table — never
    /// runs, not even in the rolled-back subtransaction).
    Stop(Refusal),
    /// Raised, unless it is approvable and an operator's approval for it is waiting.
    Raise(Refusal),
}

/// The mode a statement runs under: `None` when nothing is checked (mode `off`). A guarded session
/// whose configured policy is not valid reads only; `simulate()` in a session in mode `off` (a
/// DBA's) shows what guarded mode would do.
pub fn effective_mode(configured: Mode, policy_unavailable: bool, simulating: bool) -> Option<Mode> {
    match configured {
        Mode::Guarded if policy_unavailable => Some(Mode::Readonly),
        Mode::Off if simulating => Some(Mode::Guarded),
        Mode::Off => None,
        mode => Some(mode),
    }
}

/// What a verdict becomes in this session under its policy's rule (`rule`; `tables` names the
/// tables the statement acts on, asked only if a table rule sets structural actions).
pub fn outcome(verdict: Verdict, session: &SessionFacts, rule: Option<&RolePolicy>, tables: &mut dyn FnMut() -> Vec<String>) -> Outcome {
    let Verdict::Refuse(refusal) = verdict else { return Outcome::Allow };
    if refusal.code == ReasonCode::GuardedNotReversible && rule.is_some_and(RolePolicy::allows_non_reversible) {
        return if session.simulating { Outcome::NoteUnrecordable } else { Outcome::Warn(refusal) };
    }
    let verdict = match rule {
        Some(rule) => {
            let named = if rule.has_table_structural() { tables() } else { Vec::new() };
            rule.apply(Verdict::Refuse(refusal), &named)
        }
        None => Verdict::Refuse(refusal),
    };
    let Verdict::Refuse(mut refusal) = verdict else { return Outcome::Allow };
    if let Some((source, error)) = &session.policy_unavailable {
        refusal = unavailable(refusal, source, error);
    }
    if let Some(function) = &session.foreign_code {
        return Outcome::Raise(agent_code(refusal, function));
    }
    if session.dry_run && session.mode == Mode::Guarded && refusal.code.dry_runnable() && !session.simulating {
        return Outcome::DryRunLog(refusal);
    }
    if session.simulating && refusal.code != ReasonCode::SimulateIrreversible {
        // Rows written in the rolled-back subtransaction go with it: counting on is what a
        // simulation is for. Anything else refused stays unrun.
        let rows_only = matches!(refusal.code, ReasonCode::GuardedBlastRadius | ReasonCode::GuardedUnscopedWrite | ReasonCode::GuardedNotReversible);
        return if rows_only { Outcome::Record(refusal) } else { Outcome::Stop(refusal) };
    }
    Outcome::Raise(refusal)
}

/// A refusal met while writes are closed, reported as what it is: no valid policy.
fn unavailable(refusal: Refusal, source: &str, error: &str) -> Refusal {
    let mut r = Refusal::new(ReasonCode::PolicyUnavailable, Mode::Guarded, refusal.what.clone())
        .fact("refused_as", refusal.code.reason().code)
        .fact("policy_source", source)
        .fact("policy_error", error);
    r.facts.extend(refusal.facts);
    r
}

/// A refusal met inside code an agent role owns, run in another role's session, reported as what
/// it is (whatever readonly would have called it).
fn agent_code(refusal: Refusal, function: &str) -> Refusal {
    let mut r = Refusal::new(ReasonCode::SystemAgentCode, Mode::Readonly, refusal.what.clone()).fact("agent_function", function);
    if refusal.code != ReasonCode::SystemAgentCode {
        r = r.fact("refused_as", refusal.code.reason().code);
    }
    r.facts.extend(refusal.facts);
    r
}

/// The row limit a statement is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLimits {
    /// Rows the statement may change in all: an operator's approval's, else `interdict.max_rows`.
    pub limit: u64,
    /// Whether an approval set it (the policy's per-table and per-operation limits then no
    /// longer apply).
    pub approved: bool,
    /// Below this many rows no per-table or per-operation limit of the policy can have been passed.
    pub policy_floor: u64,
}

/// Which limit applies: the limit an operator's approval set for the statement (`approved`)
/// replaces the session's `max_rows` and the policy's finer limits.
pub fn row_limit(approved: Option<u64>, max_rows: u64, policy_floor: u64) -> RowLimits {
    match approved {
        Some(limit) => RowLimits { limit, approved: true, policy_floor: u64::MAX },
        None => RowLimits { limit: max_rows, approved: false, policy_floor },
    }
}

/// The limit an operator's approval sets: its `max_rows`, or (`None`) the session's own.
pub fn approved_limit(approval_rows: Option<u64>, max_rows: u64) -> u64 {
    approval_rows.unwrap_or(max_rows)
}

impl RowLimits {
    /// Whether `reached` rows are within every limit without looking further (no table names needed).
    pub fn within(&self, reached: u64) -> bool {
        reached <= self.limit.min(self.policy_floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn guarded() -> SessionFacts {
        SessionFacts { mode: Mode::Guarded, ..SessionFacts::default() }
    }

    fn refuse(code: ReasonCode) -> Verdict {
        Verdict::Refuse(Refusal::new(code, Mode::Guarded, "x"))
    }

    fn rule(yaml: &str) -> RolePolicy {
        Policy::parse(yaml, &["TRUNCATE TABLE"]).unwrap().for_role("agent")
    }

    #[test]
    fn effective_mode_closes_writes_and_simulates() {
        assert_eq!(effective_mode(Mode::Guarded, true, false), Some(Mode::Readonly));
        assert_eq!(effective_mode(Mode::Readonly, true, false), Some(Mode::Readonly));
        assert_eq!(effective_mode(Mode::Off, false, true), Some(Mode::Guarded));
        assert_eq!(effective_mode(Mode::Off, true, false), None);
        assert_eq!(effective_mode(Mode::Guarded, false, true), Some(Mode::Guarded));
    }

    #[test]
    fn refusals_are_raised_logged_or_noted() {
        let mut none = Vec::new;
        assert_eq!(outcome(Verdict::Allow, &guarded(), None, &mut none), Outcome::Allow);
        let raised = outcome(refuse(ReasonCode::GuardedTruncate), &guarded(), None, &mut none);
        assert!(matches!(raised, Outcome::Raise(r) if r.code == ReasonCode::GuardedTruncate));
        let dry = SessionFacts { dry_run: true, ..guarded() };
        assert!(matches!(outcome(refuse(ReasonCode::GuardedTruncate), &dry, None, &mut none), Outcome::DryRunLog(_)));
        assert!(matches!(outcome(refuse(ReasonCode::RecordsProtected), &dry, None, &mut none), Outcome::Raise(_)), "the guard's own protections are never dry-run");
        let sim = SessionFacts { simulating: true, ..guarded() };
        assert!(matches!(outcome(refuse(ReasonCode::GuardedUnscopedWrite), &sim, None, &mut none), Outcome::Record(_)), "rows: counted on");
        assert!(matches!(outcome(refuse(ReasonCode::GuardedTruncate), &sim, None, &mut none), Outcome::Stop(_)));
        assert!(matches!(outcome(refuse(ReasonCode::GuardedUntrustedCode), &sim, None, &mut none), Outcome::Stop(_)));
        assert!(matches!(outcome(refuse(ReasonCode::SimulateIrreversible), &sim, None, &mut none), Outcome::Raise(_)));
        let closed = SessionFacts { policy_unavailable: Some(("file x".into(), "bad".into())), ..guarded() };
        match outcome(refuse(ReasonCode::GuardedTruncate), &closed, None, &mut none) {
            Outcome::Raise(r) => assert_eq!((r.code, r.fact_value("refused_as")), (ReasonCode::PolicyUnavailable, Some("guarded.truncate"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_inside_an_agents_code_elsewhere_say_so() {
        let mut none = Vec::new;
        let elsewhere = SessionFacts { mode: Mode::Off, foreign_code: Some("public.f() of agent".into()), ..SessionFacts::default() };
        match outcome(refuse(ReasonCode::ReadonlyDml), &elsewhere, None, &mut none) {
            Outcome::Raise(r) => {
                assert_eq!((r.code, r.fact_value("refused_as"), r.fact_value("agent_function")), (ReasonCode::SystemAgentCode, Some("readonly.dml"), Some("public.f() of agent")));
                assert!(!r.approvable());
            }
            other => panic!("{other:?}"),
        }
        let dry = SessionFacts { dry_run: true, ..elsewhere };
        assert!(matches!(outcome(refuse(ReasonCode::ReadonlyDml), &dry, None, &mut none), Outcome::Raise(_)), "another role's dry run lets no agent code through");
    }

    #[test]
    fn the_policy_relaxes_and_allows_non_reversible_writes() {
        let asked = std::cell::Cell::new(0);
        let mut tables = || {
            asked.set(asked.get() + 1);
            vec!["public.t".to_string()]
        };
        let allow = rule("version: 1\ndefaults:\n  structural: {unscoped_write: allow}\n  non_reversible: allow\n");
        assert_eq!(outcome(refuse(ReasonCode::GuardedUnscopedWrite), &guarded(), Some(&allow), &mut tables), Outcome::Allow);
        assert!(matches!(outcome(refuse(ReasonCode::GuardedNotReversible), &guarded(), Some(&allow), &mut tables), Outcome::Warn(_)));
        let sim = SessionFacts { simulating: true, ..guarded() };
        assert_eq!(outcome(refuse(ReasonCode::GuardedNotReversible), &sim, Some(&allow), &mut tables), Outcome::NoteUnrecordable);
        assert_eq!(asked.get(), 0, "no table rule: the tables are never named");
        let per_table = rule("version: 1\ndefaults:\n  tables:\n    public.t: {structural: {truncate: refuse}}\n");
        let refused = outcome(refuse(ReasonCode::GuardedTruncate), &guarded(), Some(&per_table), &mut tables);
        assert!(matches!(refused, Outcome::Raise(r) if !r.approvable()));
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn an_approval_replaces_every_limit() {
        let plain = row_limit(None, 1000, 50);
        assert!(plain.within(50) && !plain.within(51) && !plain.approved);
        let approved = row_limit(Some(5000), 1000, 50);
        assert_eq!(approved, RowLimits { limit: 5000, approved: true, policy_floor: u64::MAX });
        assert!(approved.within(5000) && !approved.within(5001));
        assert_eq!(approved_limit(None, 1000), 1000, "an approval without max_rows: the session's own limit");
        assert_eq!(approved_limit(Some(7), 1000), 7);
    }
}
