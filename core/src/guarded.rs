//! Guarded mode's decisions: the structural refusals (what a statement does that no row limit can
//! measure: dropping, truncating, unscoped writes, privilege and role changes, disabled safeguards,
//! and any utility command the command table does not know to be safe: `utility_table`)
//! and the blast radius (how many rows it changes). Every refusal here except those that protect the
//! guard itself can be let through once by an operator's approval (see [`crate::approval`]).

use crate::facts::{FunctionFacts, Modifier, PlanFacts, RowFacts, TableChange, TypeRef, UtilityAction, UtilityFacts};
use crate::utility_table::{self, Guarded};
use crate::{Mode, ReasonCode, Refusal, Verdict};

/// Why moving a sequence back is not reversible.
pub const SEQUENCE_REWIND: &str =
    "a sequence moved back (or made to cycle) hands out values rows already use, and undo cannot move it forward again";

/// The `Rename` kind of `ALTER TYPE … RENAME VALUE` (an enum label; no `ObjectType` of its own).
pub const ENUM_VALUE: &str = "ENUM VALUE";

/// Why `setval()` is not reversible.
pub const SEQUENCE_SET: &str =
    "setval() can move a sequence back to values rows already use, and undo cannot record or restore a sequence";

/// Structural refusals of a utility statement in guarded mode: default-deny, by the command table
/// (`utility_table`), then what the statement says where the table says it matters.
pub fn guarded_utility(facts: &UtilityFacts, refuse: &dyn Fn(ReasonCode, String) -> Verdict) -> Verdict {
    let tag = facts.tag.as_str();
    if let Some(object) = &facts.guard_object {
        // By identity (readonly refuses all of these as DDL already).
        return refuse(ReasonCode::ExtensionProtected, format!("{tag} of the guard's {object}"));
    }
    if facts.guard_schema {
        return refuse(ReasonCode::GuardedGuardSchema, format!("{tag} on the interdict schema"));
    }
    let verdict = match utility_table::command(&facts.node).map(|c| c.guarded) {
        None => refuse(ReasonCode::GuardedCommand, tag.to_string()).fact("node", facts.node.clone()),
        Some(Guarded::Allow | Guarded::NotUtility) => Verdict::Allow,
        Some(Guarded::Refuse(code)) => refuse(code, tag.to_string()),
        Some(Guarded::Judge) => judge(facts, refuse),
    };
    match verdict.code() {
        // The session's own temporary tables are scratch: nothing shared is destroyed.
        Some(code) if facts.scratch_only && code.protects_data() => Verdict::Allow,
        _ => verdict,
    }
}

/// After a statement: a permanent object it made depend on a temporary one (dependent, temporary
/// object), if any, is refused. Postgres drops the temporary schema with CASCADE when the session
/// ends, past every statement the guard judges, taking the permanent object (a typed table, a
/// column) with it.
pub fn temporary_dependency(found: Option<(String, String)>) -> Verdict {
    match found {
        None => Verdict::Allow,
        Some((dependent, temporary)) => Verdict::Refuse(
            Refusal::new(ReasonCode::GuardedTemporaryDependency, Mode::Guarded, format!("{dependent} depending on {temporary}"))
                .fact("object", dependent)
                .fact("depends_on", temporary),
        ),
    }
}

/// Code the statement left where other sessions run it unguarded (see the extension's
/// `facts/planted.rs`): (what holds it, where it runs), if any, is refused.
pub fn planted_code(found: Option<(String, String)>) -> Verdict {
    match found {
        None => Verdict::Allow,
        Some((object, runs_in)) => Verdict::Refuse(
            Refusal::new(ReasonCode::GuardedUntrustedCode, Mode::Guarded, format!("{object}, which runs in {runs_in}"))
                .fact("object", object)
                .fact("runs_in", runs_in),
        ),
    }
}

/// Where a server file a statement writes (`COPY … TO 'file'`, `lo_export(…, 'file')`, adminpack's
/// `pg_file_write`) is, as the extension resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileTarget {
    /// In a directory `interdict.file_directories` names (and none of the server's own places).
    Named,
    /// One of the server's own: its data directory, beside its configuration files, the guard's
    /// policy file (which, said here).
    ServerOwn(String),
    /// Anywhere else, or a name the statement does not spell out (said here).
    Elsewhere(String),
}

/// Guarded mode writes server files only where a DBA said (default-deny: a file the server's OS user
/// owns can be its `~/.ssh/authorized_keys`, a script `archive_command` runs, a library a path
/// loads). What is written among the server's own files changes how it runs or what the guard
/// allows (a policy file an agent rewrote loosened its next session): `guarded.server_config`; any
/// other place a DBA did not name: `guarded.server_file`. Neither is approvable, whatever a policy
/// allows for writes outside the database; a named directory leaves the write to that verdict
/// (`guarded.not_reversible`). `writer` names what writes (`COPY … TO`, `function lo_export`).
pub fn server_file_write(writer: &str, target: FileTarget) -> Verdict {
    match target {
        FileTarget::Named => Verdict::Allow,
        FileTarget::ServerOwn(place) => Verdict::Refuse(
            Refusal::new(ReasonCode::GuardedServerConfig, Mode::Guarded, format!("{writer} writing a file in {place}")).fact("place", place),
        ),
        FileTarget::Elsewhere(file) => Verdict::Refuse(
            Refusal::new(ReasonCode::GuardedServerFile, Mode::Guarded, format!("{writer} writing {file}, outside interdict.file_directories"))
                .fact("file", file),
        ),
    }
}

/// Whether a function that an agent's stored code calls (a view's query, a default, a `CHECK`, a
/// trigger's `WHEN`, a default argument, an aggregate's or operator's function) would act where
/// other sessions evaluate that code — with their rights, outside any function of the agent's —
/// beyond what the agent's own code may do there (read only, leaving nothing behind): a native
/// function readonly refuses (sequences aside: a serial column's default draws from its own
/// sequence) or that changes the session (`set_config`); a volatile function of the guard's own
/// (`interdict.approve`, `load_policy`: an operator's rights would approve the agent's request);
/// another role's volatile function (a DBA's helper would write for the agent, unrecorded).
/// `agents`: the function is the agent's (its body is judged where it runs, `system.agent_code`).
pub fn acts_elsewhere(function: &FunctionFacts, agents: bool) -> bool {
    if function.guard {
        return function.volatile;
    }
    if function.native {
        let settings = crate::Settings { mode: Mode::Readonly, foreign_code: true, ..crate::Settings::default() };
        return matches!(crate::decide_function(&settings, function), Verdict::Refuse(r) if r.code != ReasonCode::ReadonlySequence);
    }
    function.volatile && !agents
}

/// The rows of the command table marked `Judge`: what the statement says decides.
fn judge(facts: &UtilityFacts, refuse: &dyn Fn(ReasonCode, String) -> Verdict) -> Verdict {
    let tag = facts.tag.as_str();
    match &facts.action {
        // A program runs as the server's operating-system user: code no guard sees, whatever it does
        // (it can rewrite the server's files and configuration), never approvable or relaxed.
        UtilityAction::Copy { program: true, .. } => refuse(ReasonCode::GuardedUntrustedCode, "COPY … PROGRAM".into())
            .fact("why", "it runs a program on the server as the server's operating-system user, where no guard checks what it does"),
        // What COPY writes to a server file undo cannot record.
        UtilityAction::Copy { from: false, file: true, .. } => {
            refuse(ReasonCode::GuardedNotReversible, "COPY … TO a server file".into()).fact("why", "it writes outside the database, where undo cannot follow")
        }
        UtilityAction::SetVariable { name, value } if name == "session_replication_role" => {
            let origin = value.as_deref().is_some_and(|v| v.trim().eq_ignore_ascii_case("origin"));
            if origin {
                return Verdict::Allow;
            }
            // Never approvable: the setting is locked at origin for agent sessions, by any route.
            match refuse(ReasonCode::GuardedBypass, format!("{tag} session_replication_role")) {
                Verdict::Refuse(r) => Verdict::Refuse(r.without_approval()),
                allowed => allowed,
            }
        }
        UtilityAction::Trigger { others_table: true } => refuse(ReasonCode::GuardedUntrustedCode, format!("{tag} on another role's table"))
            .fact("why", "the trigger fires in the sessions of the table's owner and other writers, where no guard checks what it does"),
        UtilityAction::AlterSequence { rewinds: true } => {
            refuse(ReasonCode::GuardedNotReversible, format!("{tag} … RESTART/CYCLE/negative INCREMENT")).fact("why", SEQUENCE_REWIND)
        }
        UtilityAction::AlterTable { changes } => changes.iter().map(|c| table_change(c, refuse)).find(|v| !v.is_allowed()).unwrap_or(Verdict::Allow),
        UtilityAction::Drop { kind, cascade } => by_class(utility_table::drop_of(kind, *cascade), tag, refuse),
        UtilityAction::Extension { .. } if facts.node == "DropStmt" => refuse(ReasonCode::GuardedDrop, tag.to_string()),
        UtilityAction::Rename { kind } if kind == ENUM_VALUE => refuse(ReasonCode::GuardedNotReversible, "ALTER TYPE … RENAME VALUE".into())
            .fact("why", "every row holding the value reads the new label at once, and undo records no row for it"),
        UtilityAction::Rename { kind } => by_class(utility_table::rename_of(kind), tag, refuse),
        UtilityAction::Define { kind } => by_class(utility_table::define_of(kind), tag, refuse),
        UtilityAction::Code { language, trusted: false } => {
            refuse(ReasonCode::GuardedUntrustedCode, format!("{tag} in language {language}")).fact("language", language.clone())
        }
        UtilityAction::CreateExtension { name, allowed: false } => {
            refuse(ReasonCode::GuardedUntrustedCode, format!("CREATE EXTENSION {name}")).fact("extension", name.clone())
        }
        _ if utility_table::TWO_PHASE_TAGS.contains(&tag) => refuse(ReasonCode::GuardedCommand, tag.to_string()),
        UtilityAction::Other if !matches!(facts.node.as_str(), "VariableSetStmt" | "TransactionStmt" | "CopyStmt" | "AlterSeqStmt" | "AlterEnumStmt") => {
            refuse(ReasonCode::GuardedCommand, tag.to_string()) // a Judge row whose facts did not come: refuse, never guess
        }
        _ => Verdict::Allow,
    }
}

fn by_class(class: Guarded, tag: &str, refuse: &dyn Fn(ReasonCode, String) -> Verdict) -> Verdict {
    match class {
        Guarded::Refuse(code) => refuse(code, tag.to_string()),
        Guarded::Judge => refuse(ReasonCode::GuardedCommand, tag.to_string()),
        Guarded::Allow | Guarded::NotUtility => Verdict::Allow,
    }
}

/// One `ALTER TABLE` subcommand.
fn table_change(change: &TableChange, refuse: &dyn Fn(ReasonCode, String) -> Verdict) -> Verdict {
    match change {
        TableChange::ColumnType { column, from, to, rewrites } if *rewrites || loses_data(from, to) => {
            let how = if *rewrites { " USING an expression that computes new values" } else { "" };
            refuse(ReasonCode::GuardedColumnType, format!("ALTER TABLE … ALTER COLUMN {column} TYPE {} (from {}){how}", to.display, from.display))
        }
        TableChange::ColumnType { .. } => Verdict::Allow,
        TableChange::DropConstraint { name, key: true } => refuse(ReasonCode::GuardedDropKey, format!("ALTER TABLE … DROP CONSTRAINT {name}")),
        TableChange::DropConstraint { .. } => Verdict::Allow,
        TableChange::RewindsSequence { column } => {
            refuse(ReasonCode::GuardedNotReversible, format!("ALTER TABLE … ALTER COLUMN {column} RESTART")).fact("why", SEQUENCE_REWIND)
        }
        TableChange::Subcommand { name, target } => {
            let what = utility_table::ALTER_TABLE.iter().find(|(n, _, _)| n == name).map_or(name.as_str(), |(_, _, w)| *w);
            let what = if target.is_empty() { format!("ALTER TABLE … {what}") } else { format!("ALTER TABLE … {what} ({target})") };
            by_class(utility_table::alter_table(name), &what, refuse)
        }
    }
}

/// Structural refusals of a planned statement in guarded mode.
pub fn guarded_plan(facts: &PlanFacts, refuse: &dyn Fn(ReasonCode, String) -> Verdict) -> Verdict {
    if let Some(relation) = &facts.guard_schema_write {
        return refuse(ReasonCode::GuardedGuardSchema, format!("{} on {relation}", facts.operation.as_str()));
    }
    let writes = facts.operation != crate::facts::Operation::Select || facts.modifying_cte;
    if writes && facts.triggers_off {
        return refuse(ReasonCode::GuardedBypass, format!("{} with session_replication_role not origin", facts.operation.as_str()));
    }
    if let Some(write) = facts.unscoped.first() {
        return refuse(ReasonCode::GuardedUnscopedWrite, write.clone());
    }
    Verdict::Allow
}

/// The blast radius: refused once the rows changed pass the limit.
pub fn decide_rows(mode: Mode, facts: &RowFacts) -> Verdict {
    if mode != Mode::Guarded || facts.reached <= facts.limit {
        return Verdict::Allow;
    }
    let tables = if facts.tables.is_empty() { "the statement".to_string() } else { facts.tables.join(", ") };
    let mut r = Refusal::new(
        ReasonCode::GuardedBlastRadius,
        mode,
        format!("changing more than {} rows ({tables})", facts.limit),
    )
    .fact("rows_reached", facts.reached.to_string())
    .fact("max_rows", facts.limit.to_string())
    .fact("limit_from", match (&facts.policy_scope, facts.approved) {
        (Some(scope), _) => format!("policy: {scope}"),
        (None, true) => "approval".into(),
        (None, false) => "interdict.max_rows".into(),
    })
    .fact("tables", facts.tables.join(","));
    if let Some(e) = facts.estimate {
        r = r.fact("planner_estimate", format!("{}", e.round() as u64));
    }
    Verdict::Refuse(r)
}

/// Types a value converts into without loss, from each type (`pg_type.typname`).
const WIDENINGS: &[(&str, &[&str])] = &[
    ("int2", &["int4", "int8", "numeric"]),
    ("int4", &["int8", "numeric"]),
    ("int8", &["numeric"]),
    ("float4", &["float8"]),
    ("varchar", &["text"]),
    ("bpchar", &["text", "varchar"]),
    // not into timestamptz: what a date or timestamp means as an instant follows the session's TimeZone
    ("date", &["timestamp"]),
    ("json", &["text"]),
    ("jsonb", &["text"]),
    ("uuid", &["text"]),
];

/// Types whose text form is exact and does not follow a session setting (unlike `float4`/`float8`
/// and `extra_float_digits`, `money` and `lc_monetary`, `bytea` and `bytea_output`, dates and times
/// and `DateStyle`/`TimeZone`/`IntervalStyle`): converted into `text` they keep every value.
const EXACT_TEXT: &[&str] = &[
    "int2", "int4", "int8", "numeric", "bool", "text", "varchar", "bpchar", "name", "char", "uuid", "json", "jsonb", "oid",
    "inet", "cidr", "macaddr", "macaddr8",
];

/// Whether `ALTER COLUMN … TYPE` from `from` to `to` can lose data. Only changes known to keep every
/// value are lossless: same type with a wider or no modifier, or a listed widening (with no length
/// limit on the new type). Anything else — including conversions Postgres allows through a `USING`
/// expression — may lose data.
pub fn loses_data(from: &TypeRef, to: &TypeRef) -> bool {
    if from.name == to.name {
        return !wider_modifier(from.modifier, to.modifier);
    }
    let widens = WIDENINGS.iter().any(|(f, tos)| *f == from.name && tos.contains(&to.name.as_str()));
    let unlimited = to.modifier == Modifier::None;
    let into_text = (to.name == "text" || to.name == "varchar") && EXACT_TEXT.contains(&from.name.as_str());
    !(unlimited && (widens || into_text))
}

/// Whether modifier `to` keeps every value of modifier `from` (of the same type).
fn wider_modifier(from: Modifier, to: Modifier) -> bool {
    match (from, to) {
        (_, Modifier::None) => true, // no limit
        (Modifier::None, _) => false, // unlimited into limited
        (Modifier::Numeric { precision: fp, scale: fs }, Modifier::Numeric { precision: tp, scale: ts }) => {
            // as many fractional digits, and as many integer digits (precision - scale)
            ts >= fs && i64::from(tp) - i64::from(ts) >= i64::from(fp) - i64::from(fs)
        }
        (Modifier::Length(f), Modifier::Length(t)) | (Modifier::Other(f), Modifier::Other(t)) => t >= f,
        (Modifier::Opaque(f), Modifier::Opaque(t)) => t == f,
        _ => false, // different kinds of modifier: not known to keep every value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_code_acting_elsewhere() {
        let f = |name: &str, native, volatile, guard| FunctionFacts { name: name.into(), native, symbol: None, volatile, guard };
        assert!(acts_elsewhere(&f("pg_terminate_backend", true, true, false), true), "a builtin acting on other sessions");
        assert!(acts_elsewhere(&FunctionFacts { symbol: Some("set_config_by_name".into()), ..f("set_config", true, true, false) }, false));
        assert!(acts_elsewhere(&f("approve", false, true, true), false), "the guard's approve");
        assert!(!acts_elsewhere(&f("history", false, false, true), false), "a stable guard function reads");
        assert!(!acts_elsewhere(&f("nextval", true, true, false), false), "a serial's default");
        assert!(!acts_elsewhere(&f("now", true, false, false), false));
        assert!(acts_elsewhere(&f("run_sql", false, true, false), false), "another role's volatile helper");
        assert!(!acts_elsewhere(&f("my_fn", false, true, false), true), "the agent's own function is judged where it runs");
    }

    fn t(name: &str, typmod: i32) -> TypeRef {
        let modifier = match typmod {
            m if m < 0 => Modifier::None,
            m => Modifier::Length(m as u32 - 4),
        };
        TypeRef::new(name, modifier)
    }

    fn numeric(precision: u32, scale: i32) -> TypeRef {
        TypeRef::new("numeric", Modifier::Numeric { precision, scale })
    }

    #[test]
    fn lossless_type_changes() {
        assert!(!loses_data(&t("int4", -1), &t("int8", -1)));
        assert!(!loses_data(&t("varchar", 14), &t("varchar", 54)), "varchar(10) -> varchar(50)");
        assert!(!loses_data(&t("varchar", 14), &t("text", -1)));
        assert!(!loses_data(&t("varchar", 14), &t("varchar", -1)));
        assert!(!loses_data(&t("float4", -1), &t("float8", -1)));
        assert!(!loses_data(&t("int4", -1), &t("text", -1)));
        assert!(!loses_data(&numeric(10, 2), &numeric(12, 2)));
        assert_eq!(numeric(10, 2).display, "numeric(10,2)");
        assert!(!loses_data(&numeric(10, 2), &t("numeric", -1)));
    }

    #[test]
    fn lossy_type_changes() {
        assert!(loses_data(&t("int8", -1), &t("int4", -1)));
        assert!(loses_data(&t("varchar", 54), &t("varchar", 14)));
        assert!(loses_data(&t("text", -1), &t("varchar", 14)));
        assert!(loses_data(&t("text", -1), &t("int4", -1)), "a conversion");
        assert!(loses_data(&t("float8", -1), &t("float4", -1)));
        assert!(loses_data(&t("int4", -1), &t("varchar", 5)), "into a length limit");
        assert!(loses_data(&numeric(10, 2), &numeric(10, 1)), "fewer decimals");
        assert!(loses_data(&numeric(10, 2), &numeric(9, 2)), "fewer digits");
        assert!(loses_data(&t("numeric", -1), &numeric(10, 2)));
        assert!(loses_data(&numeric(2, 2), &numeric(2, -2)), "a negative scale rounds to hundreds");
        assert!(!loses_data(&numeric(2, -2), &numeric(4, 0)), "hundreds fit four integer digits");
        assert!(loses_data(&numeric(3, -2), &numeric(4, 0)), "five integer digits do not");
        let opaque = |m| TypeRef::new("interval", Modifier::Opaque(m));
        assert!(loses_data(&opaque(0x0002_ffff), &opaque(0x0004_ffff)), "interval month into interval year");
        assert!(!loses_data(&opaque(7), &opaque(7)));
        assert!(!loses_data(&opaque(7), &t("interval", -1)), "into no modifier");
        let precision = |p| TypeRef::new("timestamp", Modifier::Other(p));
        assert!(!loses_data(&precision(3), &precision(6)));
        assert!(loses_data(&precision(6), &precision(3)));
        assert!(loses_data(&t("json", -1), &t("jsonb", -1)), "jsonb drops duplicate keys and order");
        assert!(loses_data(&t("float8", -1), &t("text", -1)), "float text follows extra_float_digits");
        assert!(loses_data(&t("timestamp", -1), &t("timestamptz", -1)), "an instant follows TimeZone");
        assert!(loses_data(&t("varchar", 14), &t("2200.text", -1)), "a type named text outside pg_catalog");
    }

    #[test]
    fn blast_radius() {
        let facts = |reached| RowFacts { reached, limit: 100, estimate: Some(2e6), tables: vec!["public.t".into()], approved: false, policy_scope: None };
        assert!(decide_rows(Mode::Guarded, &facts(100)).is_allowed());
        let Verdict::Refuse(r) = decide_rows(Mode::Guarded, &facts(101)) else { panic!("allowed") };
        assert_eq!(r.code, ReasonCode::GuardedBlastRadius);
        assert!(r.detail().contains(r#""rows_reached":"101""#) && r.detail().contains(r#""planner_estimate":"2000000""#), "{}", r.detail());
        assert!(decide_rows(Mode::Off, &facts(1_000_000)).is_allowed());
    }
}
