//! THE table of reason codes. Every refusal Interdict raises names one of these; the error's
//! SQLSTATE, the message's "why" and the hint come from here. `docs/reason-codes.md` lists the same
//! rows, and a test keeps the two in step: adding a reason is one row here and one row there.

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    /// Stable code an agent can match on, `area.name`.
    pub code: &'static str,
    /// SQLSTATE of the error.
    pub sqlstate: &'static str,
    /// Why it is refused: ends the error message.
    pub why: &'static str,
    /// The fix, for the error's HINT.
    pub hint: &'static str,
    /// What may happen to such a refusal (see [`Props`]).
    pub props: Props,
    /// The key under `structural:` with which a policy may relax it (allow, confirm, refuse);
    /// `None`: no policy relaxes it, and a policy that names it does not load.
    pub policy_key: Option<&'static str>,
}

/// The properties of a reason, as flags: each is a column of the table, never a test on the code's
/// text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Props(u8);

impl Props {
    /// An operator may let the statement through with `interdict.approve(id)`.
    pub const APPROVABLE: Props = Props(1);
    /// A dry-run session (`interdict.dry_run`) logs it and lets the statement go on.
    pub const DRY_RUNNABLE: Props = Props(2);
    /// It protects shared data: the session's own temporary tables (scratch) are exempt.
    pub const PROTECTS_DATA: Props = Props(4);
    /// What it refuses destroys rows undo cannot record: a policy that allows it needs
    /// `non_reversible: allow` as well.
    pub const UNRECORDABLE: Props = Props(8);
    pub const NONE: Props = Props(0);

    pub const fn of(flags: &[Props]) -> Props {
        let mut bits = 0;
        let mut i = 0;
        while i < flags.len() {
            bits |= flags[i].0;
            i += 1;
        }
        Props(bits)
    }

    pub const fn has(self, flag: Props) -> bool {
        self.0 & flag.0 == flag.0
    }
}

macro_rules! reasons {
    ($( $variant:ident => $code:literal, $sqlstate:literal, [$($prop:ident)* $(= $key:literal)?],
        $why:literal, $hint:literal; )*) => {
        /// A reason code, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReasonCode { $( $variant, )* }

        /// Every reason, in table order.
        pub const REASONS: &[Reason] = &[ $( Reason {
            code: $code,
            sqlstate: $sqlstate,
            why: $why,
            hint: $hint,
            props: Props::of(&[ $( Props::$prop, )* ]),
            policy_key: reasons!(@key $($key)?),
        }, )* ];

        impl ReasonCode {
            /// Every code, in table order.
            pub const ALL: &'static [ReasonCode] = &[ $( ReasonCode::$variant, )* ];

            /// This code's row.
            pub fn reason(self) -> &'static Reason {
                &REASONS[self as usize]
            }
        }
    };
    (@key $key:literal) => { Some($key) };
    (@key) => { None };
}

// SQLSTATEs: 25006 read_only_sql_transaction (what core raises for writes in read-only transactions,
// so clients that already handle it keep working); 42501 insufficient_privilege for settings and
// commands a DBA reserved and for guarded mode's structural refusals; 22023 invalid_parameter_value
// for bad setting values; 54000 program_limit_exceeded for the blast radius; 55000
// object_not_in_prerequisite_state for a spent approval; 42601 syntax_error for simulate's input;
// 0A000 feature_not_supported for what simulate cannot roll back; 55000 also for undo errors other
// than a missing id (not 40001: retrying a conflicting revert cannot succeed).
reasons! {
    ReadonlyDml => "readonly.dml", "25006", [],
        "readonly sessions cannot change table data",
        "Run only reads (SELECT) in this session; writes need a session in guarded mode, granted by a DBA.";
    ReadonlyWritableCte => "readonly.writable_cte", "25006", [],
        "the query has a data-modifying WITH clause",
        "Remove the INSERT/UPDATE/DELETE from the WITH clause and keep the read.";
    ReadonlyRowLock => "readonly.row_lock", "25006", [],
        "row locks (FOR UPDATE/FOR SHARE) write to the rows they lock and block other sessions",
        "Drop the FOR UPDATE/FOR NO KEY UPDATE/FOR SHARE/FOR KEY SHARE clause; a plain SELECT reads the same rows.";
    ReadonlyDdl => "readonly.ddl", "25006", [],
        "readonly sessions cannot change the schema, the catalog, roles or databases",
        "Ask a DBA to make this change.";
    ReadonlyMaintenance => "readonly.maintenance", "25006", [],
        "maintenance commands change the database or the server's state",
        "Ask a DBA to run it, or to add its tag to interdict.readonly_allow for this role.";
    ReadonlyCopyFrom => "readonly.copy_from", "25006", [],
        "COPY FROM writes rows into a table",
        "Read data with COPY … TO STDOUT or SELECT; loading data needs a DBA.";
    ReadonlyServerFile => "readonly.server_file", "25006", [],
        "it writes a file on the database server",
        "Use COPY … TO STDOUT (psql's \\copy) and write the file on the client side.";
    ReadonlyServerProgram => "readonly.server_program", "25006", [],
        "it runs a program on the database server",
        "Use COPY … TO STDOUT and run the program on the client side.";
    ReadonlyUntrustedCode => "readonly.untrusted_code", "25006", [],
        "code in an untrusted language runs with the server's operating-system rights, which no check of the guard reaches",
        "Use DO in a trusted language (plpgsql, sql), or ask a DBA to run it.";
    ReadonlyTableLock => "readonly.table_lock", "25006", [],
        "table locks stronger than ACCESS SHARE block other sessions' writes",
        "Use LOCK TABLE … IN ACCESS SHARE MODE, or no explicit lock: reads take the lock they need.";
    ReadonlyTransactionMode => "readonly.transaction_mode", "25006", [],
        "readonly sessions cannot make transactions read-write or change how writes replicate and fire triggers",
        "Remove READ WRITE (or the setting); every transaction in this session is read only.";
    ReadonlySequence => "readonly.sequence", "25006", [],
        "advancing or setting a sequence changes the database",
        "Read a sequence with currval(), lastval() or SELECT last_value FROM the_sequence.";
    ReadonlyLargeObject => "readonly.large_object", "25006", [],
        "large-object writes, imports and exports change the database or the server's files",
        "Read large objects with lo_get(oid) or lo_get(oid, offset, length); writes need a DBA.";
    ReadonlyServerAdmin => "readonly.server_admin", "25006", [],
        "server administration functions act on the server or on other sessions",
        "Ask a DBA; readonly sessions may read pg_stat_activity and the other pg_stat_* views.";
    ReadonlyAdvisoryLock => "readonly.advisory_lock", "25006", [],
        "advisory locks are shared state that can block other sessions",
        "Remove the pg_advisory_* call; readonly sessions need no locks to read.";
    ReadonlyNotify => "readonly.notify", "25006", [],
        "NOTIFY and pg_notify() send messages to other sessions",
        "Remove the notification; LISTEN is allowed.";
    ReadonlyRemote => "readonly.remote", "25006", [],
        "it runs SQL through a connection to another server, which this session's guard cannot see",
        "Query the other server with its own guarded connection.";
    ReadonlyTwoPhase => "readonly.two_phase", "25006", [],
        "two-phase commit commands act on prepared transactions",
        "Use plain BEGIN/COMMIT; prepared transactions need a DBA.";
    ReadonlyUnknownFunction => "readonly.unknown_function", "25006", [],
        "a native function declared VOLATILE (it may change something) that the guard does not know to change nothing",
        "Ask a DBA to run it. A DBA who knows the function changes nothing declares it STABLE (ALTER FUNCTION … STABLE), and readonly sessions may call it.";
    ModeLocked => "mode.locked", "42501", [],
        "the session's mode is locked: it can be raised (guarded to readonly), never lowered or switched off",
        "Reconnect as a role configured for the mode you need; a DBA sets it with ALTER ROLE … SET interdict.mode.";
    SettingLocked => "setting.locked", "42501", [],
        "the setting is locked in agent sessions: interdict settings, session_replication_role and the server's logging settings can be tightened, never loosened",
        "Keep the setting as strict as it is; a DBA changes it per role with ALTER ROLE … SET.";
    SettingInvalid => "setting.invalid", "22023", [],
        "the value is not valid for this setting",
        "Use one of the valid values listed in the detail.";
    SettingProtected => "setting.protected", "42501", [],
        "agent sessions cannot change interdict, preload, read-only, replication-role or logging settings of roles, databases or the server",
        "Ask a DBA to change it from a session in mode off.";
    ExtensionProtected => "extension.protected", "42501", [],
        "agent sessions cannot change the interdict extension or any object that belongs to it (its schema, tables, functions, sequences, types, event triggers)",
        "Ask a DBA; the guard stays in force for this session whatever happens to the extension.";
    SystemProtected => "system.protected", "42501", [],
        "agent sessions cannot change the objects Postgres itself created (pg_catalog's functions, operators, types and text search configurations, the public schema, …): every session relies on them",
        "Create your own object (a function, a text search configuration) in a schema of yours and use it; a DBA changes Postgres' own objects.";
    SystemAgentCode => "system.agent_code", "42501", [],
        "code an agent role owns (a function, a trigger's or a constraint's function, an operator) runs in other roles' sessions only as a readonly session would, and changes nothing of that session either (its settings, cursors, prepared statements, transaction): it would otherwise run there unguarded",
        "Run it from the agent's own session. A DBA who has reviewed the function can make it trusted by giving it to a role that is not an agent (ALTER FUNCTION … OWNER TO …).";
    SessionReplication => "session.replication", "28000", [],
        "replication connections are refused for roles in an agent mode: replication commands pass no hook the guard sees",
        "Connect without replication=…; a DBA gives replication to a role that is not an agent.";
    LoadRefused => "session.load", "42501", [],
        "LOAD is refused in agent sessions: a library loaded now could run before the guard",
        "Ask a DBA to add the library to session_preload_libraries or shared_preload_libraries.";
    CommandBlocked => "command.blocked", "42501", [],
        "the command is in interdict.blocked_commands for this session",
        "Do without this command, or ask a DBA to remove it from interdict.blocked_commands.";
    GuardedUnscopedWrite => "guarded.unscoped_write", "42501", [APPROVABLE DRY_RUNNABLE = "unscoped_write"],
        "an UPDATE or DELETE whose WHERE does not restrict the rows changes every row of the table",
        "Add a WHERE clause that scopes the rows (e.g. WHERE id = …). If every row must change, ask an operator to approve the approval_id in the detail, then run the same statement again.";
    GuardedTruncate => "guarded.truncate", "42501", [APPROVABLE DRY_RUNNABLE PROTECTS_DATA UNRECORDABLE = "truncate"],
        "TRUNCATE removes every row at once and cannot be undone row by row",
        "Use DELETE … WHERE … in batches within interdict.max_rows, or ask an operator to approve the approval_id in the detail.";
    GuardedDrop => "guarded.drop", "42501", [APPROVABLE DRY_RUNNABLE PROTECTS_DATA UNRECORDABLE = "drop"],
        "dropping a table, schema, database or extension destroys its data",
        "Leave the object in place, or ask an operator to approve the approval_id in the detail.";
    GuardedDropKey => "guarded.drop_key", "42501", [APPROVABLE DRY_RUNNABLE PROTECTS_DATA = "drop_key"],
        "dropping a primary, unique or foreign key removes what finds rows again (undo needs it) and what keeps references valid",
        "Keep the key, or ask an operator to approve the approval_id in the detail.";
    GuardedCommand => "guarded.command", "42501", [APPROVABLE DRY_RUNNABLE PROTECTS_DATA = "command"],
        "guarded sessions run only the utility commands known to destroy nothing or to be recorded by undo (docs/guarded-commands.md), and this one is not among them",
        "Ask a DBA to run it, or an operator to approve the approval_id in the detail; a DBA's policy may allow it (structural: {command: allow}).";
    GuardedServerAdmin => "guarded.server_admin", "42501", [APPROVABLE DRY_RUNNABLE = "server_admin"],
        "it acts on the server or on other sessions (signalling or terminating backends, reloading configuration, replication slots, checkpoints, statistics, notifications)",
        "Ask a DBA; guarded sessions may cancel their own backend and take their own advisory locks.";
    GuardedUntrustedCode => "guarded.untrusted_code", "42501", [],
        "agent sessions cannot add or run code that runs unchecked: functions in C, internal or an untrusted language, programs (COPY … PROGRAM), new languages, extensions not in interdict.allowed_extensions, extension updates, triggers on other roles' tables, other roles' functions replaced or altered, their own functions in index expressions (autovacuum runs them), tables inheriting from or partitioning other roles' tables",
        "Write the function in SQL or PL/pgSQL, or ask a DBA to install it (or to add the extension to interdict.allowed_extensions); put triggers only on tables of your own; index expressions only with Postgres' own functions.";
    GuardedOthersName => "guarded.others_name", "42501", [],
        "renaming another role's object, or moving it to another schema, changes what that role's statements, applications and policies find by its name (a DBA's TRUNCATE of one table would empty another)",
        "Rename or move only objects your role owns; ask a DBA to rename theirs.";
    GuardedDropColumn => "guarded.drop_column", "42501", [APPROVABLE DRY_RUNNABLE PROTECTS_DATA UNRECORDABLE = "drop_column"],
        "dropping a column destroys its data",
        "Keep the column (stop reading it), or ask an operator to approve the approval_id in the detail.";
    GuardedColumnType => "guarded.column_type", "42501", [APPROVABLE DRY_RUNNABLE PROTECTS_DATA UNRECORDABLE = "column_type"],
        "this column type change can lose data (narrower type, shorter length or precision, or a conversion)",
        "Add a new column of the new type and copy the values, or ask an operator to approve the approval_id in the detail.";
    GuardedPrivileges => "guarded.privileges", "42501", [APPROVABLE DRY_RUNNABLE = "privileges"],
        "agent sessions in guarded mode cannot grant, revoke or reassign privileges or ownership",
        "Ask a DBA to change privileges, or an operator to approve the approval_id in the detail.";
    GuardedRoles => "guarded.roles", "42501", [APPROVABLE DRY_RUNNABLE = "roles"],
        "agent sessions in guarded mode cannot create, alter or drop roles",
        "Ask a DBA to manage roles, or an operator to approve the approval_id in the detail.";
    GuardedServerConfig => "guarded.server_config", "42501", [],
        "agent sessions in guarded mode cannot change the server's configuration",
        "Ask a DBA to change the server's settings.";
    GuardedServerFile => "guarded.server_file", "42501", [],
        "agent sessions in guarded mode write server files only into the directories interdict.file_directories names (a file the OS user owns can be a program it runs, a key it trusts, a script a server setting calls)",
        "Return the data to the client (COPY … TO STDOUT, psql's \\copy), or ask a DBA to name a directory for exports in interdict.file_directories.";
    GuardedBypass => "guarded.bypass", "42501", [APPROVABLE DRY_RUNNABLE = "bypass"],
        "it disables or bypasses triggers, rules or row-level security, which other safeguards rely on",
        "Leave triggers, rules and row security enabled; ask an operator to approve the approval_id in the detail if it is needed.";
    GuardedGuardSchema => "guarded.guard_schema", "42501", [],
        "the interdict schema holds the guard's own records and changes only through its functions",
        "Use interdict.approve(), interdict.deny() or interdict.simulate(); records are not edited by hand.";
    GuardedBlastRadius => "guarded.blast_radius", "54000", [APPROVABLE DRY_RUNNABLE],
        "the statement changes more rows than this session may change at once (limit_from in the detail says which limit)",
        "Split the statement into batches of at most max_rows rows (see the detail), or ask an operator to approve the approval_id in the detail, then run the same statement again.";
    GuardedNotReversible => "guarded.not_reversible", "55000", [APPROVABLE DRY_RUNNABLE],
        "the write cannot be recorded for undo (the table is not recorded, has no primary key or replica identity index, is foreign, or the command destroys data)",
        "Write only recorded tables (a DBA runs SELECT interdict.record('schema.table'); the table needs a primary key), or ask a DBA to allow non_reversible writes in the policy.";
    GuardedTemporaryDependency => "guarded.temporary_dependency", "42501", [],
        "a permanent object would depend on a temporary one, and the session's end (or DISCARD TEMP) drops it with that object, data and all",
        "Create the type, collation or function in a permanent schema (not pg_temp), or make the dependent object temporary too.";
    GuardedUnknownFunction => "guarded.unknown_function", "42501", [APPROVABLE DRY_RUNNABLE],
        "a native function declared VOLATILE (it may change something) that the guard does not know to change only what undo records",
        "Ask a DBA to run it, or an operator to approve the approval_id in the detail. A DBA who knows the function changes nothing declares it STABLE (ALTER FUNCTION … STABLE).";
    ApprovalInvalid => "approval.invalid", "22023", [],
        "the approval id is malformed or names no request",
        "Copy the approval_id exactly from the refusal's detail.";
    ApprovalNotOperator => "approval.not_operator", "42501", [],
        "only members of interdict_operator, in a session without an agent mode, may approve or deny",
        "Ask an operator (a member of interdict_operator) to run it from their own session.";
    ApprovalSelf => "approval.self", "42501", [],
        "an approval must come from someone other than the requesting role and the roles it can become",
        "Ask a different operator, one the requesting agent cannot act as.";
    ApprovalUsed => "approval.used", "55000", [],
        "this approval was already used, denied or expired",
        "Run the statement again to get a new refusal and ask for a new approval.";
    PolicyTableWrite => "policy.table_write", "42501", [DRY_RUNNABLE],
        "the policy says this table may not be written",
        "Leave this table alone: write only tables the policy allows, or ask a DBA to change the policy.";
    PolicyTableRead => "policy.table_read", "42501", [DRY_RUNNABLE],
        "the policy says this table may not be read",
        "Query other tables: this one is closed to this role by the DBA's policy.";
    PolicyInvalid => "policy.invalid", "22023", [],
        "the policy does not parse or validate",
        "Fix the policy at the line and column given; the policy in force stays until a valid one is loaded.";
    PolicyUnavailable => "policy.unavailable", "55000", [],
        "no valid policy is in force, so guarded mode refuses every write (reads are allowed)",
        "Ask a DBA to fix interdict.policy_file or load a valid policy with interdict.load_policy().";
    PolicyDenied => "policy.denied", "42501", [],
        "only a superuser or the extension's owner, outside agent modes, may load a policy",
        "Ask a DBA to load the policy.";
    UndoNotFound => "undo.not_found", "22023", [],
        "there is no recorded change with this id (never recorded, or purged)",
        "List this role's changes with SELECT * FROM interdict.history() and use one of their ids.";
    UndoAlreadyReverted => "undo.already_reverted", "55000", [],
        "this change has already been reverted",
        "Nothing to do; to undo the revert itself, revert the change that reverted it (see reverted_by in the detail).";
    UndoNotAllowed => "undo.not_allowed", "42501", [],
        "only the role that made a change, or an operator, may revert it; force and other roles' changes are for operators, and readonly sessions revert nothing",
        "Ask an operator (a member of interdict_operator) to revert it from their own session.";
    UndoTableChanged => "undo.table_changed", "55000", [],
        "a table this change touched was dropped, or a column it was recorded with was dropped or changed type, or its key changed, since the change was recorded",
        "Restore the rows by hand from the change's images (operators read them with interdict.change_images(id)), or ask an operator.";
    UndoConflict => "undo.conflict", "55000", [],
        "rows this change touched have changed since (or a deleted key is in use again), so reverting it would overwrite later work",
        "Revert the later changes first (newest first), or ask an operator to revert with force => true after checking the rows in the detail.";
    UndoOutOfOrder => "undo.out_of_order", "55000", [],
        "the change's record of a row does not follow the row's writes: a trigger that fires before interdict_capture (its name sorts first, or a BEFORE trigger) wrote a row the statement also wrote, and its write was recorded first, so reverting would restore the wrong row",
        "Restore those rows by hand from the change's images (operators read them with interdict.change_images(id)); to keep the table's changes revertible, give that trigger a name that sorts after interdict_capture or make it write other rows.";
    SimulateStatements => "simulate.statements", "42601", [],
        "interdict.simulate() takes exactly one SQL statement",
        "Pass one statement per call; split a script into its statements.";
    SimulateIrreversible => "simulate.irreversible", "0A000", [],
        "the statement has effects a rolled-back simulation cannot undo (files, programs, other servers or sessions)",
        "Simulate only statements whose effects stay inside this database.";
    SettingCeiling => "setting.ceiling", "42501", [],
        "agent sessions may lower statement_timeout, lock_timeout, idle_in_transaction_session_timeout and transaction_timeout, never raise them above the DBA's ceiling or switch them off",
        "Keep the timeout at or below the ceiling in the detail; a DBA raises a role's ceiling with ALTER ROLE … SET interdict.max_statement_timeout (or max_lock_timeout, max_idle_in_transaction_timeout).";
    CeilingStatementTimeout => "ceiling.statement_timeout", "57014", [],
        "the statement ran longer than statement_timeout, which agent sessions cannot raise above interdict.max_statement_timeout",
        "Make the statement cheaper (a narrower WHERE, an index, a LIMIT) or split the work into smaller statements.";
    CeilingLockTimeout => "ceiling.lock_timeout", "55P03", [],
        "the statement waited longer than lock_timeout for a lock another session holds (agent sessions cannot raise it above interdict.max_lock_timeout)",
        "Retry later, and keep transactions short so that locks are not held long.";
    CeilingIdleInTransaction => "ceiling.idle_in_transaction", "25P03", [],
        "the session stayed idle inside a transaction longer than idle_in_transaction_session_timeout (agent sessions cannot raise it above interdict.max_idle_in_transaction_timeout)",
        "Commit or roll back promptly; do not leave a transaction open between steps.";
    CeilingTransactionTimeout => "ceiling.transaction_timeout", "25P04", [],
        "the transaction ran longer than transaction_timeout, which agent sessions cannot raise above interdict.max_transaction_timeout",
        "Keep transactions short: commit the work in smaller transactions.";
    OperatorRequired => "operator.required", "42501", [],
        "only members of interdict_operator, in a session without an agent mode, may do this",
        "Ask an operator (a member of interdict_operator) to run it from their own session.";
    RoleUnknown => "role.unknown", "42704", [],
        "there is no role with this name",
        "Check the name: SELECT rolname FROM pg_roles lists the roles.";
    RecordsProtected => "records.protected", "42501", [],
        "interdict's records (changes, their rows, approvals) are changed only by its own functions, in every mode",
        "Delete old changes with SELECT interdict.purge('30 days'); a DBA restoring them may SET session_replication_role = replica first.";
    SetupSharedMemory => "setup.shared_memory", "55000", [],
        "it needs Interdict's shared memory, which exists only when the library is in shared_preload_libraries",
        "Add interdict to shared_preload_libraries and restart the server; until then, approve requests by the approval_id in the agent's error.";
    InternalFailure => "internal.failure", "XX000", [],
        "interdict could not complete a step of its own (the detail says which and why), so the statement was stopped",
        "Retry once; if it fails again, report the detail to the DBA.";
    Undecidable => "internal.undecidable", "25006", [],
        "interdict could not classify this statement, and refuses writes when in doubt",
        "Rewrite the statement as a plain read, and report it to the DBA with the detail below.";
}

impl ReasonCode {
    /// Whether an operator may let the statement through with `interdict.approve(id)`.
    pub fn approvable(self) -> bool {
        self.reason().props.has(Props::APPROVABLE)
    }

    /// Whether a dry-run session (`interdict.dry_run`) logs this refusal instead of raising it:
    /// guarded mode's decisions and the policy's table rules, never the guard's own protections.
    pub fn dry_runnable(self) -> bool {
        self.reason().props.has(Props::DRY_RUNNABLE)
    }

    /// Whether the refusal protects shared data (the session's temporary tables are exempt).
    pub fn protects_data(self) -> bool {
        self.reason().props.has(Props::PROTECTS_DATA)
    }

    /// Whether what it refuses destroys rows undo cannot record.
    pub fn unrecordable(self) -> bool {
        self.reason().props.has(Props::UNRECORDABLE)
    }

    /// The reason a policy's `structural:` key names.
    pub fn from_policy_key(key: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.iter().copied().find(|c| c.reason().policy_key == Some(key))
    }

    /// Looks a code up by its text, e.g. `"readonly.dml"`.
    pub fn from_code(code: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.iter().copied().find(|c| c.reason().code == code)
    }
}

/// A row's properties as the docs list them, e.g. `approvable, dry-run, policy key truncate`.
pub fn properties(r: &Reason) -> String {
    let flags = [
        (Props::APPROVABLE, "approvable"),
        (Props::DRY_RUNNABLE, "dry-run"),
        (Props::PROTECTS_DATA, "protects data"),
        (Props::UNRECORDABLE, "unrecordable"),
    ];
    let mut out: Vec<String> = flags.iter().filter(|(f, _)| r.props.has(*f)).map(|(_, n)| n.to_string()).collect();
    if let Some(key) = r.policy_key {
        out.push(format!("policy key {key}"));
    }
    if out.is_empty() { "–".into() } else { out.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for r in REASONS {
            assert!(seen.insert(r.code), "duplicate code {}", r.code);
            assert!(r.code.contains('.') && r.code == r.code.to_ascii_lowercase(), "{}", r.code);
            assert_eq!(r.sqlstate.len(), 5, "{}", r.code);
            assert!(r.sqlstate.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
            assert!(!r.why.is_empty() && r.hint.ends_with('.'), "{}", r.code);
        }
        assert_eq!(REASONS.len(), ReasonCode::ALL.len());
    }

    #[test]
    fn codes_round_trip() {
        for c in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_code(c.reason().code), Some(*c));
        }
        assert_eq!(ReasonCode::from_code("no.such"), None);
    }

    /// docs/reason-codes.md has one table row per reason: `| code | SQLSTATE | why | hint |`.
    #[test]
    fn docs_table_matches_this_table() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reason-codes.md"))
            .expect("docs/reason-codes.md");
        let rows: Vec<Vec<String>> = docs
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().trim_matches('`').to_string()).collect())
            .collect();
        let documented: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
        let table: Vec<(String, String)> =
            REASONS.iter().map(|r| (r.code.to_string(), r.sqlstate.to_string())).collect();
        assert_eq!(documented, table, "docs/reason-codes.md is out of step with core/src/reasons.rs");
        for (row, r) in rows.iter().zip(REASONS) {
            assert_eq!(row[2], properties(r), "properties of {}", r.code);
            assert_eq!(row[3], r.why, "why of {}", r.code);
            assert_eq!(row[4], r.hint.replace('|', "\\|"), "hint of {}", r.code);
        }
    }
}
