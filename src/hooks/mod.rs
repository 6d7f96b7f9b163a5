//! One file per hook. Each hook is a thin entry: gather facts, ask the core for a verdict, raise the
//! refusal or chain to the previous hook (else the standard function). Every hook decides *before*
//! chaining, so a refused statement never starts, whatever runs after us.

pub mod executor;
pub mod function;
pub mod utility;

use interdict_core::Verdict;

/// Raises a refusal; lets anything else through.
fn enforce(verdict: Verdict) {
    if let Verdict::Refuse(refusal) = verdict {
        crate::reasons::raise(&refusal);
    }
}
