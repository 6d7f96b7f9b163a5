//! SQL functions in the `interdict` schema.

use pgrx::prelude::*;

/// Every reason code Interdict can raise, with its SQLSTATE, why and fix (the one table).
#[pg_extern(stable, parallel_safe)]
fn reason_codes() -> TableIterator<'static, (name!(code, String), name!(sqlstate, String), name!(why, String), name!(hint, String))> {
    TableIterator::new(
        interdict_core::reasons::REASONS
            .iter()
            .map(|r| (r.code.to_string(), r.sqlstate.to_string(), r.why.to_string(), r.hint.to_string())),
    )
}

/// The mode in force for this session (the same as `SHOW interdict.mode`).
#[pg_extern(stable, parallel_safe)]
fn current_mode() -> &'static str {
    crate::gucs::mode().as_str()
}

// Agents read the reason-code table and their mode: the schema is usable by everyone; what it
// holds stays read-only for them (readonly refuses writes, and the functions change nothing).
pgrx::extension_sql!(
    "GRANT USAGE ON SCHEMA interdict TO PUBLIC;",
    name = "grant_schema_usage",
    finalize
);
