//! One file per hook. Each hook is a thin entry: gather facts, ask the core for a verdict, hand it
//! to `enforce.rs`, then chain to the previous hook (else the standard function). Every hook
//! decides *before* chaining, so a refused statement never starts, whatever runs after us.

pub mod emit_log;
pub mod executor;
pub mod function;
pub mod utility;
pub mod xact;
