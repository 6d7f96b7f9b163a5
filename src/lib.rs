//! Interdict: a guard inside PostgreSQL for sessions run by AI agents.
//!
//! `_PG_init` reads as a table of contents: each line registers one part, and says why.

mod agent_code;
mod api;
mod approvals;
mod audit;
mod blast;
mod cell;
mod chain;
mod check_role;
mod enforce;
mod facts;
mod guard_sql;
mod hooks;
mod messages;
mod nodes;
mod pending;
mod policy;
mod reasons;
mod server_settings;
mod session;
mod settings;
mod shmem;
mod simulate;
mod statement;
mod stats;
mod undo;

::pgrx::pg_module_magic!(name, version);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Loaded twice in one process (from $libdir and $libdir/plugins): the first copy guards alone.
    if !session::first_load() {
        return;
    }
    quiet_backtraces(); // agents read DETAIL: never append Rust backtraces to it
    settings::hooks::define(); // interdict.* settings, each locked: tightened within a session, never loosened
    shmem::init(); // preloaded by the postmaster: shared memory for requests waiting for an operator
    hooks::executor::register(); // planned statements: DML, writable CTEs, row locks; rows counted
    hooks::xact::register(); // transaction ends: an abort's counted and recorded rows forgotten, deferred rows recorded
    hooks::utility::register(); // utility statements: DDL, COPY, SET, LOAD, maintenance, …
    hooks::function::register(); // native functions with side effects: sequences, admin, dblink, …
    server_settings::register(); // check hooks in front of Postgres' timeouts, replication role and logging settings
    hooks::emit_log::register(); // errors the guard did not raise itself (timeouts, its own panics) get a reason code
}

/// pgrx appends a Rust backtrace to an error's DETAIL when the error crosses one of its FFI guards
/// and `RUST_BACKTRACE` is set in the server's environment. Our DETAIL is a JSON object agents
/// parse, so unless the DBA asked for library backtraces explicitly, they are off.
fn quiet_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: _PG_init runs on the backend's (or postmaster's) only thread.
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}
