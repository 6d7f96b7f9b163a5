//! What the hooks tell the core about a statement. Each fact comes from a tree Postgres built
//! (the `PlannedStmt`, the utility statement's node, `pg_proc`), never from statement text.

/// What a planned statement does (`PlannedStmt->commandType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    /// A command type the hook did not expect: the core refuses it rather than guess.
    Unknown,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Select => "SELECT",
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Merge => "MERGE",
            Operation::Unknown => "UNKNOWN",
        }
    }
}

/// A planned statement about to be executed (`ExecutorStart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFacts {
    pub operation: Operation,
    /// `PlannedStmt->hasModifyingCTE`.
    pub modifying_cte: bool,
    /// A `PlanRowMark` that locks rows (`FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE`).
    pub row_lock: bool,
    /// `EXEC_FLAG_EXPLAIN_ONLY`: planned for plain `EXPLAIN`, never run.
    pub explain_only: bool,
    /// The relation written or locked, `schema.name`, for the error.
    pub relation: Option<String>,
    /// UPDATEs and DELETEs (top level or in a WITH clause) whose target no condition restricts:
    /// no WHERE, or one that is always true. Each as `DELETE on schema.table`. Guarded mode only.
    pub unscoped: Vec<String>,
    /// A relation of the `interdict` schema this statement writes, if any. Guarded mode only.
    pub guard_schema_write: Option<String>,
    /// `session_replication_role` is not `origin`, so ordinary triggers and rules would not fire
    /// (however it was set: `SET`, `set_config()`, a function's `SET` clause).
    pub triggers_off: bool,
}

/// What a utility statement asks for, beyond its command tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UtilityAction {
    /// Judged by its command tag alone.
    Other,
    /// `COPY`: direction and endpoint.
    Copy { from: bool, file: bool, program: bool },
    /// `LOCK TABLE`.
    Lock { stronger_than_access_share: bool },
    /// `BEGIN`/`START TRANSACTION`/`SET TRANSACTION`/`SET SESSION CHARACTERISTICS` with a read/write option.
    TransactionMode { read_write: bool },
    /// `SET name = value` (value `Some`), or `RESET name`/`SET name TO DEFAULT` (value `None`).
    SetVariable { name: String, value: Option<String> },
    /// `ALTER SYSTEM/ROLE/DATABASE … SET name` or `RESET name`; `None` is `RESET ALL`.
    AlterSetting { name: Option<String> },
    /// `DROP/ALTER EXTENSION`, `ALTER EXTENSION … UPDATE`: the extensions named.
    Extension { names: Vec<String> },
    /// `LOAD 'library'`.
    Load,
    /// `ALTER TABLE`: its subcommands, as far as guarded mode cares.
    AlterTable { changes: Vec<TableChange> },
    /// `ALTER SEQUENCE`: whether its options can make the sequence hand out values again
    /// (`RESTART`, `CYCLE`, a negative `INCREMENT`).
    AlterSequence { rewinds: bool },
    /// `DROP <kind> …` (`kind` as `ObjectType` names it, without `OBJECT_`: `TABLE`, `TRIGGER`, …);
    /// `cascade`: `CASCADE` (dependent objects, columns of a type included, go too).
    Drop { kind: String, cascade: bool },
    /// `ALTER <kind> … RENAME`.
    Rename { kind: String },
    /// `CREATE AGGREGATE/OPERATOR/TYPE/COLLATION/TEXT SEARCH …` (`DefineStmt`).
    Define { kind: String },
    /// `CREATE [OR REPLACE] FUNCTION/PROCEDURE` or `DO`, in `language` (trusted: `pg_language.lanpltrusted`;
    /// C and internal are never trusted).
    Code { language: String, trusted: bool },
    /// `CREATE EXTENSION name`; `allowed`: named in `interdict.allowed_extensions`.
    CreateExtension { name: String, allowed: bool },
    /// `CREATE TRIGGER`; `others_table`: on a table the session's role neither owns nor is a member
    /// of the owner of (superuser rights aside: the trigger fires in the owner's sessions).
    Trigger { others_table: bool },
}

/// One subcommand of `ALTER TABLE`, as far as guarded mode judges it beyond its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// `ALTER COLUMN … TYPE`: the column's type now and the one asked for; `rewrites`: a `USING`
    /// expression that is not a plain cast of the column computes new values.
    ColumnType { column: String, from: TypeRef, to: TypeRef, rewrites: bool },
    /// `DROP CONSTRAINT`; `key`: a primary, unique, exclusion or foreign key.
    DropConstraint { name: String, key: bool },
    /// `ALTER COLUMN … RESTART` (or `SET CYCLE`, a negative `SET INCREMENT`) of an identity column.
    RewindsSequence { column: String },
    /// Any other subcommand, by its `AlterTableType` name without `AT_` (`AddColumn`, `DropColumn`,
    /// `SetUnLogged`, …), judged by `utility_table::ALTER_TABLE`; `target` is the column or
    /// constraint it names, if any.
    Subcommand { name: String, target: String },
}

/// A column's type: its name (`pg_type.typname`), its modifier decoded, and how Postgres prints it
/// (`format_type_with_typemod`: `numeric(10,2)`, `character varying(3)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRef {
    pub name: String,
    pub modifier: Modifier,
    pub display: String,
}

/// A type modifier, decoded from Postgres' `atttypmod` encoding by the extension's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// No modifier: no limit.
    None,
    /// A length (`varchar(n)`, `char(n)`, `bit(n)`).
    Length(u32),
    /// `numeric(precision, scale)`; the scale may be negative (PostgreSQL 15+).
    Numeric { precision: u32, scale: i32 },
    /// A fractional-seconds precision (`timestamp(p)`, `time(p)`, a full-range `interval(p)`): a
    /// larger one keeps more.
    Other(u32),
    /// Any other modifier (`interval year`, an extension type's): only the same one is known to
    /// keep every value.
    Opaque(i32),
}

impl TypeRef {
    pub fn new(name: &str, modifier: Modifier) -> TypeRef {
        let display = match modifier {
            Modifier::None => name.to_string(),
            Modifier::Length(n) | Modifier::Other(n) => format!("{name}({n})"),
            Modifier::Opaque(m) => format!("{name} (modifier {m})"),
            Modifier::Numeric { precision, scale } => format!("{name}({precision},{scale})"),
        };
        TypeRef { name: name.into(), modifier, display }
    }
}

/// A utility statement about to run (`ProcessUtility`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtilityFacts {
    /// The statement's node type, as `nodes.h` names it without `T_` (`CreateStmt`, `DropStmt`, …):
    /// guarded mode's command table is keyed by it.
    pub node: String,
    /// The command tag, as `CreateCommandTag` names it (`VACUUM`, `CREATE INDEX`, …).
    pub tag: String,
    /// The tag's `CommandTag` index, for command sets.
    pub tag_index: usize,
    pub action: UtilityAction,
    /// The statement acts on an object of the `interdict` schema.
    pub guard_schema: bool,
    /// An object of the guard's it names (the extension, a member, anything in its schema), if any:
    /// refused in every agent mode (`extension.protected`).
    pub guard_object: Option<String>,
    /// Every relation the statement names is one of this session's temporary tables (its scratch,
    /// gone with the session): truncating, dropping or altering them destroys no shared data.
    pub scratch_only: bool,
    /// `session_replication_role` is not `origin`: ordinary triggers, the recording ones among
    /// them, do not fire (inside a revert, whose statements run as replica).
    pub triggers_off: bool,
}

/// Rows a statement has changed so far, against its limit (the blast radius).
#[derive(Debug, Clone, PartialEq)]
pub struct RowFacts {
    /// Rows inserted, updated and deleted so far, cascades and trigger writes included.
    pub reached: u64,
    pub limit: u64,
    /// The planner's estimate for the statement's own target, when there is one.
    pub estimate: Option<f64>,
    /// Tables written so far, `schema.name`.
    pub tables: Vec<String>,
    /// The limit comes from an operator's approval rather than `interdict.max_rows`.
    pub approved: bool,
    /// The limit is the policy's, for this scope (`delete rows`, `rows in public.payments`).
    pub policy_scope: Option<String>,
}

/// A function or operator about to be evaluated (`OAT_FUNCTION_EXECUTE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFacts {
    /// `pg_proc.proname`.
    pub name: String,
    /// Implemented in C or internal (a builtin or an extension's native code), not in SQL or a PL.
    pub native: bool,
    /// What a native function runs (`pg_proc.prosrc`: the builtin or the C symbol), when it is not
    /// its name: a function declared under another name over a listed builtin is that builtin.
    pub symbol: Option<String>,
    /// Declared VOLATILE (`provolatile = 'v'`): Postgres' word that it may change something.
    pub volatile: bool,
    /// One of the guard's own functions (in the `interdict` schema): each decides itself who may
    /// call it and what it does in which mode.
    pub guard: bool,
}

impl FunctionFacts {
    /// What it runs: the symbol, else the name.
    pub fn runs(&self) -> &str {
        self.symbol.as_deref().unwrap_or(&self.name)
    }

    /// `find` of the function's name, else of what it runs.
    pub fn judged<T>(&self, find: impl Fn(&str) -> Option<T>) -> Option<T> {
        find(&self.name).or_else(|| self.symbol.as_deref().and_then(&find))
    }
}
