//! Interdict's decision core: plain facts about a statement plus the session's settings go in, a
//! [`Verdict`] comes out. Nothing here knows about pgrx or Postgres memory; the extension's hooks
//! gather the facts from Postgres' own trees and raise the verdict's error.
//!
//! Modules:
//! - [`mode`]: the session modes and their order (`off` < `guarded` < `readonly`).
//! - [`lock`]: the "tighten, never loosen" lock every agent setting obeys.
//! - [`commands`]: command-tag lists (`interdict.blocked_commands`, `interdict.readonly_allow`).
//! - [`reasons`]: THE table of reason codes.
//! - [`facts`]: what the hooks report about a statement.
//! - [`decide`]: facts + settings -> verdict.
//! - [`functions`]: native functions with side effects, by name.
//! - [`guarded`]: guarded mode's structural refusals and blast radius.
//! - [`outcome`]: what a verdict becomes (raised, held, dry-run, simulated), the mode in force and
//!   which row limit applies.
//! - [`limits`]: the numeric settings (`max_rows`, `simulate_timeout`).
//! - [`approval`]: approval ids, bound to a statement, its parameters, role and database.
//! - [`undo`]: a recorded change's net effect per row, and the steps that revert it.
//! - [`image`]: where a stored row image's values lie, checked before Postgres reads it.
//! - [`delta`]: an update's after-image as its difference from the before-image.
//! - [`pending`]: refused requests waiting for an operator (kept in shared memory).
//! - [`fixed`]: fixed-size text for shared-memory records.
//! - [`stats`]: the counters of `interdict.stats()`.
//! - [`redact`]: statement text without its literals, for the audit trail.
//! - [`audit`]: the audit trail's timestamps.
//! - [`log_budget`]: an agent's share of the server log (per role with shared memory).
//! - [`role_check`]: `interdict.check_role()`'s findings from a role's facts.
//! - [`utility_table`]: guarded mode's default-deny table of utility commands.

#![forbid(unsafe_code)]

pub mod approval;
pub mod audit;
pub mod commands;
pub mod decide;
pub mod delta;
pub mod facts;
pub mod fixed;
pub mod functions;
pub mod guarded;
pub mod image;
pub mod limits;
pub mod lock;
pub mod log_budget;
pub mod mode;
pub mod outcome;
pub mod pending;
pub mod policy;
pub mod reasons;
pub mod redact;
pub mod role_check;
mod sha256;
pub mod stats;
pub mod undo;
pub mod utility_table;
pub mod verdict;

pub use approval::{ApprovalId, Request};
pub use commands::CommandSet;
pub use guarded::decide_rows;
pub use limits::{Ceiling, DryRun, LogStatement, Millis, RowLimit};
pub use decide::{decide_function, decide_plan, decide_simulated, decide_utility, Settings};
pub use mode::Mode;
pub use reasons::{Reason, ReasonCode};
pub use verdict::{Refusal, Verdict};
