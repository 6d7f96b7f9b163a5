//! THE table of utility commands for guarded mode: default-deny. Every statement node type Postgres
//! (13–18) hands `ProcessUtility` has a row; a command guarded sessions may run is one that destroys
//! nothing or whose changes undo records (creating tables, indexes, views, adding columns or
//! constraints, comments, …). Everything else is a structural refusal with its reason code, which a
//! policy may set to `confirm` or `allow` where the code allows it. A node type this table does not
//! know (a future Postgres) is refused as `guarded.command`.
//!
//! `docs/guarded-commands.md` is generated from these tables (`cargo run -p interdict-core --example
//! guarded_commands`), and a unit test walks the node types in pgrx's bindings of every supported
//! version and fails if one is missing here.

use crate::ReasonCode;

/// How guarded mode treats a kind of statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Destroys nothing, or undo records what it changes: it runs.
    Allow,
    /// Judged on what it says (subcommands, object kinds, options, language): see [`crate::guarded`].
    Judge,
    /// Refused with this reason code.
    Refuse(ReasonCode),
    /// Not a utility statement (planned statements, a PL's parse nodes): the executor hook judges it.
    NotUtility,
}

/// One row: a statement node type.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// The node type, as `nodes.h` names it without `T_`.
    pub node: &'static str,
    pub guarded: Guarded,
    /// A rolled-back subtransaction undoes it, so `interdict.simulate()` may run it.
    pub transactional: bool,
    /// The commands it is, for the docs.
    pub what: &'static str,
}

use Guarded::*;
use ReasonCode::*;

const fn row(node: &'static str, guarded: Guarded, transactional: bool, what: &'static str) -> Command {
    Command { node, guarded, transactional, what }
}

pub const COMMANDS: &[Command] = &[
    // Creating things: destroys nothing (new tables are recorded as a guarded session creates them).
    row("CreateStmt", Allow, true, "CREATE TABLE (… PARTITION OF, … LIKE, … INHERITS)"),
    row("CreateTableAsStmt", Allow, true, "CREATE TABLE … AS, SELECT … INTO, CREATE MATERIALIZED VIEW"),
    row("IndexStmt", Allow, true, "CREATE INDEX (CONCURRENTLY)"),
    row("ViewStmt", Allow, true, "CREATE [OR REPLACE] VIEW"),
    row("CreateSeqStmt", Allow, true, "CREATE SEQUENCE"),
    row("CreateSchemaStmt", Allow, true, "CREATE SCHEMA (each element is judged as it runs)"),
    row("CompositeTypeStmt", Allow, true, "CREATE TYPE … AS (…)"),
    row("CreateEnumStmt", Allow, true, "CREATE TYPE … AS ENUM"),
    row("CreateRangeStmt", Allow, true, "CREATE TYPE … AS RANGE"),
    row("CreateDomainStmt", Allow, true, "CREATE DOMAIN"),
    row("CreateStatsStmt", Allow, true, "CREATE STATISTICS"),
    row("CreateTrigStmt", Judge, true, "CREATE TRIGGER on the session's own tables (what the trigger writes is judged when it fires); on another role's table it runs in that role's sessions, unguarded: refused"),
    row("CommentStmt", Allow, true, "COMMENT ON"),
    row("SecLabelStmt", Allow, true, "SECURITY LABEL"),
    row("CreateFunctionStmt", Judge, true, "CREATE [OR REPLACE] FUNCTION/PROCEDURE: trusted languages only"),
    row("DefineStmt", Judge, true, "CREATE AGGREGATE/COLLATION/TEXT SEARCH DICTIONARY/CONFIGURATION; not OPERATOR, base TYPE, TEXT SEARCH PARSER/TEMPLATE"),
    row("CreateExtensionStmt", Judge, true, "CREATE EXTENSION: only those in interdict.allowed_extensions"),
    // Changing things without destroying data.
    row("AlterTableStmt", Judge, true, "ALTER TABLE/INDEX/SEQUENCE/VIEW/MATERIALIZED VIEW/FOREIGN TABLE: by subcommand"),
    row("AlterSeqStmt", Judge, true, "ALTER SEQUENCE: not RESTART, CYCLE or a negative INCREMENT"),
    row("AlterDomainStmt", Allow, true, "ALTER DOMAIN"),
    row("AlterEnumStmt", Judge, true, "ALTER TYPE … ADD VALUE; RENAME VALUE relabels every row holding the value, unrecorded"),
    row("AlterTypeStmt", Allow, true, "ALTER TYPE … SET (…)"),
    row("AlterFunctionStmt", Allow, true, "ALTER FUNCTION/PROCEDURE/ROUTINE (options)"),
    row("AlterStatsStmt", Allow, true, "ALTER STATISTICS"),
    row("AlterCollationStmt", Allow, true, "ALTER COLLATION … REFRESH VERSION"),
    row("AlterTSDictionaryStmt", Allow, true, "ALTER TEXT SEARCH DICTIONARY"),
    row("AlterTSConfigurationStmt", Allow, true, "ALTER TEXT SEARCH CONFIGURATION"),
    row("AlterObjectSchemaStmt", Allow, true, "ALTER … SET SCHEMA"),
    row("RenameStmt", Judge, true, "ALTER … RENAME: not of databases, roles or tablespaces"),
    row("RefreshMatViewStmt", Allow, true, "REFRESH MATERIALIZED VIEW (derived data)"),
    // Maintenance of one table: keeps its rows.
    row("VacuumStmt", Allow, false, "VACUUM, ANALYZE"),
    row("ClusterStmt", Allow, true, "CLUSTER"),
    row("ReindexStmt", Allow, true, "REINDEX"),
    // Statements that run other statements, each judged as it runs; sessions, cursors, transactions.
    row("ExplainStmt", Allow, true, "EXPLAIN (what EXPLAIN ANALYZE runs is judged too)"),
    row("DoStmt", Judge, true, "DO: trusted languages only"),
    row("CallStmt", Allow, true, "CALL"),
    row("PrepareStmt", Allow, false, "PREPARE"),
    row("ExecuteStmt", Allow, true, "EXECUTE"),
    row("DeallocateStmt", Allow, false, "DEALLOCATE"),
    row("DeclareCursorStmt", Allow, true, "DECLARE CURSOR"),
    row("FetchStmt", Allow, false, "FETCH, MOVE (a cursor moved stays moved)"),
    row("ClosePortalStmt", Allow, false, "CLOSE (a cursor closed stays closed)"),
    row("TransactionStmt", Judge, true, "BEGIN, COMMIT, ROLLBACK, SAVEPOINT…; not PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED"),
    row("ConstraintsSetStmt", Allow, true, "SET CONSTRAINTS"),
    row("VariableSetStmt", Judge, true, "SET, RESET (locked settings are refused by their own locks)"),
    row("VariableShowStmt", Allow, true, "SHOW"),
    row("DiscardStmt", Allow, false, "DISCARD"),
    row("LockStmt", Allow, true, "LOCK TABLE"),
    row("ListenStmt", Allow, true, "LISTEN"),
    row("UnlistenStmt", Allow, true, "UNLISTEN"),
    row("CopyStmt", Judge, true, "COPY: FROM is recorded; TO a file or PROGRAM is not reversible"),
    row("TruncateStmt", Refuse(GuardedTruncate), true, "TRUNCATE (a session's own temporary tables excepted)"),
    row("DropStmt", Judge, true, "DROP …: views, indexes, routines, types, statistics without CASCADE may go; triggers, rules, policies are safeguards; the rest destroys data"),
    row("DropOwnedStmt", Refuse(GuardedDrop), true, "DROP OWNED"),
    row("DropdbStmt", Refuse(GuardedDrop), false, "DROP DATABASE"),
    row("DropTableSpaceStmt", Refuse(GuardedDrop), false, "DROP TABLESPACE"),
    row("DropSubscriptionStmt", Refuse(GuardedDrop), false, "DROP SUBSCRIPTION"),
    // Privileges, ownership, roles.
    row("GrantStmt", Refuse(GuardedPrivileges), true, "GRANT, REVOKE"),
    row("GrantRoleStmt", Refuse(GuardedPrivileges), true, "GRANT/REVOKE role"),
    row("AlterDefaultPrivilegesStmt", Refuse(GuardedPrivileges), true, "ALTER DEFAULT PRIVILEGES"),
    row("AlterOwnerStmt", Refuse(GuardedPrivileges), true, "ALTER … OWNER TO"),
    row("ReassignOwnedStmt", Refuse(GuardedPrivileges), true, "REASSIGN OWNED"),
    row("CreatePolicyStmt", Refuse(GuardedPrivileges), true, "CREATE POLICY (row security decides who sees rows)"),
    row("AlterPolicyStmt", Refuse(GuardedPrivileges), true, "ALTER POLICY"),
    row("CreateRoleStmt", Refuse(GuardedRoles), true, "CREATE ROLE/USER/GROUP"),
    row("AlterRoleStmt", Refuse(GuardedRoles), true, "ALTER ROLE"),
    row("AlterRoleSetStmt", Refuse(GuardedRoles), true, "ALTER ROLE … SET"),
    row("DropRoleStmt", Refuse(GuardedRoles), true, "DROP ROLE"),
    // The server, the database, other sessions.
    row("AlterSystemStmt", Refuse(GuardedServerConfig), false, "ALTER SYSTEM"),
    row("AlterDatabaseSetStmt", Refuse(GuardedServerConfig), true, "ALTER DATABASE … SET"),
    row("AlterDatabaseStmt", Refuse(GuardedServerConfig), true, "ALTER DATABASE (connection limit, …)"),
    row("AlterDatabaseRefreshCollStmt", Refuse(GuardedCommand), true, "ALTER DATABASE … REFRESH COLLATION VERSION"),
    row("CreatedbStmt", Refuse(GuardedCommand), false, "CREATE DATABASE"),
    row("CreateTableSpaceStmt", Refuse(GuardedCommand), false, "CREATE TABLESPACE"),
    row("AlterTableSpaceOptionsStmt", Refuse(GuardedCommand), true, "ALTER TABLESPACE"),
    row("AlterTableMoveAllStmt", Refuse(GuardedCommand), true, "ALTER TABLE ALL IN TABLESPACE"),
    row("CheckPointStmt", Refuse(GuardedServerAdmin), false, "CHECKPOINT"),
    row("NotifyStmt", Refuse(GuardedServerAdmin), true, "NOTIFY (sends to other sessions)"),
    row("LoadStmt", Refuse(LoadRefused), false, "LOAD"),
    row("CreateSubscriptionStmt", Refuse(GuardedServerAdmin), false, "CREATE SUBSCRIPTION (pulls unrecorded rows from elsewhere)"),
    row("AlterSubscriptionStmt", Refuse(GuardedServerAdmin), false, "ALTER SUBSCRIPTION"),
    row("CreatePublicationStmt", Refuse(GuardedCommand), true, "CREATE PUBLICATION"),
    row("AlterPublicationStmt", Refuse(GuardedCommand), true, "ALTER PUBLICATION"),
    // Code and objects that change how every session's statements behave.
    row("CreatePLangStmt", Refuse(GuardedUntrustedCode), true, "CREATE LANGUAGE"),
    row("AlterExtensionStmt", Refuse(GuardedUntrustedCode), true, "ALTER EXTENSION … UPDATE (runs the extension's scripts)"),
    row("AlterExtensionContentsStmt", Refuse(GuardedCommand), true, "ALTER EXTENSION … ADD/DROP"),
    row("CreateAmStmt", Refuse(GuardedUntrustedCode), true, "CREATE ACCESS METHOD"),
    row("RuleStmt", Refuse(GuardedCommand), true, "CREATE RULE (rewrites every session's statements)"),
    row("CreateEventTrigStmt", Refuse(GuardedUntrustedCode), true, "CREATE EVENT TRIGGER (runs in every session's DDL, the DBA's, and in extension scripts no hook judges)"),
    row("AlterEventTrigStmt", Refuse(GuardedUntrustedCode), true, "ALTER EVENT TRIGGER"),
    row("CreateCastStmt", Refuse(GuardedCommand), true, "CREATE CAST"),
    row("CreateConversionStmt", Refuse(GuardedCommand), true, "CREATE CONVERSION"),
    row("CreateTransformStmt", Refuse(GuardedCommand), true, "CREATE TRANSFORM"),
    row("CreateOpClassStmt", Refuse(GuardedCommand), true, "CREATE OPERATOR CLASS"),
    row("CreateOpFamilyStmt", Refuse(GuardedCommand), true, "CREATE OPERATOR FAMILY"),
    row("AlterOpFamilyStmt", Refuse(GuardedCommand), true, "ALTER OPERATOR FAMILY"),
    row("AlterOperatorStmt", Refuse(GuardedCommand), true, "ALTER OPERATOR"),
    row("AlterObjectDependsStmt", Refuse(GuardedCommand), true, "ALTER … DEPENDS ON EXTENSION"),
    // Other servers: their rows are not recorded.
    row("CreateFdwStmt", Refuse(GuardedUntrustedCode), true, "CREATE FOREIGN DATA WRAPPER"),
    row("AlterFdwStmt", Refuse(GuardedUntrustedCode), true, "ALTER FOREIGN DATA WRAPPER"),
    row("CreateForeignServerStmt", Refuse(GuardedUntrustedCode), true, "CREATE SERVER (a wrapper's options run as it says: a connection to this server as another role)"),
    row("AlterForeignServerStmt", Refuse(GuardedUntrustedCode), true, "ALTER SERVER"),
    row("CreateUserMappingStmt", Refuse(GuardedUntrustedCode), true, "CREATE USER MAPPING (whom a foreign server's connections log in as)"),
    row("AlterUserMappingStmt", Refuse(GuardedUntrustedCode), true, "ALTER USER MAPPING"),
    row("DropUserMappingStmt", Refuse(GuardedCommand), true, "DROP USER MAPPING"),
    row("CreateForeignTableStmt", Refuse(GuardedUntrustedCode), true, "CREATE FOREIGN TABLE (its options run as its wrapper says: file_fdw's `program` is a shell command)"),
    row("ImportForeignSchemaStmt", Refuse(GuardedUntrustedCode), true, "IMPORT FOREIGN SCHEMA"),
    // Parse nodes that are not utility statements.
    row("SelectStmt", NotUtility, true, "SELECT (planned)"),
    row("InsertStmt", NotUtility, true, "INSERT (planned)"),
    row("UpdateStmt", NotUtility, true, "UPDATE (planned)"),
    row("DeleteStmt", NotUtility, true, "DELETE (planned)"),
    row("MergeStmt", NotUtility, true, "MERGE (planned)"),
    row("SetOperationStmt", NotUtility, true, "UNION/INTERSECT/EXCEPT (planned)"),
    row("ReturnStmt", NotUtility, true, "RETURN in a SQL function body"),
    row("PLAssignStmt", NotUtility, true, "PL/pgSQL assignment"),
    row("RawStmt", NotUtility, true, "a parse tree's wrapper"),
    row("PlannedStmt", NotUtility, true, "a plan's wrapper"),
    row("ReplicaIdentityStmt", NotUtility, true, "REPLICA IDENTITY (an ALTER TABLE subcommand's node)"),
];

/// The row of a node type, if the table knows it.
pub fn command(node: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.node == node)
}

/// `ALTER TABLE` subcommands, by `AlterTableType` name without `AT_`. Not listed: refused as
/// `guarded.command`.
pub const ALTER_TABLE: &[(&str, Guarded, &str)] = &[
    ("AddColumn", Allow, "ADD COLUMN"),
    ("AddColumnToView", Allow, "CREATE OR REPLACE VIEW adding a column"),
    ("ColumnDefault", Allow, "ALTER COLUMN … SET/DROP DEFAULT"),
    ("CookedColumnDefault", Allow, "(internal)"),
    ("DropNotNull", Allow, "ALTER COLUMN … DROP NOT NULL"),
    ("SetNotNull", Allow, "ALTER COLUMN … SET NOT NULL"),
    ("CheckNotNull", Allow, "(internal)"),
    ("DropExpression", Allow, "ALTER COLUMN … DROP EXPRESSION (values are kept)"),
    ("SetExpression", Refuse(GuardedColumnType), "ALTER COLUMN … SET EXPRESSION (recomputes every row)"),
    ("SetStatistics", Allow, "ALTER COLUMN … SET STATISTICS"),
    ("SetOptions", Allow, "ALTER COLUMN … SET (…)"),
    ("ResetOptions", Allow, "ALTER COLUMN … RESET (…)"),
    ("SetStorage", Allow, "ALTER COLUMN … SET STORAGE"),
    ("SetCompression", Allow, "ALTER COLUMN … SET COMPRESSION"),
    ("DropColumn", Refuse(GuardedDropColumn), "DROP COLUMN"),
    ("AddIndex", Allow, "ADD … USING INDEX"),
    ("ReAddIndex", Allow, "(internal)"),
    ("AddConstraint", Allow, "ADD CONSTRAINT"),
    ("ReAddConstraint", Allow, "(internal)"),
    ("ReAddDomainConstraint", Allow, "(internal)"),
    ("AlterConstraint", Allow, "ALTER CONSTRAINT (deferrability, inheritability, ENFORCED)"),
    (NOT_ENFORCED, Refuse(GuardedBypass), "ALTER CONSTRAINT … NOT ENFORCED (18: a foreign key's triggers go, as DISABLE TRIGGER)"),
    ("ValidateConstraint", Allow, "VALIDATE CONSTRAINT"),
    ("AddIndexConstraint", Allow, "ADD PRIMARY KEY/UNIQUE USING INDEX"),
    ("DropConstraint", Judge, "DROP CONSTRAINT: a key is guarded.drop_key, a CHECK may go"),
    ("ReAddComment", Allow, "(internal)"),
    ("AlterColumnType", Judge, "ALTER COLUMN … TYPE: lossless changes only, and no USING that computes new values"),
    ("AlterColumnGenericOptions", Refuse(GuardedCommand), "ALTER COLUMN … OPTIONS (foreign tables)"),
    ("ChangeOwner", Refuse(GuardedPrivileges), "OWNER TO"),
    ("ClusterOn", Allow, "CLUSTER ON"),
    ("DropCluster", Allow, "SET WITHOUT CLUSTER"),
    ("SetLogged", Allow, "SET LOGGED"),
    ("SetUnLogged", Refuse(GuardedCommand), "SET UNLOGGED (a crash empties the table, and it no longer replicates)"),
    ("DropOids", Allow, "SET WITHOUT OIDS"),
    ("SetAccessMethod", Allow, "SET ACCESS METHOD (rewrites, keeps rows)"),
    ("SetTableSpace", Allow, "SET TABLESPACE"),
    ("SetRelOptions", Allow, "SET (storage parameters)"),
    ("ResetRelOptions", Allow, "RESET (storage parameters)"),
    ("ReplaceRelOptions", Allow, "(internal)"),
    ("EnableTrig", Allow, "ENABLE TRIGGER"),
    ("EnableTrigAll", Allow, "ENABLE TRIGGER ALL"),
    ("EnableTrigUser", Allow, "ENABLE TRIGGER USER"),
    ("EnableAlwaysTrig", Refuse(GuardedBypass), "ENABLE ALWAYS TRIGGER (fires where others do not, in a revert too)"),
    ("EnableReplicaTrig", Refuse(GuardedBypass), "ENABLE REPLICA TRIGGER"),
    ("DisableTrig", Refuse(GuardedBypass), "DISABLE TRIGGER"),
    ("DisableTrigAll", Refuse(GuardedBypass), "DISABLE TRIGGER ALL"),
    ("DisableTrigUser", Refuse(GuardedBypass), "DISABLE TRIGGER USER"),
    ("EnableRule", Allow, "ENABLE RULE"),
    ("EnableAlwaysRule", Refuse(GuardedBypass), "ENABLE ALWAYS RULE"),
    ("EnableReplicaRule", Refuse(GuardedBypass), "ENABLE REPLICA RULE"),
    ("DisableRule", Refuse(GuardedBypass), "DISABLE RULE"),
    ("EnableRowSecurity", Allow, "ENABLE ROW LEVEL SECURITY"),
    ("ForceRowSecurity", Allow, "FORCE ROW LEVEL SECURITY"),
    ("DisableRowSecurity", Refuse(GuardedBypass), "DISABLE ROW LEVEL SECURITY"),
    ("NoForceRowSecurity", Refuse(GuardedBypass), "NO FORCE ROW LEVEL SECURITY"),
    ("ReplicaIdentity", Refuse(GuardedBypass), "REPLICA IDENTITY (how undo finds rows again)"),
    ("AddInherit", Refuse(GuardedCommand), "INHERIT (the parent's readers see the child's rows)"),
    ("DropInherit", Refuse(GuardedDrop), "NO INHERIT (the child's rows leave the parent)"),
    ("AddOf", Allow, "OF type"),
    ("DropOf", Allow, "NOT OF"),
    ("GenericOptions", Refuse(GuardedUntrustedCode), "OPTIONS (a foreign table's: file_fdw's `program` is a shell command)"),
    ("AttachPartition", Refuse(GuardedNotReversible), "ATTACH PARTITION (the attached table's rows join the table unrecorded)"),
    ("DetachPartition", Refuse(GuardedDrop), "DETACH PARTITION (the partition's rows leave the table)"),
    ("DetachPartitionFinalize", Refuse(GuardedDrop), "DETACH PARTITION … FINALIZE"),
    ("AddIdentity", Allow, "ADD GENERATED … AS IDENTITY"),
    ("SetIdentity", Judge, "SET GENERATED/identity options: not RESTART, CYCLE or a negative INCREMENT"),
    ("DropIdentity", Refuse(GuardedNotReversible), "DROP IDENTITY (its sequence goes, and with it where the values stand)"),
    ("ReAddStatistics", Allow, "(internal)"),
    ("AddColumnRecurse", Allow, "(internal, 13–15)"),
    ("AddConstraintRecurse", Allow, "(internal, 13–15)"),
    ("DropColumnRecurse", Refuse(GuardedDropColumn), "(internal, 13–15)"),
    ("DropConstraintRecurse", Judge, "(internal, 13–15)"),
    ("ValidateConstraintRecurse", Allow, "(internal, 13–15)"),
];

/// The name `ALTER CONSTRAINT … NOT ENFORCED` goes by in [`ALTER_TABLE`] (Postgres' subcommand is
/// `AlterConstraint` whatever it alters).
pub const NOT_ENFORCED: &str = "AlterConstraintNotEnforced";

/// How guarded mode treats an `ALTER TABLE` subcommand (unknown ones are refused).
pub fn alter_table(subcommand: &str) -> Guarded {
    ALTER_TABLE.iter().find(|(name, _, _)| *name == subcommand).map_or(Refuse(GuardedCommand), |(_, g, _)| *g)
}

/// `DROP <kind>`: objects that hold no data (views, indexes, routines, types, statistics, collations,
/// text-search dictionaries and configurations) may go, without `CASCADE` (which reaches what depends
/// on them: a type's columns, a function's triggers); triggers, rules and policies are safeguards
/// (`guarded.bypass`); everything else destroys data (`guarded.drop`).
/// The kind `DROP INDEX` goes by when an index it names is unique, a primary key's, an exclusion
/// constraint's or the replica identity (what `DROP CONSTRAINT` of a key would drop).
pub const UNIQUE_INDEX: &str = "UNIQUE_INDEX";

pub fn drop_of(kind: &str, cascade: bool) -> Guarded {
    match kind {
        "TRIGGER" | "RULE" | "POLICY" => Refuse(GuardedBypass),
        UNIQUE_INDEX => Refuse(GuardedDropKey),
        _ if cascade => Refuse(GuardedDrop),
        "VIEW" | "INDEX" | "FUNCTION" | "PROCEDURE" | "ROUTINE" | "AGGREGATE" | "TYPE" | "DOMAIN" | "STATISTIC_EXT"
        | "COLLATION" | "TSDICTIONARY" | "TSCONFIGURATION" => Allow,
        _ => Refuse(GuardedDrop),
    }
}

/// `ALTER <kind> … RENAME`: refused for databases, roles and tablespaces; the rest destroys nothing.
pub fn rename_of(kind: &str) -> Guarded {
    match kind {
        "DATABASE" | "TABLESPACE" => Refuse(GuardedCommand),
        "ROLE" => Refuse(GuardedRoles),
        _ => Allow,
    }
}

/// `DefineStmt` kinds: operators, base types and text-search parsers/templates are code or change how
/// other sessions' statements resolve; aggregates, collations and text-search dictionaries and
/// configurations are not.
pub fn define_of(kind: &str) -> Guarded {
    match kind {
        "AGGREGATE" | "COLLATION" | "TSDICTIONARY" | "TSCONFIGURATION" => Allow,
        "TSPARSER" | "TSTEMPLATE" => Refuse(GuardedUntrustedCode),
        _ => Refuse(GuardedCommand),
    }
}

/// Transaction commands whose tag is refused: they act on prepared transactions, which outlive the
/// session.
pub const TWO_PHASE_TAGS: &[&str] = &["PREPARE TRANSACTION", "COMMIT PREPARED", "ROLLBACK PREPARED"];

/// `docs/guarded-commands.md`, generated from the tables above.
fn class(g: Guarded) -> String {
    match g {
        Guarded::Allow => "runs".into(),
        Guarded::Judge => "judged (see the row)".into(),
        Guarded::Refuse(code) => format!("`{}`", code.reason().code),
        Guarded::NotUtility => "not a utility statement".into(),
    }
}

pub fn markdown() -> String {
    let mut out = String::new();
    macro_rules! println {
        () => { out.push('\n') };
        ($($arg:tt)*) => {{ out.push_str(&format!($($arg)*)); out.push('\n'); }};
    }
    println!("# Utility commands in guarded mode");
    println!();
    println!("Generated from `core/src/utility_table.rs` (`cargo run -q -p interdict-core --example guarded_commands`);");
    println!("a unit test checks that every statement node type of PostgreSQL 13–18 has a row, and that this page is current.");
    println!();
    println!("Guarded mode is default-deny for utility commands: a command runs only if it destroys nothing or undo");
    println!("records what it changes. A refusal carries its reason code; `guarded.*` codes other than `guard_schema`,");
    println!("`server_config` and `untrusted_code` can be approved by an operator, and a policy's `structural` key may");
    println!("set them to `confirm`, `refuse` or `allow`. Commands on a session's own temporary tables are not refused");
    println!("for destroying data. Every agent mode refuses `LOAD`, changes to the interdict extension or its objects,");
    println!("and changes to interdict, preload, read-only, replication-role and logging settings of roles, databases or the server.");
    println!("`simulate()` runs only commands a rollback undoes (the last column).");
    println!();
    println!("| statement node | commands | guarded | rolled back |");
    println!("|---|---|---|---|");
    for c in COMMANDS {
        println!("| `{}` | {} | {} | {} |", c.node, c.what, class(c.guarded), if c.transactional { "yes" } else { "no" });
    }
    println!();
    println!("## `ALTER TABLE` subcommands");
    println!();
    println!("By `AlterTableType`. A subcommand not listed here (a future Postgres) is refused as `guarded.command`.");
    println!();
    println!("| subcommand | what | guarded |");
    println!("|---|---|---|");
    for (name, g, what) in ALTER_TABLE {
        println!("| `AT_{name}` | {what} | {} |", class(*g));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn node_types_are_unique() {
        let mut seen = BTreeSet::new();
        for c in COMMANDS {
            assert!(seen.insert(c.node), "{} twice", c.node);
        }
        let mut seen = BTreeSet::new();
        for (name, _, _) in ALTER_TABLE {
            assert!(seen.insert(*name), "{name} twice");
        }
    }

    /// The bindings pgrx ships for every supported Postgres (`pgrx-pg-sys/src/include/pgNN.rs`).
    fn bindings() -> Vec<(String, String)> {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")])
            .output()
            .expect("cargo metadata");
        let meta = String::from_utf8_lossy(&out.stdout).to_string();
        let at = meta.find("/pgrx-pg-sys-").expect("pgrx-pg-sys in the dependency graph");
        let start = meta[..at].rfind('"').expect("path start") + 1;
        let crate_dir = &meta[start..at + 1 + meta[at + 1..].find('/').expect("crate directory")];
        let dir = std::path::Path::new(crate_dir).join("src/include");
        (13..=18)
            .map(|v| {
                let path = dir.join(format!("pg{v}.rs"));
                (format!("pg{v}"), std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            })
            .collect()
    }

    /// The names inside `pub <kind> <name> { … }` of a bindings file.
    fn block<'a>(text: &'a str, header: &str) -> &'a str {
        let start = text.find(header).unwrap_or_else(|| panic!("{header}"));
        let end = start + text[start..].find("\n}").expect("block end");
        &text[start..end]
    }

    fn names(block: &str, prefix: &str, suffix: &str) -> BTreeSet<String> {
        block
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with(prefix) && w.ends_with(suffix) && w.len() > prefix.len())
            .map(|w| w[prefix.len()..].to_string())
            .collect()
    }

    #[test]
    fn every_statement_node_of_every_version_is_classified() {
        for (version, text) in bindings() {
            for node in names(block(&text, "pub enum NodeTag {"), "T_", "Stmt") {
                assert!(command(&node).is_some(), "{version}: statement node {node} is not in the guarded command table");
            }
            for at in names(block(&text, "pub mod AlterTableType {"), "AT_", "") {
                assert!(ALTER_TABLE.iter().any(|(n, _, _)| *n == at), "{version}: ALTER TABLE subcommand {at} is not classified");
            }
        }
    }

    #[test]
    fn docs_page_is_current() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/guarded-commands.md")).expect("docs/guarded-commands.md");
        assert!(docs == markdown(), "docs/guarded-commands.md is out of step with core/src/utility_table.rs: run scripts/gen-docs.sh");
    }

    #[test]
    fn destroying_and_safeguard_commands_are_refused() {
        assert_eq!(command("TruncateStmt").unwrap().guarded, Refuse(GuardedTruncate));
        assert_eq!(alter_table("DropColumn"), Refuse(GuardedDropColumn));
        assert_eq!(alter_table("SetUnLogged"), Refuse(GuardedCommand));
        assert_eq!(alter_table("EnableAlwaysTrig"), Refuse(GuardedBypass));
        assert_eq!(alter_table("NoSuchSubcommand"), Refuse(GuardedCommand), "unknown: default deny");
        assert_eq!(alter_table("AddColumn"), Allow);
        assert_eq!(drop_of("SEQUENCE", false), Refuse(GuardedDrop));
        assert_eq!(drop_of("TABLE", false), Refuse(GuardedDrop));
        assert_eq!(drop_of("TRIGGER", false), Refuse(GuardedBypass));
        assert_eq!(drop_of("VIEW", false), Allow);
        assert_eq!(drop_of("TYPE", true), Refuse(GuardedDrop), "CASCADE reaches the type's columns");
        assert_eq!(rename_of("DATABASE"), Refuse(GuardedCommand));
        assert_eq!(define_of("OPERATOR"), Refuse(GuardedCommand));
        assert_eq!(define_of("TSPARSER"), Refuse(GuardedUntrustedCode));
        assert!(!command("LoadStmt").unwrap().transactional && !command("PrepareStmt").unwrap().transactional);
    }
}
