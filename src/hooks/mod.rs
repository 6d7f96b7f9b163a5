//! One file per hook. Each hook is a thin entry: gather facts, ask the core for a verdict, raise the
//! refusal or chain to the previous hook (else the standard function). Every hook decides *before*
//! chaining, so a refused statement never starts, whatever runs after us.

pub mod executor;
pub mod function;
pub mod utility;

use crate::{gucs, session};
use interdict_core::{Mode, Verdict};
use pgrx::pg_sys;

/// The agent mode this statement runs under, or `None` when nothing is to be checked (mode `off`,
/// or `pg_upgrade`, whose restore must never be refused). Locks the session's settings on its first
/// statement, and in readonly forces the transaction read-only so core's own checks
/// (`ExecCheckXactReadOnly`, `PreventCommandIfReadOnly`) back up our classification.
fn agent_mode() -> Option<Mode> {
    // SAFETY: plain reads and writes of backend globals on the backend's thread.
    unsafe {
        if pg_sys::IsBinaryUpgrade {
            return None;
        }
        session::ensure_locked();
        let mode = gucs::mode();
        if mode == Mode::Readonly {
            pg_sys::XactReadOnly = true;
        }
        (mode != Mode::Off).then_some(mode)
    }
}

/// Raises a refusal; lets anything else through.
fn enforce(verdict: Verdict) {
    if let Verdict::Refuse(refusal) = verdict {
        crate::reasons::raise(&refusal);
    }
}
