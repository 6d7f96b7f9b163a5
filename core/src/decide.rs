//! Facts + settings -> verdict. One function per hook; each is pure and total: whatever the facts,
//! it returns a verdict, and a fact it cannot place refuses writes rather than guess.

use crate::facts::{FunctionFacts, Operation, PlanFacts, UtilityAction, UtilityFacts};
use crate::functions::side_effect;
use crate::guarded::{guarded_plan, guarded_utility};
use crate::limits::{Millis, RowLimit};
use crate::{CommandSet, Mode, ReasonCode, Refusal, Verdict};

/// The session's settings in force (each already locked and tightened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    /// `interdict.blocked_commands`: refused in every mode but `off`.
    pub blocked: CommandSet,
    /// `interdict.readonly_allow`: utility commands a DBA lets readonly sessions run anyway.
    pub readonly_allow: CommandSet,
    /// `interdict.max_rows`: the blast radius in guarded mode.
    pub max_rows: RowLimit,
    /// `interdict.simulate_timeout`.
    pub simulate_timeout: Millis,
    /// The statement runs inside code an agent role owns, in another role's session (mode `off`):
    /// judged as readonly, and it may leave nothing behind in that session ([`FOREIGN_SAFE_TAGS`]).
    pub foreign_code: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Off,
            blocked: CommandSet::EMPTY,
            readonly_allow: CommandSet::EMPTY,
            max_rows: RowLimit::DEFAULT,
            simulate_timeout: Millis::DEFAULT_SIMULATE,
            foreign_code: false,
        }
    }
}

/// Utility commands that change nothing, so readonly lets them through. Everything else is refused:
/// an unknown or new command is a write until someone shows otherwise. The ones with parameters that
/// can write (`COPY`, `LOCK TABLE`, `SET`, `BEGIN`) are judged on their facts first; `EXPLAIN`,
/// `EXECUTE`, `DECLARE CURSOR`, `DO` and `CALL` run their statements through the executor, where each
/// is judged again.
const READONLY_SAFE_TAGS: &[&str] = &[
    "BEGIN", "START TRANSACTION", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "RESET", "SHOW",
    "SET CONSTRAINTS", "EXPLAIN", "PREPARE", "EXECUTE", "DEALLOCATE", "DEALLOCATE ALL", "DECLARE CURSOR",
    "FETCH", "MOVE", "CLOSE CURSOR", "CLOSE CURSOR ALL", "LISTEN", "UNLISTEN", "DISCARD ALL", "DISCARD PLANS",
    "DISCARD SEQUENCES", "DISCARD TEMP", "DO", "CALL", "COPY", "LOCK TABLE",
];

/// Utility commands an agent role's code may run in another role's session: those that leave
/// nothing behind in it. Settings (`SET`, `RESET`, `DISCARD`), cursors, prepared statements,
/// listeners, locks, constraint modes and transaction control all outlive the code that ran them,
/// in a session that is not guarded; so does every command readonly refuses anyway.
const FOREIGN_SAFE_TAGS: &[&str] = &["SHOW", "EXPLAIN", "DO", "CALL"];

/// Functions readonly lets through that change the calling session's state (`set_config` outlives
/// the code that called it).
const SESSION_STATE_FUNCTIONS: &[&str] = &["set_config", "set_config_by_name", "setseed"];

const MAINTENANCE_TAGS: &[&str] =
    &["VACUUM", "ANALYZE", "CLUSTER", "REINDEX", "CHECKPOINT", "REFRESH MATERIALIZED VIEW"];

const TWO_PHASE_TAGS: &[&str] = &["PREPARE TRANSACTION", "COMMIT PREPARED", "ROLLBACK PREPARED"];

/// Settings an agent session may not change in roles, databases or the server: they decide whether
/// and how strictly the guard runs.
const PROTECTED_SETTING_PREFIXES: &[&str] = &["interdict."];
const PROTECTED_SETTINGS: &[&str] = &[
    "session_preload_libraries", "shared_preload_libraries", "local_preload_libraries",
    "default_transaction_read_only", "transaction_read_only", "session_replication_role",
    // The audit trail's and the DBA's statement log's (see the extension's server_settings.rs).
    "log_min_messages", "log_min_error_statement", "log_statement", "log_error_verbosity", "log_duration",
    "log_lock_waits", "log_lock_failures", "log_replication_commands", "log_min_duration_statement", "log_min_duration_sample",
    "log_temp_files", "log_statement_sample_rate", "log_transaction_sample_rate", "log_parameter_max_length",
    "log_parameter_max_length_on_error", "log_connections", "log_disconnections", "log_destination",
    "logging_collector", "log_line_prefix",
];

fn is_protected_setting(name: &str) -> bool {
    PROTECTED_SETTING_PREFIXES.iter().any(|p| name.starts_with(p)) || PROTECTED_SETTINGS.contains(&name)
}

/// Settings that let a readonly session write, whatever their value but "on".
const READ_ONLY_SWITCHES: &[&str] = &["transaction_read_only", "default_transaction_read_only"];

/// A utility statement (`ProcessUtility`).
pub fn decide_utility(settings: &Settings, facts: &UtilityFacts) -> Verdict {
    let mode = settings.mode;
    if mode == Mode::Off {
        return Verdict::Allow;
    }
    let refuse = |code: ReasonCode, what: String| {
        Verdict::Refuse(Refusal::new(code, mode, what).fact("command", facts.tag.clone()))
    };
    if settings.blocked.contains(facts.tag_index) {
        return refuse(ReasonCode::CommandBlocked, facts.tag.clone());
    }
    if let Some(v) = agent_session_limits(facts, &refuse) {
        return v;
    }
    if settings.foreign_code && !FOREIGN_SAFE_TAGS.contains(&facts.tag.as_str()) {
        return refuse(ReasonCode::SystemAgentCode, format!("{} inside an agent's code, in another role's session", facts.tag));
    }
    match mode {
        Mode::Readonly if settings.readonly_allow.contains(facts.tag_index) => Verdict::Allow,
        Mode::Readonly => readonly_utility(facts, &refuse),
        // Triggers are off only while a revert runs (the setting is locked at origin otherwise): the
        // reverted tables' own code (a CHECK, a default) may then do only what a readonly session
        // may. Anything else would change what the revert is writing, past the recording trigger:
        // a table's shape altered under the images being written, rows copied in.
        Mode::Guarded if facts.triggers_off && !readonly_utility(facts, &refuse).is_allowed() => {
            match refuse(ReasonCode::GuardedBypass, format!("{} while a revert runs with triggers off", facts.tag)) {
                Verdict::Refuse(r) => Verdict::Refuse(r.without_approval()),
                allowed => allowed,
            }
        }
        Mode::Guarded => guarded_utility(facts, &refuse),
        Mode::Off => Verdict::Allow,
    }
}

/// Refusals that hold in every agent mode: the guard's own settings, library and extension.
fn agent_session_limits(facts: &UtilityFacts, refuse: &dyn Fn(ReasonCode, String) -> Verdict) -> Option<Verdict> {
    match &facts.action {
        UtilityAction::Load => Some(refuse(ReasonCode::LoadRefused, "LOAD".into())),
        UtilityAction::AlterSetting { name: None } => Some(refuse(ReasonCode::SettingProtected, format!("{} RESET ALL", facts.tag))),
        UtilityAction::AlterSetting { name: Some(n) } if is_protected_setting(n) => {
            Some(refuse(ReasonCode::SettingProtected, format!("{} of {n}", facts.tag)))
        }
        UtilityAction::Extension { names } if names.iter().any(|n| n == "interdict") => {
            Some(refuse(ReasonCode::ExtensionProtected, format!("{} interdict", facts.tag)))
        }
        UtilityAction::SetVariable { name, value: None } if name.starts_with("interdict.") => {
            let code = if name == "interdict.mode" { ReasonCode::ModeLocked } else { ReasonCode::SettingLocked };
            Some(refuse(code, format!("RESET of {name}")))
        }
        _ => None,
    }
}

fn readonly_utility(facts: &UtilityFacts, refuse: &dyn Fn(ReasonCode, String) -> Verdict) -> Verdict {
    let tag = facts.tag.as_str();
    match &facts.action {
        UtilityAction::TransactionMode { read_write: true } => {
            return refuse(ReasonCode::ReadonlyTransactionMode, format!("{tag} READ WRITE"))
        }
        UtilityAction::SetVariable { name, value } if READ_ONLY_SWITCHES.contains(&name.as_str()) => {
            if !value.as_deref().is_some_and(is_true) {
                return refuse(ReasonCode::ReadonlyTransactionMode, format!("{tag} {name}"));
            }
        }
        UtilityAction::SetVariable { name, .. } if name == "session_replication_role" => {
            return refuse(ReasonCode::ReadonlyTransactionMode, format!("{tag} {name}"))
        }
        UtilityAction::Copy { from: true, .. } => return refuse(ReasonCode::ReadonlyCopyFrom, "COPY FROM".into()),
        UtilityAction::Copy { program: true, .. } => {
            return refuse(ReasonCode::ReadonlyServerProgram, "COPY TO PROGRAM".into())
        }
        UtilityAction::Copy { file: true, .. } => return refuse(ReasonCode::ReadonlyServerFile, "COPY TO file".into()),
        UtilityAction::Lock { stronger_than_access_share: true } => {
            return refuse(ReasonCode::ReadonlyTableLock, "LOCK TABLE".into())
        }
        // DO runs its statements through the hooks, but an untrusted language's own code (a file
        // written, a process started) passes none of them.
        UtilityAction::Code { language, trusted: false } => {
            return refuse(ReasonCode::ReadonlyUntrustedCode, format!("{tag} in language {language}"))
        }
        _ => {}
    }
    if READONLY_SAFE_TAGS.contains(&tag) {
        return Verdict::Allow;
    }
    let code = if MAINTENANCE_TAGS.contains(&tag) {
        ReasonCode::ReadonlyMaintenance
    } else if TWO_PHASE_TAGS.contains(&tag) {
        ReasonCode::ReadonlyTwoPhase
    } else if tag == "NOTIFY" {
        ReasonCode::ReadonlyNotify
    } else if tag == "TRUNCATE TABLE" {
        ReasonCode::ReadonlyDml
    } else {
        ReasonCode::ReadonlyDdl
    };
    refuse(code, tag.to_string())
}

/// Whether a boolean setting value means true, as `guc.c: parse_bool` reads it: `1`, `on`, or a
/// prefix of `true` or `yes`.
fn is_true(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v == "1" || v == "on" || (!v.is_empty() && ("true".starts_with(&v) || "yes".starts_with(&v)))
}

/// A planned statement (`ExecutorStart`).
pub fn decide_plan(settings: &Settings, facts: &PlanFacts) -> Verdict {
    let mode = settings.mode;
    if mode == Mode::Off || facts.explain_only {
        return Verdict::Allow;
    }
    let refuse = |code: ReasonCode, what: String| {
        let mut r = Refusal::new(code, mode, what).fact("command", facts.operation.as_str());
        if let Some(rel) = &facts.relation {
            r = r.fact("relation", rel.clone());
        }
        Verdict::Refuse(r)
    };
    if mode == Mode::Guarded {
        return guarded_plan(facts, &refuse);
    }
    let on = facts.relation.as_deref().map(|r| format!(" on {r}")).unwrap_or_default();
    match facts.operation {
        Operation::Insert | Operation::Update | Operation::Delete | Operation::Merge => {
            refuse(ReasonCode::ReadonlyDml, format!("{}{on}", facts.operation.as_str()))
        }
        Operation::Unknown => refuse(ReasonCode::Undecidable, "statement".into()),
        Operation::Select if facts.modifying_cte => refuse(ReasonCode::ReadonlyWritableCte, format!("WITH … {}", "SELECT")),
        Operation::Select if facts.row_lock => refuse(ReasonCode::ReadonlyRowLock, format!("SELECT … FOR UPDATE/SHARE{on}")),
        Operation::Select => Verdict::Allow,
    }
}

/// A function or operator about to be evaluated (`OAT_FUNCTION_EXECUTE`).
pub fn decide_function(settings: &Settings, facts: &FunctionFacts) -> Verdict {
    if !facts.native {
        return Verdict::Allow;
    }
    let refuse = |code: ReasonCode| {
        let refusal = Refusal::new(code, settings.mode, format!("function {}()", facts.name)).fact("function", facts.name.clone());
        match &facts.symbol {
            Some(symbol) => refusal.fact("runs", symbol.clone()),
            None => refusal,
        }
    };
    // Known to change something: refused for what it does; else refused when VOLATILE and not known
    // to change nothing (default deny: the lists name only what is known).
    let unknown = !facts.guard && facts.judged(side_effect).is_none() && crate::functions::unknown(facts.runs(), facts.volatile);
    if settings.foreign_code && facts.judged(|n| SESSION_STATE_FUNCTIONS.contains(&n).then_some(())).is_some() {
        return Verdict::Refuse(refuse(ReasonCode::SystemAgentCode));
    }
    match settings.mode {
        Mode::Readonly if unknown => Verdict::Refuse(refuse(ReasonCode::ReadonlyUnknownFunction)),
        Mode::Readonly => facts.judged(side_effect).map_or(Verdict::Allow, |code| Verdict::Refuse(refuse(code))),
        Mode::Guarded if unknown => Verdict::Refuse(refuse(ReasonCode::GuardedUnknownFunction)),
        // Guarded writes are allowed when undo can record them, and nothing may act on the server
        // or other sessions.
        Mode::Guarded => match facts.judged(crate::functions::guarded_refusal) {
            None => Verdict::Allow,
            Some((code, None)) => Verdict::Refuse(refuse(code)),
            Some((code, Some(why))) => Verdict::Refuse(refuse(code).fact("why", why)),
        },
        Mode::Off => Verdict::Allow,
    }
}

/// Inside `interdict.simulate()`: what a rolled-back subtransaction could not undo is refused
/// outright (never run), whatever the mode.
pub fn decide_simulated(mode: Mode, utility: Option<&UtilityFacts>, function: Option<&FunctionFacts>) -> Verdict {
    let refuse = |what: String| Verdict::Refuse(Refusal::new(ReasonCode::SimulateIrreversible, mode, what));
    // A utility command a rollback does not undo (LOAD, PREPARE, DEALLOCATE, DISCARD, CHECKPOINT, …).
    if let Some(u) = utility {
        if crate::utility_table::command(&u.node).is_some_and(|c| !c.transactional) {
            return refuse(format!("{} in a simulation", u.tag)).fact("command", u.tag.clone());
        }
    }
    if let Some(UtilityAction::Copy { file, program, .. }) = utility.map(|u| &u.action) {
        if *program {
            return refuse("COPY … PROGRAM in a simulation".into());
        }
        if *file {
            return refuse("COPY … file in a simulation".into());
        }
    }
    match function {
        Some(f) if f.native && f.judged(|n| crate::functions::irreversible(n).then_some(())).is_some() => {
            Verdict::Refuse(Refusal::new(ReasonCode::SimulateIrreversible, mode, format!("function {}() in a simulation", f.name)).fact("function", f.name.clone()))
        }
        _ => Verdict::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Modifier, TableChange, TypeRef};

    const TAGS: &[&str] = &["ANALYZE", "BEGIN", "COPY", "CREATE TABLE", "LOAD", "SET", "VACUUM", "SELECT INTO", "ALTER ROLE", "DROP EXTENSION", "RESET", "NOTIFY", "TRUNCATE TABLE", "PREPARE TRANSACTION", "EXPLAIN", "LOCK TABLE", "DROP TABLE", "DROP SCHEMA", "DROP DATABASE", "GRANT", "CREATE ROLE", "ALTER SYSTEM", "DROP TRIGGER", "ALTER TABLE", "ALTER SEQUENCE", "CREATE FUNCTION", "CREATE EXTENSION", "DO", "CHECKPOINT", "PREPARE", "CREATE OPERATOR", "ALTER DATABASE"];

    /// The statement node each test tag comes from (as `CreateCommandTag` and `nodes.h` say).
    fn node_of(tag: &str) -> &'static str {
        match tag {
            "ANALYZE" | "VACUUM" => "VacuumStmt",
            "BEGIN" | "PREPARE TRANSACTION" => "TransactionStmt",
            "COPY" => "CopyStmt",
            "CREATE TABLE" => "CreateStmt",
            "LOAD" => "LoadStmt",
            "SET" | "RESET" => "VariableSetStmt",
            "SELECT INTO" => "CreateTableAsStmt",
            "ALTER ROLE" => "AlterRoleSetStmt",
            "DROP EXTENSION" | "DROP TABLE" | "DROP SCHEMA" | "DROP TRIGGER" => "DropStmt",
            "NOTIFY" => "NotifyStmt",
            "TRUNCATE TABLE" => "TruncateStmt",
            "EXPLAIN" => "ExplainStmt",
            "LOCK TABLE" => "LockStmt",
            "DROP DATABASE" => "DropdbStmt",
            "GRANT" => "GrantStmt",
            "CREATE ROLE" => "CreateRoleStmt",
            "ALTER SYSTEM" => "AlterSystemStmt",
            "ALTER TABLE" => "AlterTableStmt",
            "ALTER SEQUENCE" => "AlterSeqStmt",
            "CREATE FUNCTION" => "CreateFunctionStmt",
            "CREATE EXTENSION" => "CreateExtensionStmt",
            "DO" => "DoStmt",
            "CHECKPOINT" => "CheckPointStmt",
            "PREPARE" => "PrepareStmt",
            "CREATE OPERATOR" => "DefineStmt",
            "ALTER DATABASE" => "AlterDatabaseSetStmt",
            _ => "Unknown",
        }
    }

    fn settings(mode: Mode) -> Settings {
        Settings { mode, ..Settings::default() }
    }

    fn utility(tag: &str, action: UtilityAction) -> UtilityFacts {
        let tag_index = TAGS.iter().position(|t| *t == tag).expect("tag in TAGS");
        UtilityFacts { node: node_of(tag).into(), tag: tag.into(), tag_index, action, guard_schema: false, guard_object: None, scratch_only: false, triggers_off: false }
    }

    fn code(v: Verdict) -> Option<&'static str> {
        v.code().map(|c| c.reason().code)
    }

    fn plan(operation: Operation) -> PlanFacts {
        PlanFacts {
            operation,
            modifying_cte: false,
            row_lock: false,
            explain_only: false,
            relation: Some("public.t".into()),
            unscoped: vec![],
            guard_schema_write: None,
            triggers_off: false,
        }
    }

    #[test]
    fn off_allows_everything() {
        let s = settings(Mode::Off);
        assert!(decide_utility(&s, &utility("LOAD", UtilityAction::Load)).is_allowed());
        assert!(decide_plan(&s, &plan(Operation::Delete)).is_allowed());
        assert!(decide_function(&s, &FunctionFacts { name: "nextval".into(), native: true, symbol: None, volatile: false, guard: false }).is_allowed());
    }

    #[test]
    fn an_agents_code_elsewhere_leaves_nothing_behind() {
        let s = Settings { foreign_code: true, ..settings(Mode::Readonly) };
        for tag in ["SET", "RESET", "PREPARE", "LOCK TABLE", "BEGIN", "NOTIFY"] {
            assert_eq!(code(decide_utility(&s, &utility(tag, UtilityAction::Other))), Some("system.agent_code"), "{tag}");
        }
        assert_eq!(code(decide_utility(&s, &utility("CREATE TABLE", UtilityAction::Other))), Some("system.agent_code"));
        assert!(decide_utility(&s, &utility("DO", UtilityAction::Other)).is_allowed(), "DO's statements are judged one by one");
        assert!(decide_utility(&settings(Mode::Readonly), &utility("SET", UtilityAction::Other)).is_allowed(), "an agent's own session may SET");
        let f = |name: &str| FunctionFacts { name: name.into(), native: true, symbol: None, volatile: true, guard: false };
        let set_config = FunctionFacts { symbol: Some("set_config_by_name".into()), ..f("set_config") };
        assert_eq!(code(decide_function(&s, &set_config)), Some("system.agent_code"));
        assert!(decide_function(&settings(Mode::Readonly), &set_config).is_allowed());
        assert_eq!(code(decide_function(&s, &f("nextval"))), Some("readonly.sequence"), "readonly's refusals stand (reported as agent code by the outcome)");
        assert!(decide_function(&s, &FunctionFacts { volatile: false, ..f("lower") }).is_allowed());
    }

    #[test]
    fn readonly_refuses_dml_with_the_relation() {
        let v = decide_plan(&settings(Mode::Readonly), &plan(Operation::Delete));
        let Verdict::Refuse(r) = v else { panic!("allowed") };
        assert_eq!(r.code, ReasonCode::ReadonlyDml);
        assert_eq!(r.message(), "interdict: DELETE on public.t refused: readonly sessions cannot change table data");
        assert!(r.detail().contains(r#""relation":"public.t""#));
        for op in [Operation::Insert, Operation::Update, Operation::Merge] {
            assert_eq!(code(decide_plan(&settings(Mode::Readonly), &plan(op))), Some("readonly.dml"));
        }
    }

    #[test]
    fn readonly_plan_modifiers() {
        let s = settings(Mode::Readonly);
        let cte = PlanFacts { modifying_cte: true, ..plan(Operation::Select) };
        assert_eq!(code(decide_plan(&s, &cte)), Some("readonly.writable_cte"));
        let lock = PlanFacts { row_lock: true, ..plan(Operation::Select) };
        assert_eq!(code(decide_plan(&s, &lock)), Some("readonly.row_lock"));
        assert!(decide_plan(&s, &plan(Operation::Select)).is_allowed());
        let explain = PlanFacts { explain_only: true, ..plan(Operation::Delete) };
        assert!(decide_plan(&s, &explain).is_allowed(), "plain EXPLAIN never runs the write");
        assert_eq!(code(decide_plan(&s, &plan(Operation::Unknown))), Some("internal.undecidable"));
    }

    #[test]
    fn guarded_plans() {
        let s = settings(Mode::Guarded);
        assert!(decide_plan(&s, &plan(Operation::Delete)).is_allowed(), "a scoped delete");
        let unscoped = PlanFacts { unscoped: vec!["DELETE on public.t".into()], ..plan(Operation::Delete) };
        let Verdict::Refuse(r) = decide_plan(&s, &unscoped) else { panic!("allowed") };
        assert_eq!(r.code, ReasonCode::GuardedUnscopedWrite);
        assert!(r.code.approvable());
        assert_eq!(r.message(), "interdict: DELETE on public.t refused: an UPDATE or DELETE whose WHERE does not restrict the rows changes every row of the table");
        let cte = PlanFacts { unscoped: vec!["UPDATE on public.t".into()], ..plan(Operation::Select) };
        assert_eq!(code(decide_plan(&s, &cte)), Some("guarded.unscoped_write"), "inside a WITH clause");
        let guard = PlanFacts { guard_schema_write: Some("interdict.approvals".into()), ..plan(Operation::Insert) };
        assert_eq!(code(decide_plan(&s, &guard)), Some("guarded.guard_schema"));
        assert!(!ReasonCode::GuardedGuardSchema.approvable());
        let explain = PlanFacts { explain_only: true, ..unscoped };
        assert!(decide_plan(&s, &explain).is_allowed(), "plain EXPLAIN never runs the write");
        let lock = PlanFacts { row_lock: true, ..plan(Operation::Select) };
        assert!(decide_plan(&s, &lock).is_allowed(), "guarded sessions may lock rows");
        let replica = PlanFacts { triggers_off: true, ..plan(Operation::Update) };
        assert_eq!(code(decide_plan(&s, &replica)), Some("guarded.bypass"), "writes with triggers off");
        assert!(decide_plan(&s, &PlanFacts { triggers_off: true, ..plan(Operation::Select) }).is_allowed());
        let copy = |from| UtilityFacts { triggers_off: true, ..utility("COPY", UtilityAction::Copy { from, file: false, program: false }) };
        assert_eq!(code(decide_utility(&s, &copy(true))), Some("guarded.bypass"), "COPY FROM with triggers off");
        assert!(decide_utility(&s, &copy(false)).is_allowed(), "COPY TO STDOUT writes nothing");
        let alter = UtilityFacts { triggers_off: true, ..utility("ALTER TABLE", UtilityAction::AlterTable { changes: vec![] }) };
        assert_eq!(code(decide_utility(&s, &alter)), Some("guarded.bypass"), "a table's own code altering a table mid-revert");
    }

    #[test]
    fn guarded_refuses_what_changes_rows_without_writing_them() {
        let s = settings(Mode::Guarded);
        let enum_stmt = |action| UtilityFacts { node: "AlterEnumStmt".into(), tag: "ALTER TYPE".into(), ..utility("ALTER TABLE", action) };
        let rename = enum_stmt(UtilityAction::Rename { kind: crate::guarded::ENUM_VALUE.into() });
        assert_eq!(code(decide_utility(&s, &rename)), Some("guarded.not_reversible"), "RENAME VALUE relabels rows");
        assert!(decide_utility(&s, &enum_stmt(UtilityAction::Other)).is_allowed(), "ADD VALUE changes no row");
        let attach = UtilityAction::AlterTable { changes: vec![TableChange::Subcommand { name: "AttachPartition".into(), target: String::new() }] };
        assert_eq!(code(decide_utility(&s, &utility("ALTER TABLE", attach))), Some("guarded.not_reversible"), "ATTACH brings rows in unrecorded");
    }

    #[test]
    fn guarded_structural_utility() {
        let s = settings(Mode::Guarded);
        let drop = |kind: &str| UtilityAction::Drop { kind: kind.into(), cascade: false };
        for (tag, action, expected) in [
            ("TRUNCATE TABLE", UtilityAction::Other, "guarded.truncate"),
            ("DROP TABLE", drop("TABLE"), "guarded.drop"),
            ("DROP SCHEMA", drop("SCHEMA"), "guarded.drop"),
            ("DROP DATABASE", UtilityAction::Other, "guarded.drop"),
            ("GRANT", UtilityAction::Other, "guarded.privileges"),
            ("CREATE ROLE", UtilityAction::Other, "guarded.roles"),
            ("ALTER SYSTEM", UtilityAction::Other, "guarded.server_config"),
            ("ALTER DATABASE", UtilityAction::AlterSetting { name: Some("work_mem".into()) }, "guarded.server_config"),
            ("DROP TRIGGER", drop("TRIGGER"), "guarded.bypass"),
            ("CHECKPOINT", UtilityAction::Other, "guarded.server_admin"),
            ("NOTIFY", UtilityAction::Other, "guarded.server_admin"),
            ("CREATE OPERATOR", UtilityAction::Define { kind: "OPERATOR".into() }, "guarded.command"),
            ("CREATE FUNCTION", UtilityAction::Code { language: "c".into(), trusted: false }, "guarded.untrusted_code"),
            ("DO", UtilityAction::Code { language: "plperlu".into(), trusted: false }, "guarded.untrusted_code"),
            ("CREATE EXTENSION", UtilityAction::CreateExtension { name: "dblink".into(), allowed: false }, "guarded.untrusted_code"),
            ("PREPARE TRANSACTION", UtilityAction::Other, "guarded.command"),
        ] {
            assert_eq!(code(decide_utility(&s, &utility(tag, action))), Some(expected), "{tag}");
        }
        assert!(!ReasonCode::GuardedUntrustedCode.approvable(), "no approval adds untrusted code");
        assert!(decide_utility(&s, &utility("CREATE TABLE", UtilityAction::Other)).is_allowed());
        assert!(decide_utility(&s, &utility("VACUUM", UtilityAction::Other)).is_allowed());
        assert!(decide_utility(&s, &utility("CREATE FUNCTION", UtilityAction::Code { language: "plpgsql".into(), trusted: true })).is_allowed());
        assert!(decide_utility(&s, &utility("CREATE EXTENSION", UtilityAction::CreateExtension { name: "pgcrypto".into(), allowed: true })).is_allowed());
        let mut unknown = utility("CREATE TABLE", UtilityAction::Other);
        unknown.node = "CreateSomethingNewStmt".into();
        assert_eq!(code(decide_utility(&s, &unknown)), Some("guarded.command"), "a node type the table does not know: default deny");
        let sub = |name: &str| TableChange::Subcommand { name: name.into(), target: "x".into() };
        let alter = |c: TableChange| utility("ALTER TABLE", UtilityAction::AlterTable { changes: vec![sub("AddColumn"), c] });
        assert_eq!(code(decide_utility(&s, &alter(sub("DropColumn")))), Some("guarded.drop_column"));
        let retype = |from: &str, to: &str, rewrites| TableChange::ColumnType { column: "x".into(), from: TypeRef::new(from, Modifier::None), to: TypeRef::new(to, Modifier::None), rewrites };
        assert_eq!(code(decide_utility(&s, &alter(retype("int8", "int4", false)))), Some("guarded.column_type"));
        assert!(decide_utility(&s, &alter(retype("int4", "int8", false))).is_allowed());
        assert_eq!(code(decide_utility(&s, &alter(retype("int4", "int4", true)))), Some("guarded.column_type"), "USING an expression: a rewrite");
        assert_eq!(code(decide_utility(&s, &alter(sub("DisableTrig")))), Some("guarded.bypass"));
        assert_eq!(code(decide_utility(&s, &alter(sub("SetUnLogged")))), Some("guarded.command"));
        let drop_key = |key| TableChange::DropConstraint { name: "k".into(), key };
        assert_eq!(code(decide_utility(&s, &alter(drop_key(true)))), Some("guarded.drop_key"));
        assert!(decide_utility(&s, &alter(drop_key(false))).is_allowed(), "a CHECK constraint");
        assert!(decide_utility(&s, &alter(sub("AddConstraint"))).is_allowed(), "ADD COLUMN and friends");
        let mut scratch = utility("DROP TABLE", drop("TABLE"));
        scratch.scratch_only = true;
        assert!(decide_utility(&s, &scratch).is_allowed(), "the session's own temporary table");
        let set = |v: Option<&str>| utility("SET", UtilityAction::SetVariable { name: "session_replication_role".into(), value: v.map(String::from) });
        assert_eq!(code(decide_utility(&s, &set(Some("replica")))), Some("guarded.bypass"));
        let Verdict::Refuse(r) = decide_utility(&s, &set(Some("replica"))) else { unreachable!() };
        assert!(!r.approvable(), "session_replication_role is locked at origin: no approval lets it change");
        let seq = |rewinds| utility("ALTER SEQUENCE", UtilityAction::AlterSequence { rewinds });
        assert_eq!(code(decide_utility(&s, &seq(true))), Some("guarded.not_reversible"), "ALTER SEQUENCE … RESTART");
        assert!(decide_utility(&s, &seq(false)).is_allowed(), "ALTER SEQUENCE … CACHE 10");
        assert_eq!(code(decide_utility(&s, &alter(TableChange::RewindsSequence { column: "id".into() }))), Some("guarded.not_reversible"), "identity RESTART");
        assert!(decide_utility(&s, &set(Some("origin"))).is_allowed());
        let mut on_guard = utility("ALTER TABLE", UtilityAction::AlterTable { changes: vec![] });
        assert!(decide_utility(&s, &on_guard).is_allowed());
        on_guard.guard_schema = true;
        assert_eq!(code(decide_utility(&s, &on_guard)), Some("guarded.guard_schema"));
    }

    #[test]
    fn readonly_utility_default_deny() {
        let s = settings(Mode::Readonly);
        assert_eq!(code(decide_utility(&s, &utility("CREATE TABLE", UtilityAction::Other))), Some("readonly.ddl"));
        assert_eq!(code(decide_utility(&s, &utility("SELECT INTO", UtilityAction::Other))), Some("readonly.ddl"));
        assert_eq!(code(decide_utility(&s, &utility("VACUUM", UtilityAction::Other))), Some("readonly.maintenance"));
        assert_eq!(code(decide_utility(&s, &utility("NOTIFY", UtilityAction::Other))), Some("readonly.notify"));
        assert_eq!(code(decide_utility(&s, &utility("TRUNCATE TABLE", UtilityAction::Other))), Some("readonly.dml"));
        assert_eq!(code(decide_utility(&s, &utility("PREPARE TRANSACTION", UtilityAction::Other))), Some("readonly.two_phase"));
        assert!(decide_utility(&s, &utility("EXPLAIN", UtilityAction::Other)).is_allowed());
        let untrusted = UtilityAction::Code { language: "plpython3u".into(), trusted: false };
        assert_eq!(code(decide_utility(&s, &utility("DO", untrusted))), Some("readonly.untrusted_code"));
        assert!(decide_utility(&s, &utility("DO", UtilityAction::Code { language: "plpgsql".into(), trusted: true })).is_allowed());
    }

    #[test]
    fn readonly_copy_and_lock() {
        let s = settings(Mode::Readonly);
        let copy = |from, file, program| utility("COPY", UtilityAction::Copy { from, file, program });
        assert_eq!(code(decide_utility(&s, &copy(true, false, false))), Some("readonly.copy_from"));
        assert_eq!(code(decide_utility(&s, &copy(false, true, false))), Some("readonly.server_file"));
        assert_eq!(code(decide_utility(&s, &copy(false, true, true))), Some("readonly.server_program"));
        assert!(decide_utility(&s, &copy(false, false, false)).is_allowed());
        let lock = |strong| utility("LOCK TABLE", UtilityAction::Lock { stronger_than_access_share: strong });
        assert_eq!(code(decide_utility(&s, &lock(true))), Some("readonly.table_lock"));
        assert!(decide_utility(&s, &lock(false)).is_allowed());
    }

    #[test]
    fn guarded_copy_outside_the_database_is_not_reversible() {
        let s = settings(Mode::Guarded);
        let copy = |from, file, program| utility("COPY", UtilityAction::Copy { from, file, program });
        assert_eq!(code(decide_utility(&s, &copy(false, true, false))), Some("guarded.not_reversible"), "TO a server file");
        assert_eq!(code(decide_utility(&s, &copy(false, true, true))), Some("guarded.untrusted_code"), "TO PROGRAM");
        assert_eq!(code(decide_utility(&s, &copy(true, true, true))), Some("guarded.untrusted_code"), "FROM PROGRAM runs a program");
        assert!(decide_utility(&s, &copy(true, true, false)).is_allowed(), "FROM a file: its rows are recorded");
        assert!(decide_utility(&s, &copy(false, false, false)).is_allowed(), "TO STDOUT");
    }

    #[test]
    fn readonly_transaction_escapes() {
        let s = settings(Mode::Readonly);
        let begin = |rw| utility("BEGIN", UtilityAction::TransactionMode { read_write: rw });
        assert_eq!(code(decide_utility(&s, &begin(true))), Some("readonly.transaction_mode"));
        assert!(decide_utility(&s, &begin(false)).is_allowed());
        let set = |name: &str, value: Option<&str>| {
            utility("SET", UtilityAction::SetVariable { name: name.into(), value: value.map(String::from) })
        };
        for off in [Some("off"), Some("false"), Some("0"), Some("no"), None] {
            assert_eq!(code(decide_utility(&s, &set("default_transaction_read_only", off))), Some("readonly.transaction_mode"), "{off:?}");
        }
        for on in ["on", "true", "1", "yes", "TRUE", "t"] {
            assert!(decide_utility(&s, &set("transaction_read_only", Some(on))).is_allowed(), "{on}");
        }
        assert_eq!(code(decide_utility(&s, &set("session_replication_role", Some("origin")))), Some("readonly.transaction_mode"));
        assert!(decide_utility(&s, &set("statement_timeout", Some("5s"))).is_allowed());
    }

    #[test]
    fn agent_limits_hold_in_guarded_too() {
        for mode in [Mode::Guarded, Mode::Readonly] {
            let s = settings(mode);
            assert_eq!(code(decide_utility(&s, &utility("LOAD", UtilityAction::Load))), Some("session.load"));
            let alter = |n: Option<&str>| utility("ALTER ROLE", UtilityAction::AlterSetting { name: n.map(String::from) });
            assert_eq!(code(decide_utility(&s, &alter(Some("interdict.mode")))), Some("setting.protected"));
            assert_eq!(code(decide_utility(&s, &alter(Some("session_preload_libraries")))), Some("setting.protected"));
            assert_eq!(code(decide_utility(&s, &alter(None))), Some("setting.protected"));
            let drop = utility("DROP EXTENSION", UtilityAction::Extension { names: vec!["pgcrypto".into(), "interdict".into()] });
            assert_eq!(code(decide_utility(&s, &drop)), Some("extension.protected"));
            let mut member = utility("ALTER TABLE", UtilityAction::AlterTable { changes: vec![] });
            member.guard_object = Some("function interdict.capturing".into());
            let expected = if mode == Mode::Guarded { "extension.protected" } else { "readonly.ddl" };
            assert_eq!(code(decide_utility(&s, &member)), Some(expected), "an object of the extension, by identity");
            let reset = |n: &str| utility("RESET", UtilityAction::SetVariable { name: n.into(), value: None });
            assert_eq!(code(decide_utility(&s, &reset("interdict.mode"))), Some("mode.locked"));
            assert_eq!(code(decide_utility(&s, &reset("interdict.blocked_commands"))), Some("setting.locked"));
        }
        let guarded = settings(Mode::Guarded);
        let alter_other = utility("ALTER ROLE", UtilityAction::AlterSetting { name: Some("work_mem".into()) });
        assert_eq!(code(decide_utility(&guarded, &alter_other)), Some("guarded.roles"), "role changes are structural in guarded");
    }

    #[test]
    fn blocked_and_allowed_commands() {
        let vacuum = utility("VACUUM", UtilityAction::Other);
        let analyze = utility("ANALYZE", UtilityAction::Other);
        let mut s = settings(Mode::Guarded);
        s.blocked = CommandSet::parse("vacuum", TAGS).unwrap();
        assert_eq!(code(decide_utility(&s, &vacuum)), Some("command.blocked"));
        assert!(decide_utility(&s, &analyze).is_allowed());
        s.mode = Mode::Readonly;
        s.readonly_allow = CommandSet::parse("ANALYZE, VACUUM", TAGS).unwrap();
        assert!(decide_utility(&s, &analyze).is_allowed(), "a DBA's readonly exception");
        assert_eq!(code(decide_utility(&s, &vacuum)), Some("command.blocked"), "blocked wins over allowed");
        s.mode = Mode::Off;
        assert!(decide_utility(&s, &vacuum).is_allowed(), "off ignores the list");
    }

    #[test]
    fn simulations_refuse_what_rollback_cannot_undo() {
        let f = |name: &str| FunctionFacts { name: name.into(), native: true, symbol: None, volatile: false, guard: false };
        for name in ["dblink_exec", "pg_terminate_backend", "lo_export", "pg_advisory_lock", "pg_file_write"] {
            assert_eq!(code(decide_simulated(Mode::Guarded, None, Some(&f(name)))), Some("simulate.irreversible"), "{name}");
        }
        for name in ["nextval", "lo_create", "pg_notify", "upper"] {
            assert!(decide_simulated(Mode::Guarded, None, Some(&f(name))).is_allowed(), "{name} is rolled back (or reported)");
        }
        let copy = |file, program| utility("COPY", UtilityAction::Copy { from: false, file, program });
        assert_eq!(code(decide_simulated(Mode::Off, Some(&copy(true, true)), None)), Some("simulate.irreversible"));
        assert_eq!(code(decide_simulated(Mode::Off, Some(&copy(true, false)), None)), Some("simulate.irreversible"));
        assert!(decide_simulated(Mode::Off, Some(&copy(false, false)), None).is_allowed());
    }

    #[test]
    fn functions_by_side_effect_native_only() {
        let s = settings(Mode::Readonly);
        let f = |name: &str, native| FunctionFacts { name: name.into(), native, symbol: None, volatile: false, guard: false };
        let v = decide_function(&s, &f("nextval", true));
        assert_eq!(code(v.clone()), Some("readonly.sequence"));
        let Verdict::Refuse(r) = v else { unreachable!() };
        assert_eq!(r.message(), "interdict: function nextval() refused: advancing or setting a sequence changes the database");
        assert!(decide_function(&s, &f("nextval", false)).is_allowed(), "a SQL function named nextval is judged by what it runs");
        assert!(decide_function(&s, &f("upper", true)).is_allowed());
        assert!(decide_function(&settings(Mode::Guarded), &f("nextval", true)).is_allowed());
        let guarded = |name| decide_function(&settings(Mode::Guarded), &f(name, true)).code();
        assert_eq!(guarded("lo_put"), Some(ReasonCode::GuardedNotReversible), "undo cannot record large objects");
        assert_eq!(guarded("dblink_exec"), Some(ReasonCode::GuardedUntrustedCode), "a connection runs SQL no guard sees (this server's, as its DBA)");
        assert_eq!(guarded("pg_file_write"), Some(ReasonCode::GuardedNotReversible), "nor server files");
        assert_eq!(guarded("pg_advisory_lock"), None, "guarded mode judges what is written, not locks");
        assert!(decide_function(&settings(Mode::Guarded), &f("lo_put", false)).is_allowed(), "a SQL function of that name: by what it runs");
        assert_eq!(guarded("setval"), Some(ReasonCode::GuardedNotReversible), "a sequence set back cannot be undone");
        assert_eq!(guarded("nextval"), None, "a sequence moving forward collides with nothing");
        assert!(decide_function(&s, &f("lo_open", true)).is_allowed(), "opening changes nothing; writes through it are refused");
        assert!(decide_function(&s, &f("loread", true)).is_allowed());
        let alias = |symbol: &str| FunctionFacts { name: "cfg_refresh".into(), native: true, symbol: Some(symbol.into()), volatile: false, guard: false };
        assert_eq!(code(decide_function(&s, &alias("pg_reload_conf"))), Some("readonly.server_admin"), "a builtin declared under another name");
        assert_eq!(code(decide_function(&settings(Mode::Guarded), &alias("be_lowrite"))), Some("guarded.not_reversible"));
        assert!(decide_function(&s, &alias("upper")).is_allowed());
        let nextval = FunctionFacts { name: "nextval".into(), native: true, symbol: Some("nextval_oid".into()), volatile: true, guard: false };
        assert!(decide_function(&settings(Mode::Guarded), &nextval).is_allowed(), "the builtin nextval itself, in guarded mode");
    }

    #[test]
    fn volatile_native_functions_not_known_are_refused() {
        let f = |name: &str, symbol: Option<&str>, volatile, guard| FunctionFacts { name: name.into(), native: true, symbol: symbol.map(Into::into), volatile, guard };
        let readonly = |facts| decide_function(&settings(Mode::Readonly), &facts).code();
        let guarded = |facts| decide_function(&settings(Mode::Guarded), &facts).code();
        assert_eq!(readonly(f("pg_extension_config_dump", None, true, false)), Some(ReasonCode::ReadonlyUnknownFunction));
        assert_eq!(guarded(f("pg_extension_config_dump", None, true, false)), Some(ReasonCode::GuardedUnknownFunction));
        assert_eq!(readonly(f("my_stable_fn", None, false, false)), None, "declared STABLE: Postgres' word it changes nothing");
        assert_eq!(readonly(f("random", Some("drandom"), true, false)), None, "known by what it runs");
        assert_eq!(readonly(f("drandom", Some("pg_extension_config_dump"), true, false)), Some(ReasonCode::ReadonlyUnknownFunction), "a known name over an unknown symbol");
        assert_eq!(readonly(f("simulate", Some("simulate_wrapper"), true, true)), None, "the guard's own functions decide for themselves");
        assert_eq!(readonly(f("pg_reload_conf", None, true, false)), Some(ReasonCode::ReadonlyServerAdmin), "listed: refused for what it does");
        assert_eq!(guarded(f("nextval", Some("nextval_oid"), true, false)), None);
        assert_eq!(guarded(f("pg_advisory_lock", Some("pg_advisory_lock_int8"), true, false)), None);
        assert_eq!(readonly(f("txid_current", None, false, false)), Some(ReasonCode::ReadonlyServerAdmin), "STABLE, yet assigns a transaction id");
    }
}
