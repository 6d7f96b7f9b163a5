//! SQL functions in the `interdict` schema.

use interdict_core::{ReasonCode, Refusal};
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
    crate::settings::mode().as_str()
}

pgrx::extension_sql_file!("../sql/approvals.sql", name = "approvals", requires = ["grant_schema_usage"]);

/// An operator approves a refused statement by the `approval_id` in its error: the agent's next
/// run of the same statement goes through once, if it changes at most `max_rows` rows (default: the
/// agent's own `interdict.max_rows`), within `valid_for`.
#[pg_extern(volatile)]
fn approve(id: Option<&str>, max_rows: default!(Option<i64>, "NULL"), valid_for: default!(Option<pgrx::datum::Interval>, "'1 hour'")) -> String {
    let Some(valid_for) = valid_for else { crate::reasons::raise(&invalid_argument("valid_for")) };
    // An id that is NULL matches no request: decided as one that does not exist.
    crate::approvals::decide(id.unwrap_or_default(), crate::approvals::Decision::Approved, max_rows, interval_seconds(valid_for))
}

/// Requests waiting for an operator in this database: refused statements an operator may approve,
/// not denied and not yet used, most recent first (`decision` is `approved` when the agent has
/// not rerun it yet). Operators only; needs the library in `shared_preload_libraries`.
#[pg_extern(volatile)]
fn pending() -> TableIterator<'static, (
    name!(approval_id, String),
    name!(reason, String),
    name!(role_name, String),
    name!(agent, String),
    name!(statement, String),
    name!(rows_reached, i64),
    name!(first_refused, pgrx::datum::TimestampWithTimeZone),
    name!(last_refused, pgrx::datum::TimestampWithTimeZone),
    name!(age, pgrx::datum::Interval),
    name!(times, i32),
    name!(decision, Option<String>),
)> {
    TableIterator::new(crate::approvals::pending())
}

/// An operator denies a refused statement: it stays refused, and the decision is recorded.
#[pg_extern(volatile)]
fn deny(id: &str) -> String {
    crate::approvals::decide(id, crate::approvals::Decision::Denied, None, 3650.0 * 86400.0)
}

fn interval_seconds(i: pgrx::datum::Interval) -> f64 {
    (i.months() as f64) * 30.0 * 86400.0 + (i.days() as f64) * 86400.0 + (i.micros() as f64) / 1e6
}

/// What a statement would do, without doing it: rows per table (cascades and triggers included),
/// the verdict it would get now, the planner's estimate and the time it took. Exactly one statement;
/// run in a subtransaction that is always rolled back (readonly sessions: planned only).
/// `SELECT jsonb_pretty(interdict.simulate('DELETE FROM t WHERE …'))` reads well in psql.
#[pg_extern(volatile)]
fn simulate(sql: &str) -> pgrx::JsonB {
    pgrx::JsonB(crate::simulate::simulate(sql))
}

pgrx::extension_sql_file!("../sql/policies.sql", name = "policies", requires = ["approvals"]);

/// A DBA loads a YAML policy (see `policies/`): validated whole, stored as a new version in
/// `interdict.policies`, in force for sessions that start after it. Returns the version.
/// `SELECT interdict.load_policy(pg_read_file('/etc/interdict/policy.yaml'))`.
#[pg_extern(volatile)]
fn load_policy(policy: &str) -> i64 {
    crate::policy::load(policy)
}

/// The policy in force for this session: where it came from and what it says for this role.
#[pg_extern(stable)]
fn policy() -> pgrx::JsonB {
    pgrx::JsonB(crate::policy::describe())
}

// Agents read the reason-code table and their mode: the schema is usable by everyone; what it
// holds stays read-only for them (readonly refuses writes, and the functions change nothing).
pgrx::extension_sql!(
    "GRANT USAGE ON SCHEMA interdict TO PUBLIC;",
    name = "grant_schema_usage",
    bootstrap
);

pgrx::extension_sql_file!("../sql/undo.sql", name = "undo", requires = ["approvals", "capture", capturing, "protect_records", change_images, relation_is_recorded]);

/// Version-1 calling convention records (`PG_FUNCTION_INFO_V1`) of the hand-written fmgr functions
/// below, written by hand rather than with `#[pg_trigger]`/`#[pg_extern]` where a call from SQL
/// other than the one intended must be a refusal with a reason code, not a wrapper's panic.
macro_rules! finfo_v1 {
    ($($name:ident),*) => {$(
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $name() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }
    )*};
}
finfo_v1!(pg_finfo_protect_records_wrapper, pg_finfo_capture_wrapper, pg_finfo_interdict_revert_image);

/// The trigger data of a call, or `undo.not_allowed` when the function is called other than as a trigger.
unsafe fn as_trigger(fcinfo: pg_sys::FunctionCallInfo, what: &str) -> *mut pg_sys::TriggerData {
    let context = (*fcinfo).context;
    if context.is_null() || !crate::nodes::is_a(context, pg_sys::NodeTag::T_TriggerData) {
        crate::reasons::raise(&Refusal::new(ReasonCode::UndoNotAllowed, crate::settings::mode(), what));
    }
    context as *mut pg_sys::TriggerData
}

// The statement trigger on interdict's record tables: outside the guard's own SQL, updates,
// deletes and truncates are refused in every mode (inserts stay possible, for restores).
pgrx::extension_sql!(
    r#"CREATE FUNCTION "protect_records"() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', 'protect_records_wrapper';"#,
    name = "protect_records"
);

/// # Safety
/// Called by fmgr, as `interdict.protect_records()`.
#[unsafe(no_mangle)]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn protect_records_wrapper(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let trigger = as_trigger(fcinfo, "interdict.protect_records() called other than as the records' trigger");
    let table = crate::nodes::cstr(pg_sys::get_rel_name((*(*trigger).tg_relation).rd_id)).unwrap_or_default();
    crate::undo::protect_records(table);
    pg_sys::Datum::from(0usize) // a statement trigger's result is ignored
}

/// Whether a table's writes are recorded for undo: its `interdict_capture` trigger is the one
/// `interdict.record()` makes (every row of every insert, update and delete). By OID;
/// `interdict.is_recorded(regclass)` (sql/undo.sql) is what DBAs call.
#[pg_extern(stable)]
fn relation_is_recorded(rel: pg_sys::Oid) -> bool {
    crate::undo::is_recorded(rel)
}

/// The WHEN clause of every recording trigger: true only in a guarded session, so that other
/// sessions pay one call per row and queue nothing. It is also where a `COPY … FROM`'s rows are
/// counted against its limit as they are written (no executor node sees them).
#[pg_extern(volatile, parallel_safe)]
fn capturing() -> bool {
    let capturing = crate::undo::capturing();
    if capturing && crate::statement::copy_row() {
        crate::blast::check_limit();
    }
    capturing
}

// The recording trigger (installed by `interdict.record(table)`): keeps each row's images for the
// statement's change. Written by hand rather than with `#[pg_trigger]`, whose wrapper fails with
// a panic when the function is called other than as a trigger: here that is `undo.not_allowed`.
pgrx::extension_sql!(
    r#"CREATE FUNCTION "capture"() RETURNS trigger LANGUAGE c AS 'MODULE_PATHNAME', 'capture_wrapper';"#,
    name = "capture"
);

/// # Safety
/// Called by fmgr, as `interdict.capture()`.
#[unsafe(no_mangle)]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn capture_wrapper(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let trigger = as_trigger(fcinfo, "interdict.capture() called other than as the recording trigger");
    crate::undo::capture(&*trigger);
    pg_sys::Datum::from(0usize) // an AFTER trigger's result is ignored
}

/// `interdict.revert_image(list, n, NULL::table)` (created in sql/undo.sql): a revert's own
/// statements read the images it serves through it (`undo/image.rs`); it refuses outside a revert.
/// # Safety
/// Called by fmgr, as `interdict.revert_image(integer, bigint, anyelement)`.
#[unsafe(no_mangle)]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn interdict_revert_image(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    crate::undo::revert_image(fcinfo)
}

/// Reverts a recorded change: its deleted rows come back, updated rows get their old values, inserted
/// rows go; refused with `undo.conflict` if any of those rows changed since. Returns the id of the
/// change that records the revert (reverting that one redoes the original). `force` (operators
/// only) restores the before-images over whatever is there now.
#[pg_extern(volatile, name = "revert")]
fn revert(id: i64, force: default!(bool, false)) -> i64 {
    crate::undo::revert(&[id], force, &crate::blast::count_written)[0]
}

/// Reverts several changes in one transaction, newest first.
#[pg_extern(volatile, name = "revert")]
fn revert_many(ids: Vec<Option<i64>>, force: default!(bool, false)) -> Vec<i64> {
    let Some(ids) = ids.into_iter().collect::<Option<Vec<i64>>>() else {
        let refusal = Refusal::new(ReasonCode::UndoNotFound, crate::settings::mode(), "reverting a NULL change id");
        crate::reasons::raise(&refusal)
    };
    crate::undo::revert(&ids, force, &crate::blast::count_written)
}

/// A NULL where a function of the guard needs a value.
fn invalid_argument(name: &str) -> Refusal {
    Refusal::new(ReasonCode::SettingInvalid, crate::settings::mode(), format!("a NULL {name}")).fact("argument", name)
}


/// Recent changes: this role's (operators: everyone's), newest first, with rows per table; with
/// `change_id`, that change alone (if the caller may see it).
#[pg_extern(stable)]
fn history(limit: default!(Option<i32>, 20), change_id: default!(Option<i64>, "NULL")) -> TableIterator<'static, (
    name!(id, i64),
    name!(made_at, pgrx::datum::TimestampWithTimeZone),
    name!(role_name, crate::nodes::DbText),
    name!(statement, crate::nodes::DbText),
    name!(tables, crate::nodes::DbText),
    name!(rows, i64),
    name!(reverts, Option<i64>),
    name!(reverted_by, Option<i64>),
)> {
    TableIterator::new(crate::undo::history(change_id, limit.unwrap_or(20)))
}

/// A change's row images as text, in the order they were written (operators only), each as its
/// table was when the change was recorded (NULL if that cannot be read: a column's type dropped).
#[pg_extern(volatile)]
fn change_images(change_id: i64) -> TableIterator<'static, (
    name!(seq, i64),
    name!(table_name, String),
    name!(op, String),
    name!(old_row, Option<String>),
    name!(new_row, Option<String>),
)> {
    TableIterator::new(crate::undo::change_images(change_id))
}

/// The id of this session's most recent change (a revert it ran included), or NULL.
#[pg_extern(stable)]
fn last_change_id() -> Option<i64> {
    crate::undo::last_change()
}

// `interdict.last_change()`: this session's most recent change, as `history()` shows it.
pgrx::extension_sql!(
    r#"
CREATE FUNCTION interdict.last_change() RETURNS TABLE (
    id bigint, made_at timestamptz, role_name text, statement text, tables text, "rows" bigint, reverts bigint, reverted_by bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT h.* FROM interdict.history(1, interdict.last_change_id()) h WHERE interdict.last_change_id() IS NOT NULL $$;
"#,
    name = "last_change",
    requires = [history, last_change_id]
);

/// Deletes changes (and their row images) older than `older_than` (default: `interdict.undo_retention`);
/// operators only. Returns how many. `SELECT interdict.purge('30 days')`; with a retention set, guarded
/// sessions also expire old changes as they record new ones.
#[pg_extern(volatile)]
fn purge(older_than: default!(Option<pgrx::datum::Interval>, "NULL")) -> i64 {
    crate::undo::purge(older_than.map(interval_seconds))
}

/// What the guard did, per database, role and agent: statements checked, refusals (by reason),
/// held requests, approvals, simulations, changes, reverts, rows protected. `scope` is `cluster`
/// with `shared_preload_libraries`, else `session` (this backend's own counts). Operators and
/// superusers see every role; others their own. `interdict.pg_stat_interdict` is the same as columns.
#[pg_extern(volatile)]
fn stats() -> TableIterator<'static, (
    name!(database, Option<String>),
    name!(role_name, Option<String>),
    name!(agent, String),
    name!(counters, pgrx::JsonB),
    name!(refused_by_reason, pgrx::JsonB),
    name!(stats_reset, pgrx::datum::TimestampWithTimeZone),
    name!(scope, String),
)> {
    TableIterator::new(crate::stats::rows().unwrap_or_else(|r| crate::reasons::raise(&r)))
}

/// Zeroes the counters (operators only).
#[pg_extern(volatile)]
fn stats_reset() {
    crate::stats::reset().unwrap_or_else(|r| crate::reasons::raise(&r))
}

/// A role checked against the hardening advice for agent roles: each finding with its severity and
/// the SQL that fixes it (most severe first; none for a hardened role).
#[pg_extern(stable)]
fn check_role(role: &str) -> TableIterator<'static, (name!(check, String), name!(severity, String), name!(finding, String), name!(fix, String))> {
    TableIterator::new(crate::check_role::check_role(role))
}

pgrx::extension_sql_file!("../sql/stats.sql", name = "stats_view", requires = ["undo", stats]);
