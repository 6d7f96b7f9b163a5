//! One statement's verdict from its raw parse tree: the same facts the extension takes from
//! Postgres' trees (`src/facts/`), built from what the statement says, handed to the same core
//! (`decide_utility`, `decide_plan`, `decide_function`, the policy's `outcome`). Where the answer
//! depends on something only the server knows — a function's body, the rows a statement changes,
//! whether undo records a table, a column's type, whether a constraint is a key, the DBA's ceilings —
//! the verdict is `needs_server`, with why, never a guess.
//!
//! The server meets a statement in an order, and the first refusal wins: `ProcessUtility` for a
//! utility command, then `ExecutorStart` (the plan's facts), then every function as the executor
//! initialises it, then the rows as they are written. [`then`] keeps that order: once an earlier step
//! is uncertain, a later certain refusal is only what the server will *likely* say.

use crate::builtins;
use crate::tags;
use crate::tree::{self, as_kind, child, const_text, field_bool, field_i64, field_str, list, names, obj, range_var, walk};
use interdict_core::facts::{FunctionFacts, Modifier, Operation, PlanFacts, TableChange, TypeRef, UtilityAction, UtilityFacts};
use interdict_core::lock::{Locked, Source};
use interdict_core::outcome::{outcome, Outcome, SessionFacts};
use interdict_core::policy::RolePolicy;
use interdict_core::{decide_function, decide_plan, decide_utility, Mode, ReasonCode, Refusal, Settings, Verdict};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The guard's schema (and extension) name.
const GUARD: &str = "interdict";

/// A statement's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Allow,
    Refuse(Refusal),
    /// The parse tree is not enough: why, and the refusal the tree points to, if any.
    NeedsServer { why: String, likely: Option<Refusal> },
}

impl Judgement {
    fn needs(why: impl Into<String>) -> Judgement {
        Judgement::NeedsServer { why: why.into(), likely: None }
    }

    /// The refusal this verdict is or points to.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Judgement::Allow => None,
            Judgement::Refuse(r) => Some(r),
            Judgement::NeedsServer { likely, .. } => likely.as_ref(),
        }
    }
}

/// What happens after `first`, in the server's order: a refusal stops there; an uncertain step
/// makes whatever follows only likely.
fn then(first: Judgement, next: impl FnOnce() -> Judgement) -> Judgement {
    match first {
        Judgement::Allow => next(),
        refused @ Judgement::Refuse(_) => refused,
        Judgement::NeedsServer { why, likely } => {
            let likely = likely.or_else(|| next().refusal().cloned());
            Judgement::NeedsServer { why, likely }
        }
    }
}

/// The session a script runs in, as far as the check can follow it from statement to statement.
pub struct Session {
    pub settings: Settings,
    /// `interdict.allowed_extensions`.
    pub allowed_extensions: Vec<String>,
    /// The policy's rule for the role, if a policy was given.
    pub policy: Option<RolePolicy>,
    /// Statements prepared earlier in the input, by name.
    prepared: HashMap<String, Judgement>,
    /// Temporary tables created earlier in the input (the session's scratch).
    temp_tables: HashSet<String>,
    /// A `SET search_path` that names the guard's schema: unqualified names may then be its objects.
    guard_on_path: bool,
}

impl Session {
    pub fn new(settings: Settings, allowed_extensions: Vec<String>, policy: Option<RolePolicy>) -> Session {
        Session { settings, allowed_extensions, policy, prepared: HashMap::new(), temp_tables: HashSet::new(), guard_on_path: false }
    }

    fn mode(&self) -> Mode {
        self.settings.mode
    }

    fn guarded(&self) -> bool {
        self.mode() == Mode::Guarded
    }

    /// A core verdict under the policy's rule, as the extension's enforcement seam settles it
    /// (`interdict_core::outcome`).
    fn settle(&self, verdict: Verdict, tables: &[String]) -> Judgement {
        let session = SessionFacts { mode: self.mode(), ..SessionFacts::default() };
        let mut named = || tables.to_vec();
        match outcome(verdict, &session, self.policy.as_ref(), &mut named) {
            Outcome::Allow | Outcome::Warn(_) | Outcome::NoteUnrecordable => Judgement::Allow,
            Outcome::Raise(r) | Outcome::DryRunLog(r) | Outcome::Record(r) | Outcome::Stop(r) => Judgement::Refuse(r),
        }
    }

    /// One statement (`kind`, `body`: the RawStmt's node).
    pub fn judge(&mut self, kind: &str, body: &Value) -> Judgement {
        match kind {
            "SelectStmt" if child(body, "into_clause").is_some() => self.select_into(body),
            "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => self.query(kind, body),
            _ => self.utility(kind, body),
        }
    }

    // ---- planned statements (ExecutorStart, then functions, then rows)

    /// A planned statement about to run.
    fn query(&mut self, kind: &str, body: &Value) -> Judgement {
        let facts = self.plan_facts(kind, body);
        let tables: Vec<String> = facts.relation.iter().cloned().collect();
        let plan = match decide_plan(&self.settings, &facts) {
            Verdict::Allow => self.locks_in_ctes(kind, body),
            refused => self.settle(refused, &tables),
        };
        let writes = facts.operation != Operation::Select || facts.modifying_cte;
        then(plan, || then(self.calls(body), || self.rows(kind, body, writes)))
    }

    fn plan_facts(&self, kind: &str, body: &Value) -> PlanFacts {
        let operation = operation_of(kind);
        let mut modifying_cte = false;
        let mut row_lock = false;
        let mut guard_write = None;
        walk(body, &mut |k, b| {
            if matches!(k, "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt") {
                modifying_cte = true;
                guard_write = guard_write.take().or_else(|| guard_target(b));
            }
            if k == "LockingClause" {
                row_lock = true;
            }
            true
        });
        let relation = target(body);
        PlanFacts {
            operation,
            modifying_cte,
            row_lock: row_lock && !only_in_ctes(body),
            explain_only: false,
            guard_schema_write: if self.guarded() { guard_target(body).or(guard_write) } else { None },
            relation,
            unscoped: Vec::new(),
            triggers_off: false,
        }
    }

    /// Row locks written only inside WITH queries: a query the planner drops when nothing reads it
    /// takes none.
    fn locks_in_ctes(&self, kind: &str, body: &Value) -> Judgement {
        if self.mode() != Mode::Readonly || kind != "SelectStmt" || !only_in_ctes(body) {
            return Judgement::Allow;
        }
        let facts = PlanFacts { row_lock: true, ..self.plan_facts(kind, body) };
        let likely = match decide_plan(&self.settings, &facts) {
            Verdict::Refuse(r) => Some(r),
            Verdict::Allow => None,
        };
        Judgement::NeedsServer { why: "a FOR UPDATE/SHARE inside a WITH query locks rows only if the planner keeps that query".into(), likely }
    }

    /// Writes in guarded mode: the rows they change (`interdict.max_rows`, cascades and triggers
    /// included) and whether undo records their tables are counted and looked up by the server.
    fn rows(&self, kind: &str, body: &Value, writes: bool) -> Judgement {
        if !self.guarded() || !writes {
            return Judgement::Allow;
        }
        let likely = self.visibly_unscoped(kind, body);
        Judgement::NeedsServer {
            why: "a write in guarded mode: the rows it changes (interdict.max_rows, cascades and triggers included) and whether undo records its tables are the server's to count".into(),
            likely,
        }
    }

    /// An UPDATE/DELETE (here or in a WITH query) with no WHERE, or `WHERE true`: the server refuses
    /// it as unscoped unless its target is a view whose own condition scopes it or a rule replaces it,
    /// which only the catalog says.
    fn visibly_unscoped(&self, kind: &str, body: &Value) -> Option<Refusal> {
        let mut writes: Vec<String> = Vec::new();
        let mut check = |k: &str, b: &Value| {
            if matches!(k, "UpdateStmt" | "DeleteStmt") && is_unscoped_where(child(b, "where_clause")) {
                let rel = target(b).unwrap_or_default();
                writes.push(format!("{} on {rel}", operation_of(k).as_str()));
            }
        };
        check(kind, body);
        walk(body, &mut |k, b| {
            check(k, b);
            true
        });
        if writes.is_empty() {
            return None;
        }
        let facts = PlanFacts { unscoped: writes, ..self.plan_facts(kind, body) };
        match decide_plan(&self.settings, &facts) {
            Verdict::Refuse(r) => Some(r),
            Verdict::Allow => None,
        }
    }

    /// `SELECT … INTO`: `CREATE TABLE AS` in Postgres' analysis.
    fn select_into(&mut self, body: &Value) -> Judgement {
        let facts = self.facts("CreateTableAsStmt", "SELECT INTO", UtilityAction::Other, false, None, false);
        let utility = self.settle(decide_utility(&self.settings, &facts), &[]);
        then(utility, || then(self.calls(body), || self.rows("SelectStmt", body, true)))
    }

    // ---- functions, operators, casts (as the executor initialises them)

    /// Every call in the statement. Native functions the core lists are refused when the executor
    /// initialises them, before any function body runs; a call whose effects only its body says
    /// (a user's function, `set_config`, an unknown operator or type) is the server's to follow.
    fn calls(&self, body: &Value) -> Judgement {
        let mut refusals: Vec<Refusal> = Vec::new();
        let mut at_init: Option<(String, Option<Refusal>)> = None;
        let mut at_run: Option<String> = None;
        walk(body, &mut |kind, b| {
            match kind {
                "FuncCall" => match self.call(b) {
                    Call::Known => {}
                    Call::Refused(r) => refusals.push(r),
                    Call::MaybeRefusedAtInit(why, r) => {
                        at_init.get_or_insert((why, r));
                    }
                    Call::Unknown(why) => {
                        at_run.get_or_insert(why);
                    }
                },
                "AExpr" => {
                    if let Some(op) = unknown_operator(b) {
                        at_run.get_or_insert(format!("operator {op}: not a built-in operator this check knows; what its function does is the server's to see"));
                    }
                }
                "TypeCast" => {
                    if let Some(t) = unknown_type(b) {
                        at_run.get_or_insert(format!("a cast to {t}: a type this check does not know (a domain's CHECK or a type's input function may run code)"));
                    }
                }
                "RangeTableSample" => {
                    let method = names(list(b, "method")).join(".");
                    if !matches!(method.as_str(), "system" | "bernoulli" | "pg_catalog.system" | "pg_catalog.bernoulli") {
                        at_run.get_or_insert(format!("TABLESAMPLE {method}: a sampling method this check does not know"));
                    }
                }
                _ => {}
            }
            true
        });
        if let Some((why, likely)) = at_init {
            return Judgement::NeedsServer { why, likely: likely.or_else(|| refusals.first().cloned()) };
        }
        if let Some(first) = refusals.first() {
            if refusals.iter().all(|r| r.code == first.code) {
                return Judgement::Refuse(first.clone());
            }
            return Judgement::NeedsServer {
                why: "several functions are refused for different reasons; which the server meets first depends on the plan".into(),
                likely: Some(first.clone()),
            };
        }
        at_run.map_or(Judgement::Allow, Judgement::needs)
    }

    /// One function call.
    fn call(&self, b: &Value) -> Call {
        let parts = names(list(b, "funcname"));
        let (schema, name) = match parts.as_slice() {
            [name] => (None, name.as_str()),
            [schema, name] => (Some(schema.as_str()), name.as_str()),
            _ => return Call::Unknown(format!("function {}: a name this check does not resolve", parts.join("."))),
        };
        let args = list(b, "args");
        let listed = interdict_core::functions::side_effect(name).is_some() || interdict_core::functions::guarded_refusal(name).is_some();
        if schema.is_some_and(|s| s != "pg_catalog") {
            let qualified = parts.join(".");
            if listed {
                let verdict = decide_function(&self.settings, &FunctionFacts { name: name.into(), native: true, symbol: None, volatile: false, guard: false });
                let likely = match verdict {
                    Verdict::Refuse(r) => Some(r),
                    Verdict::Allow => None,
                };
                return Call::MaybeRefusedAtInit(format!("function {qualified}(): whether it is native code or a function of SQL or a PL is the server's to see"), likely);
            }
            return Call::Unknown(format!("function {qualified}(): what it runs is the server's to see"));
        }
        // The guard's own sequences (`src/hooks/function.rs: refuse_guard_sequences`).
        if self.guarded() && matches!(name, "nextval" | "setval") {
            if let Some(seq) = args.first().and_then(sequence_literal) {
                if seq.starts_with("interdict.") || seq.starts_with("\"interdict\".") {
                    let r = Refusal::new(ReasonCode::ExtensionProtected, self.mode(), format!("moving the guard's sequence {seq}")).fact("relation", seq);
                    return Call::Refused(r);
                }
            }
        }
        match decide_function(&self.settings, &FunctionFacts { name: name.into(), native: true, symbol: None, volatile: false, guard: false }) {
            Verdict::Refuse(r) => {
                // Guarded mode lets a session signal its own backend (`pg_cancel_backend(pg_backend_pid())`).
                if r.code == ReasonCode::GuardedServerAdmin && interdict_core::functions::signals_backend(name) {
                    return match args.first() {
                        Some(a) if is_call_of(a, "pg_backend_pid") => Call::Known,
                        Some(a) if as_kind(a, "AConst").is_some() => Call::Unknown("a signal to a backend given by number: whether it is this session's own is the server's to see".into()),
                        _ => Call::Refused(r),
                    };
                }
                // A server file by name (`src/hooks/function.rs: server_files_named`): a relative name
                // that does not climb is in the data directory; any other is the server's to place.
                if let Some(positions) = interdict_core::functions::path_arguments(name).filter(|_| r.code == ReasonCode::GuardedNotReversible) {
                    let paths: Vec<Option<String>> = positions.iter().filter_map(|&i| args.get(i)).map(const_text).collect();
                    if paths.iter().flatten().any(|p| !p.starts_with('/') && !p.split('/').any(|part| part == "..")) {
                        if let Verdict::Refuse(r) = interdict_core::guarded::server_file_write(&format!("function {name}"), interdict_core::guarded::FileTarget::ServerOwn("the data directory".into())) {
                            return Call::Refused(r);
                        }
                    }
                    return Call::Unknown(format!("function {name}(): whether the file it names is one of the server's own is the server's to see"));
                }
                Call::Refused(r)
            }
            Verdict::Allow if self.mode() == Mode::Readonly && name == "lo_open" => lo_open(args),
            Verdict::Allow if listed || builtins::is_read_function(name) => Call::Known,
            Verdict::Allow => Call::Unknown(format!("function {name}(): not a built-in this check knows; what it runs is the server's to see")),
        }
    }

    // ---- utility statements (ProcessUtility)

    fn utility(&mut self, kind: &str, body: &Value) -> Judgement {
        let node = tags::node_name(kind).to_string();
        let tag = tags::command_tag(kind, body);
        if node == "VariableSetStmt" {
            if let Some(j) = self.setting(body, &tag) {
                return j;
            }
        }
        if let Some(why) = self.guard_uncertain(&node, body).or_else(|| self.unknown_language(&node, body)) {
            let facts = self.utility_facts(&node, &tag, body);
            let likely = self.settle(decide_utility(&self.settings, &facts), &[]).refusal().cloned();
            return Judgement::NeedsServer { why, likely };
        }
        let tables = self.named_tables(&node, body);
        let judgement = if node == "AlterTableStmt" && self.guarded() {
            self.alter_table(&node, &tag, body, &tables)
        } else {
            let facts = self.utility_facts(&node, &tag, body);
            self.settle(decide_utility(&self.settings, &facts), &tables)
        };
        self.remember(&node, body, &judgement);
        then(judgement, || self.after_utility(&node, body))
    }

    /// What an allowed utility statement runs in its turn.
    fn after_utility(&mut self, node: &str, body: &Value) -> Judgement {
        match node {
            "DoStmt" => Judgement::needs("a DO block runs statements the server judges one by one"),
            "CallStmt" => then(self.calls(body), || Judgement::needs("a procedure runs statements the server judges one by one")),
            "ExplainStmt" => self.explain(body),
            "ExecuteStmt" => {
                let name = field_str(body, "name").unwrap_or("");
                let params = self.calls(body);
                then(params, || {
                    self.prepared.get(name).cloned().unwrap_or_else(|| {
                        Judgement::needs(format!("EXECUTE {name}: a statement prepared outside this input"))
                    })
                })
            }
            "DeclareCursorStmt" | "CreateTableAsStmt" => match child(body, "query").and_then(|q| obj(q)) {
                Some((k, q)) if node == "DeclareCursorStmt" => self.judge(k, q),
                Some((k, q)) if node == "CreateTableAsStmt" => {
                    let query = self.judge(k, q);
                    let no_data = body.get("into").is_some_and(|i| field_bool(i, "skip_data"));
                    if no_data {
                        query
                    } else {
                        then(query, || self.rows("SelectStmt", q, true))
                    }
                }
                _ => Judgement::Allow,
            },
            "CopyStmt" => {
                let query = match child(body, "query").and_then(|q| obj(q)) {
                    Some((k, q)) => self.judge(k, q),
                    None => Judgement::Allow,
                };
                let from = field_bool(body, "is_from");
                then(query, || if from && self.guarded() { self.rows("InsertStmt", body, true) } else { Judgement::Allow })
            }
            _ => Judgement::Allow,
        }
    }

    /// `EXPLAIN`: plans only, unless `ANALYZE` runs the statement (`explain.c`).
    fn explain(&mut self, body: &Value) -> Judgement {
        let analyze = list(body, "options")
            .iter()
            .filter_map(|o| as_kind(o, "DefElem"))
            .filter(|d| field_str(d, "defname") == Some("analyze"))
            .last()
            .is_some_and(|d| option_is_true(child(d, "arg")));
        if !analyze {
            return Judgement::Allow;
        }
        match child(body, "query").and_then(|q| obj(q)) {
            Some((k, q)) => self.judge(k, q),
            None => Judgement::Allow,
        }
    }

    /// Prepared statements and temporary tables, for the statements that follow.
    fn remember(&mut self, node: &str, body: &Value, judgement: &Judgement) {
        match node {
            "PrepareStmt" if *judgement == Judgement::Allow => {
                let name = field_str(body, "name").unwrap_or("").to_string();
                let inner = match child(body, "query").and_then(|q| obj(q)) {
                    Some((k, q)) => self.judge(k, q),
                    None => Judgement::Allow,
                };
                self.prepared.insert(name, inner);
            }
            "CreateStmt" | "CreateTableAsStmt" => {
                let rv = body.get("relation").or_else(|| body.get("into").and_then(|i| i.get("rel")));
                if let Some(rv) = rv.filter(|v| !v.is_null()) {
                    if field_str(rv, "relpersistence") == Some("t") || field_str(rv, "schemaname") == Some("pg_temp") {
                        self.temp_tables.insert(field_str(rv, "relname").unwrap_or("").to_string());
                    }
                }
            }
            _ => {}
        }
    }

    /// `SET`/`RESET` of the settings the server locks by their own check hooks (the mode, the other
    /// `interdict.*` settings, timeouts under ceilings, logging); `None`: the core's `decide_utility`.
    fn setting(&mut self, body: &Value, tag: &str) -> Option<Judgement> {
        use pg_query::protobuf::VariableSetKind as K;
        let kind = i32::try_from(field_i64(body, "kind")).ok().and_then(|k| K::try_from(k).ok());
        let name = field_str(body, "name").unwrap_or("").to_ascii_lowercase();
        if kind != Some(K::VarSetValue) {
            return None; // RESET, SET … TO DEFAULT, SET TRANSACTION: the core decides
        }
        let value: Vec<String> = list(body, "args").iter().filter_map(const_text).collect();
        let value = value.join(", ");
        if name == "search_path" && value.to_ascii_lowercase().contains(GUARD) {
            self.guard_on_path = true;
        }
        let mode = self.mode();
        if name == "interdict.mode" {
            let wanted = match Mode::parse(&value) {
                Ok(m) => m,
                Err(e) => {
                    return Some(Judgement::Refuse(
                        Refusal::new(ReasonCode::SettingInvalid, mode, format!("value \"{value}\" for interdict.mode")).fact("setting", name).fact("error", e),
                    ))
                }
            };
            let mut lock = Locked::new(mode);
            lock.lock();
            return Some(match lock.check(&wanted, Source::Session) {
                Ok(()) => {
                    self.settings.mode = mode.tighter(wanted);
                    Judgement::Allow
                }
                Err(_) => Judgement::Refuse(
                    Refusal::new(ReasonCode::ModeLocked, mode, format!("{tag} interdict.mode to {wanted}")).fact("setting", name).fact("value", wanted.as_str()),
                ),
            });
        }
        if name == "session_authorization" && mode != Mode::Off {
            return Some(Judgement::needs("session_authorization: agent sessions may name only the user who logged in, whom the server knows".to_string()));
        }
        if let Some(setting) = name.strip_prefix("interdict.") {
            if let Some(Err(e)) = parse_interdict_setting(setting, &value) {
                return Some(Judgement::Refuse(
                    Refusal::new(ReasonCode::SettingInvalid, mode, format!("value \"{value}\" for {name}")).fact("setting", name).fact("error", e),
                ));
            }
            return Some(Judgement::needs(format!("{name}: interdict settings only tighten, and how tight it is now is the server's")));
        }
        if name.ends_with("_timeout") {
            return Some(Judgement::needs(format!("{name}: agent sessions stay under the DBA's ceiling (interdict.max_*_timeout), which the server knows")));
        }
        if LOCKED_SWITCHES.contains(&name.as_str()) {
            return Some(Judgement::needs(format!("{name}: locked in agent sessions at the DBA's value (src/server_settings.rs), which the server knows")));
        }
        if name.starts_with("log_") {
            return Some(Judgement::needs(format!("{name}: logging settings may only become more verbose than the DBA set them, which the server knows")));
        }
        None
    }

    // ---- facts of a utility statement (`src/facts/utility.rs`)

    fn utility_facts(&self, node: &str, tag: &str, body: &Value) -> UtilityFacts {
        let action = self.action(node, body);
        let guard_schema = self.guarded() && named_relations(node, body).iter().any(|(_, s)| s.as_deref() == Some(GUARD));
        let guard_object = if self.guarded() { guard_object(node, body) } else { None };
        let scratch_only = self.guarded() && self.names_only_scratch(node, body);
        self.facts(node, tag, action, guard_schema, guard_object, scratch_only)
    }

    fn facts(&self, node: &str, tag: &str, action: UtilityAction, guard_schema: bool, guard_object: Option<String>, scratch_only: bool) -> UtilityFacts {
        UtilityFacts { node: node.into(), tag: tag.into(), tag_index: tags::tag_index(tag), action, guard_schema, guard_object, scratch_only, triggers_off: false }
    }

    fn action(&self, node: &str, body: &Value) -> UtilityAction {
        match node {
            "CopyStmt" => UtilityAction::Copy {
                from: field_bool(body, "is_from"),
                file: field_str(body, "filename").is_some(),
                program: field_bool(body, "is_program"),
            },
            // LOCK's default mode is ACCESS EXCLUSIVE (gram.y); AccessShareLock is 1.
            "LockStmt" => UtilityAction::Lock { stronger_than_access_share: field_i64(body, "mode") > 1 },
            "TransactionStmt" => transaction_mode(list(body, "options")),
            "VariableSetStmt" => set_variable(body),
            "AlterSystemStmt" | "AlterRoleSetStmt" | "AlterDatabaseSetStmt" => alter_setting(child(body, "setstmt")),
            "DropStmt" => {
                let kind = tags::object_type_name(field_i64(body, "remove_type"));
                if kind != "EXTENSION" {
                    let cascade = drop_behavior_cascade(field_i64(body, "behavior"));
                    return UtilityAction::Drop { kind, cascade };
                }
                UtilityAction::Extension { names: list(body, "objects").iter().filter_map(tree::string_node).map(str::to_string).collect() }
            }
            "RenameStmt" => UtilityAction::Rename { kind: tags::object_type_name(field_i64(body, "rename_type")) },
            "AlterEnumStmt" if field_str(body, "old_val").is_some() => UtilityAction::Rename { kind: interdict_core::guarded::ENUM_VALUE.into() },
            "DefineStmt" => UtilityAction::Define { kind: tags::object_type_name(field_i64(body, "kind")) },
            "CreateFunctionStmt" => code(list(body, "options"), "sql"),
            "DoStmt" => code(list(body, "args"), "plpgsql"),
            "CreateExtensionStmt" => {
                let name = field_str(body, "extname").unwrap_or("").to_string();
                let allowed = self.allowed_extensions.iter().any(|e| e.eq_ignore_ascii_case(&name));
                UtilityAction::CreateExtension { name, allowed }
            }
            "AlterExtensionStmt" | "AlterExtensionContentsStmt" => {
                UtilityAction::Extension { names: field_str(body, "extname").map(str::to_string).into_iter().collect() }
            }
            "AlterObjectSchemaStmt" if tags::object_type_name(field_i64(body, "object_type")) == "EXTENSION" => {
                UtilityAction::Extension { names: child(body, "object").and_then(tree::string_node).map(str::to_string).into_iter().collect() }
            }
            "LoadStmt" => UtilityAction::Load,
            "AlterSeqStmt" => UtilityAction::AlterSequence { rewinds: rewinds_sequence(list(body, "options")) },
            _ => UtilityAction::Other,
        }
    }

    /// `ALTER TABLE` in guarded mode, subcommand by subcommand: what the server reads from the
    /// catalog (a column's current type, whether a constraint is a key) makes a subcommand uncertain.
    fn alter_table(&self, node: &str, tag: &str, body: &Value, tables: &[String]) -> Judgement {
        let base = self.utility_facts(node, tag, body);
        let decide = |changes: Vec<TableChange>| {
            let facts = UtilityFacts { action: UtilityAction::AlterTable { changes }, ..base.clone() };
            self.settle(decide_utility(&self.settings, &facts), tables)
        };
        let mut judgement = decide(Vec::new());
        for cmd in list(body, "cmds").iter().filter_map(|c| as_kind(c, "AlterTableCmd")) {
            let step = match table_change(cmd) {
                Ok(change) => decide(vec![change]),
                Err(why) => Judgement::needs(why),
            };
            judgement = then(judgement, || step);
            if judgement != Judgement::Allow {
                break;
            }
        }
        judgement
    }

    /// Relations the statement names, as written, for a policy's table rules.
    fn named_tables(&self, node: &str, body: &Value) -> Vec<String> {
        let mut out: Vec<String> = named_relations(node, body).into_iter().map(|(n, _)| n).collect();
        if node == "CopyStmt" {
            if let Some(rv) = child(body, "relation") {
                out.push(range_var(rv).0);
            }
        }
        out
    }

    /// Every relation a TRUNCATE, DROP or ALTER TABLE names is one of this session's temporary
    /// tables (created earlier in the input, or named in `pg_temp`).
    fn names_only_scratch(&self, node: &str, body: &Value) -> bool {
        let mut rels: Vec<(String, Option<String>)> = named_relations(node, body);
        if node == "DropStmt" && matches!(tags::object_type_name(field_i64(body, "remove_type")).as_str(), "TABLE" | "VIEW" | "INDEX" | "SEQUENCE" | "MATVIEW") {
            for o in list(body, "objects") {
                let n = as_kind(o, "List").map(|l| names(list(l, "items"))).unwrap_or_default();
                match n.as_slice() {
                    [name] => rels.push((name.clone(), None)),
                    [schema, name] => rels.push((name.clone(), Some(schema.clone()))),
                    _ => rels.push((String::new(), Some(String::new()))),
                }
            }
        }
        !rels.is_empty()
            && rels.iter().all(|(name, schema)| match schema {
                Some(s) => s == "pg_temp",
                None => self.temp_tables.contains(name.rsplit('.').next().unwrap_or(name)),
            })
    }

    /// Statements whose guard-object check (`src/facts/guard_objects.rs`) needs the catalog: event
    /// triggers are no schema's objects, so only `pg_depend` says whether they are the guard's; and
    /// after a `SET search_path` naming the guard's schema, unqualified names may be its objects.
    fn guard_uncertain(&self, node: &str, body: &Value) -> Option<String> {
        if !self.guarded() {
            return None;
        }
        let kind_field = match node {
            "DropStmt" => Some("remove_type"),
            "RenameStmt" => Some("rename_type"),
            "AlterOwnerStmt" | "AlterObjectSchemaStmt" => Some("object_type"),
            "CommentStmt" | "SecLabelStmt" => Some("objtype"),
            _ => None,
        };
        let event_trigger = node == "AlterEventTrigStmt"
            || kind_field.is_some_and(|f| tags::object_type_name(field_i64(body, f)) == "EVENT_TRIGGER");
        if event_trigger {
            return Some("an event trigger: whether it belongs to the interdict extension is the server's to see".into());
        }
        if node == "DropStmt" && tags::object_type_name(field_i64(body, "remove_type")) == "INDEX" {
            return Some("DROP INDEX: whether the index is unique (dropping a key's index is refused) is the server's to see".into());
        }
        if ["AlterTableStmt", "CreateStmt", "IndexStmt", "CreateFunctionStmt", "CreateDomainStmt", "CompositeTypeStmt", "ViewStmt"].contains(&node)
            && body.to_string().contains("\"pg_temp\"")
        {
            return Some("a temporary object named: whether a permanent object would depend on it (refused) is the server's to see".into());
        }
        if node == "CreateTrigStmt" {
            return Some("CREATE TRIGGER: whether the table is the session's own (a trigger on another role's table is refused) is the server's to see".into());
        }
        if node == "CopyStmt" && field_str(body, "filename").is_some() && !field_bool(body, "is_program") && !field_bool(body, "is_from") {
            return Some("COPY … TO a server file: where it is (the server's own files, a directory interdict.file_directories names, elsewhere) is the server's to see".into());
        }
        if (node == "RenameStmt" || node == "AlterObjectSchemaStmt") && tags::object_type_name(field_i64(body, kind_field.unwrap_or_default())) != "EXTENSION" {
            return Some("a rename or schema move: whether the object is another role's (refused) is the server's to see".into());
        }
        if node == "CreateFunctionStmt" && body.get("replace").and_then(Value::as_bool) == Some(true) {
            return Some("CREATE OR REPLACE FUNCTION: whether the function is another role's (replacing it is refused) is the server's to see".into());
        }
        if node == "IndexStmt" && body.to_string().contains("\"FuncCall\"") {
            return Some("an index calling a function: whether the function is the agent's own (autovacuum would run it: refused) is the server's to see".into());
        }
        let calls = body.to_string().contains("\"FuncCall\"");
        let relation_code = match node {
            "CreateStatsStmt" | "AlterTableStmt" | "CreatePolicyStmt" | "AlterPolicyStmt" => calls,
            "ViewStmt" => calls && body.get("replace").and_then(Value::as_bool) == Some(true),
            "CreateStmt" => calls && body.to_string().contains("CONSTR_EXCLUSION"),
            _ => false,
        };
        if relation_code {
            return Some("a relation's code calling a function (statistics, an EXCLUDE index, a CHECK, a default, a view, a policy): whether the function is the agent's and the relation another role's or maintained by autovacuum (refused) is the server's to see".into());
        }
        if node == "DropStmt" && ["FUNCTION", "PROCEDURE", "ROUTINE", "AGGREGATE"].contains(&tags::object_type_name(field_i64(body, "remove_type")).as_str()) {
            return Some("DROP FUNCTION: whether the function is another role's (dropping it is refused) is the server's to see".into());
        }
        if created_schema(node, body).is_some_and(|s| s == "pg_catalog" || s == "information_schema") {
            return Some("an object made in or moved to Postgres' own schema (refused: system.protected) is the server's to see".into());
        }
        if node == "CreateStmt" && body.get("inh_relations").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            return Some("INHERITS / PARTITION OF: whether the parent is another role's table (refused) is the server's to see".into());
        }
        if SYSTEM_OBJECT_CHANGES.contains(&node) {
            return Some("whether the object is one Postgres itself created (changing those is refused) is the server's to see".into());
        }
        if self.guard_on_path && NAMES_OBJECTS.contains(&node) {
            return Some("search_path names the interdict schema: unqualified names may be the guard's objects".into());
        }
        None
    }
}

impl Session {
    /// `CREATE FUNCTION`/`DO` in guarded mode in a language whose trust only `pg_language` says.
    fn unknown_language(&self, node: &str, body: &Value) -> Option<String> {
        if !self.guarded() {
            return None;
        }
        let action = match node {
            "CreateFunctionStmt" => code(list(body, "options"), "sql"),
            "DoStmt" => code(list(body, "args"), "plpgsql"),
            _ => return None,
        };
        match action {
            UtilityAction::Code { language, trusted: false } if !UNTRUSTED_LANGUAGES.contains(&language.as_str()) => {
                Some(format!("language {language}: whether it is trusted (pg_language.lanpltrusted) is the server's to see"))
            }
            _ => None,
        }
    }
}

/// Statements that alter an existing function, operator or text search object, which may be one of
/// Postgres' own (`system.protected`, by OID on the server).
const SYSTEM_OBJECT_CHANGES: &[&str] = &["AlterFunctionStmt", "AlterOperatorStmt", "AlterTSConfigurationStmt", "AlterTSDictionaryStmt"];

/// Settings the server locks at the DBA's value besides the timeouts, the replication role and the
/// `log_*` floors (`src/server_settings.rs`): switches past Postgres' protections, the statement-tree
/// dumps any user may set, what the DBA watches sessions by.
const LOCKED_SWITCHES: &[&str] = &[
    "jit_dump_bitcode", "jit_profiling_support", "allow_system_table_mods", "zero_damaged_pages", "ignore_checksum_failure",
    "allow_in_place_tablespaces", "debug_print_parse", "debug_print_rewritten", "debug_print_plan", "debug_pretty_print",
    "trace_sort", "trace_notify", "track_activities", "track_counts", "event_triggers", "track_functions", "track_io_timing",
    "track_wal_io_timing", "compute_query_id", "update_process_title", "temp_file_limit", "log_lock_failures",
];

/// Languages never trusted: C and internal (the core's rule) and the standard untrusted PLs, as
/// their extensions create them.
const UNTRUSTED_LANGUAGES: &[&str] = &["c", "internal", "plperlu", "plpythonu", "plpython2u", "plpython3u", "pltclu"];

/// Statement kinds whose named objects the server checks against the guard's
/// (`src/facts/guard_objects.rs: named_guard_object`).
const NAMES_OBJECTS: &[&str] = &[
    "DropStmt", "RenameStmt", "AlterObjectSchemaStmt", "AlterOwnerStmt", "CommentStmt", "SecLabelStmt", "AlterFunctionStmt",
    "AlterEventTrigStmt", "AlterSeqStmt", "GrantStmt", "CreateFunctionStmt", "CreateStmt", "ViewStmt", "CreateSeqStmt",
];

/// What the check makes of one call.
enum Call {
    Known,
    Refused(Refusal),
    /// A qualified function whose name the core lists: native code of that name is refused when
    /// the executor initialises it.
    MaybeRefusedAtInit(String, Option<Refusal>),
    /// Effects only its body (or the catalog) says.
    Unknown(String),
}

fn operation_of(kind: &str) -> Operation {
    match kind {
        "SelectStmt" => Operation::Select,
        "InsertStmt" => Operation::Insert,
        "UpdateStmt" => Operation::Update,
        "DeleteStmt" => Operation::Delete,
        "MergeStmt" => Operation::Merge,
        _ => Operation::Unknown,
    }
}

/// A DML statement's target, as written.
fn target(body: &Value) -> Option<String> {
    child(body, "relation").map(|rv| range_var(rv).0).filter(|n| !n.is_empty())
}

/// The target, if it is in the guard's schema.
fn guard_target(body: &Value) -> Option<String> {
    let rv = child(body, "relation")?;
    (field_str(rv, "schemaname") == Some(GUARD)).then(|| range_var(rv).0)
}

/// Whether every locking clause sits inside a WITH query.
fn only_in_ctes(body: &Value) -> bool {
    let mut outside = false;
    let mut inside = false;
    fn visit(v: &Value, in_cte: bool, outside: &mut bool, inside: &mut bool) {
        tree::walk(v, &mut |k, b| {
            if k == "CommonTableExpr" {
                if let Some(q) = child(b, "ctequery") {
                    visit(q, true, outside, inside);
                }
                return false;
            }
            if k == "LockingClause" {
                if in_cte {
                    *inside = true;
                } else {
                    *outside = true;
                }
            }
            true
        });
    }
    // The statement's own fields (its body is not a node itself).
    if let Value::Object(map) = body {
        for (key, v) in map {
            if key == "locking_clause" && !list(body, "locking_clause").is_empty() {
                outside = true;
            }
            visit(v, false, &mut outside, &mut inside);
        }
    }
    inside && !outside
}

/// No WHERE, or a literal `WHERE true`.
fn is_unscoped_where(w: Option<&Value>) -> bool {
    match w {
        None => true,
        Some(v) => const_text(v).as_deref() == Some("true") && as_kind(v, "AConst").is_some_and(|c| c.get("val").and_then(obj).is_some_and(|(k, _)| k == "Boolval")),
    }
}

/// A sequence named by a literal (`'s'`, `'s'::regclass`).
fn sequence_literal(v: &Value) -> Option<String> {
    if let Some(cast) = as_kind(v, "TypeCast") {
        return child(cast, "arg").and_then(sequence_literal);
    }
    const_text(v).map(|s| s.to_ascii_lowercase())
}

fn is_call_of(v: &Value, name: &str) -> bool {
    as_kind(v, "FuncCall").is_some_and(|f| {
        let n = names(list(f, "funcname"));
        n.last().map(String::as_str) == Some(name) && (n.len() == 1 || n[0] == "pg_catalog")
    })
}

/// `lo_open(oid, mode)` with a constant mode that includes `INV_WRITE` (`libpq-fs.h`: 0x20000) is
/// refused in readonly (`src/hooks/function.rs: refuse_lo_open_for_write`); a computed mode opens,
/// and writes through it are refused.
fn lo_open(args: &[Value]) -> Call {
    const INV_WRITE: i64 = 0x0002_0000;
    let mode = args.get(1).and_then(integer_constant);
    match mode {
        Some(m) if m & INV_WRITE != 0 => Call::Refused(
            Refusal::new(ReasonCode::ReadonlyLargeObject, Mode::Readonly, "function lo_open(…, INV_WRITE)").fact("function", "lo_open"),
        ),
        _ => Call::Known,
    }
}

/// An integer literal, or a bit-string literal cast to int (`x'60000'::int`).
fn integer_constant(v: &Value) -> Option<i64> {
    if let Some(cast) = as_kind(v, "TypeCast") {
        let arg = child(cast, "arg")?;
        let text = const_text(arg)?;
        return match text.strip_prefix('x').or_else(|| text.strip_prefix('X')) {
            Some(hex) => i64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        };
    }
    let c = as_kind(v, "AConst")?;
    let (kind, val) = obj(c.get("val")?)?;
    (kind == "Ival").then(|| field_i64(val, "ival"))
}

/// An operator this check does not know as built-in, if the expression uses one.
fn unknown_operator(b: &Value) -> Option<String> {
    let n = names(list(b, "name"));
    match n.as_slice() {
        [] => None,
        [op] if builtins::is_builtin_operator(op) => None,
        [schema, op] if schema == "pg_catalog" && builtins::is_builtin_operator(op) => None,
        _ => Some(n.join(".")),
    }
}

/// A cast's target type, if this check does not know it as built-in.
fn unknown_type(b: &Value) -> Option<String> {
    let t = b.get("type_name")?;
    let n = names(list(t, "names"));
    match n.as_slice() {
        [name] if builtins::is_builtin_type(name) => None,
        [schema, name] if schema == "pg_catalog" && builtins::is_builtin_type(name) => None,
        _ => Some(n.join(".")),
    }
}

/// A boolean option's value as `define.c: defGetBoolean` reads it (no value: true).
fn option_is_true(arg: Option<&Value>) -> bool {
    let Some(arg) = arg else { return true };
    if let Some(b) = as_kind(arg, "Boolean") {
        return field_bool(b, "boolval");
    }
    if let Some(i) = as_kind(arg, "Integer") {
        return field_i64(i, "ival") != 0;
    }
    let text = tree::string_node(arg).map(str::to_string).or_else(|| const_text(arg)).unwrap_or_default();
    matches!(text.to_ascii_lowercase().as_str(), "true" | "on" | "t" | "yes" | "y" | "1")
}

/// `READ WRITE` among a transaction's options: `DefElem("transaction_read_only", 0)` (gram.y).
fn transaction_mode(options: &[Value]) -> UtilityAction {
    let read_write = options.iter().filter_map(|o| as_kind(o, "DefElem")).any(|d| {
        field_str(d, "defname") == Some("transaction_read_only") && child(d, "arg").and_then(integer_constant) == Some(0)
    });
    if read_write {
        UtilityAction::TransactionMode { read_write: true }
    } else {
        UtilityAction::Other
    }
}

fn set_variable(body: &Value) -> UtilityAction {
    use pg_query::protobuf::VariableSetKind as K;
    let name = field_str(body, "name").unwrap_or("").to_ascii_lowercase();
    let kind = i32::try_from(field_i64(body, "kind")).ok().and_then(|k| K::try_from(k).ok());
    match kind {
        Some(K::VarSetValue) => {
            let value: Vec<String> = list(body, "args").iter().filter_map(const_text).collect();
            UtilityAction::SetVariable { name, value: Some(value.join(", ")) }
        }
        Some(K::VarSetDefault | K::VarReset) => UtilityAction::SetVariable { name, value: None },
        Some(K::VarSetMulti) => transaction_mode(list(body, "args")),
        _ => UtilityAction::Other,
    }
}

fn alter_setting(setstmt: Option<&Value>) -> UtilityAction {
    use pg_query::protobuf::VariableSetKind as K;
    let Some(s) = setstmt else { return UtilityAction::AlterSetting { name: None } };
    let kind = i32::try_from(field_i64(s, "kind")).ok().and_then(|k| K::try_from(k).ok());
    if kind == Some(K::VarResetAll) {
        return UtilityAction::AlterSetting { name: None };
    }
    UtilityAction::AlterSetting { name: field_str(s, "name").map(str::to_ascii_lowercase) }
}

fn drop_behavior_cascade(behavior: i64) -> bool {
    i32::try_from(behavior)
        .ok()
        .and_then(|b| pg_query::protobuf::DropBehavior::try_from(b).ok())
        .is_some_and(|b| b == pg_query::protobuf::DropBehavior::DropCascade)
}

/// Whether sequence options can make it hand out values again (`RESTART`, `CYCLE`, a negative
/// `INCREMENT`), as `src/facts/utility.rs: rewinds_sequence` reads them.
fn rewinds_sequence(options: &[Value]) -> bool {
    options.iter().filter_map(|o| as_kind(o, "DefElem")).any(|d| match field_str(d, "defname") {
        Some("restart") => true,
        Some("cycle") => option_is_true(child(d, "arg")),
        Some("increment") => child(d, "arg").and_then(numeric_option).is_some_and(|v| v < 0.0),
        _ => false,
    })
}

fn numeric_option(arg: &Value) -> Option<f64> {
    if let Some(i) = as_kind(arg, "Integer") {
        return Some(field_i64(i, "ival") as f64);
    }
    if let Some(f) = as_kind(arg, "Float") {
        return field_str(f, "fval").and_then(|t| t.parse().ok());
    }
    None
}

/// The language of `CREATE FUNCTION`/`DO` and whether it is trusted. Only the standard languages'
/// trust is known here (as their extensions define `pg_language.lanpltrusted`; C and internal never
/// are); another language is judged `needs_server` ([`Session::unknown_language`]).
fn code(options: &[Value], default: &str) -> UtilityAction {
    let language = options
        .iter()
        .filter_map(|o| as_kind(o, "DefElem"))
        .filter(|d| field_str(d, "defname") == Some("language"))
        .find_map(|d| child(d, "arg").and_then(tree::string_node).map(str::to_string))
        .unwrap_or_else(|| default.to_string())
        .to_ascii_lowercase();
    let trusted = matches!(language.as_str(), "sql" | "plpgsql" | "plperl" | "pltcl" | "plv8");
    UtilityAction::Code { language, trusted }
}

/// One `ALTER TABLE` subcommand's facts, or why the catalog is needed for it.
fn table_change(cmd: &Value) -> Result<TableChange, String> {
    let subtype = i32::try_from(field_i64(cmd, "subtype"))
        .ok()
        .and_then(|s| pg_query::protobuf::AlterTableType::try_from(s).ok())
        .map(|s| s.as_str_name().trim_start_matches("AT_").to_string())
        .unwrap_or_else(|| "UNKNOWN".into());
    let target = field_str(cmd, "name").unwrap_or("").to_string();
    match subtype.as_str() {
        "AlterColumnType" => column_type(cmd, target),
        "DropConstraint" => Err(format!("ALTER TABLE … DROP CONSTRAINT {target}: whether it is a key (primary, unique, exclusion, foreign) is the server's to see")),
        "SetIdentity" => {
            let options = child(cmd, "def").and_then(|d| as_kind(d, "List")).map(|l| list(l, "items").to_vec()).unwrap_or_default();
            if rewinds_sequence(&options) {
                Ok(TableChange::RewindsSequence { column: target })
            } else {
                Ok(TableChange::Subcommand { name: subtype, target })
            }
        }
        // 18: `ALTER CONSTRAINT … NOT ENFORCED` (the subcommand is AlterConstraint whatever it alters)
        "AlterConstraint" if child(cmd, "def").and_then(|d| as_kind(d, "AtalterConstraint")).is_some_and(|a| {
            a.get("alter_enforceability").and_then(Value::as_bool) == Some(true) && a.get("is_enforced").and_then(Value::as_bool) != Some(true)
        }) => {
            Ok(TableChange::Subcommand { name: interdict_core::utility_table::NOT_ENFORCED.to_string(), target })
        }
        _ => Ok(TableChange::Subcommand { name: subtype, target }),
    }
}

/// `ALTER COLUMN … TYPE`: a `USING` that computes new values rewrites whatever the types; without
/// one, only a change into unlimited text keeps every value whatever the column's current type.
fn column_type(cmd: &Value, column: String) -> Result<TableChange, String> {
    let unknown = TypeRef::new("its current type", Modifier::None);
    let def = child(cmd, "def").and_then(|d| as_kind(d, "ColumnDef"));
    let using = def.and_then(|d| child(d, "raw_default"));
    let rewrites = using.is_some_and(|u| !is_plain_column(u, &column));
    let to = def.and_then(|d| d.get("type_name")).map(type_ref).unwrap_or_else(|| TypeRef::new("?", Modifier::None));
    let change = TableChange::ColumnType { column: column.clone(), from: unknown.clone(), to: to.clone(), rewrites };
    if rewrites || !interdict_core::guarded::loses_data(&unknown, &to) {
        return Ok(change);
    }
    Err(format!("ALTER COLUMN {column} TYPE {}: whether every value survives depends on the column's current type, which the server reads", to.display))
}

/// `USING col`, `USING t.col`, or a cast of either.
fn is_plain_column(mut v: &Value, column: &str) -> bool {
    while let Some(cast) = as_kind(v, "TypeCast") {
        match child(cast, "arg") {
            Some(a) => v = a,
            None => return false,
        }
    }
    as_kind(v, "ColumnRef").is_some_and(|c| names(list(c, "fields")).last().map(String::as_str) == Some(column))
}

/// A raw `TypeName` as the core's `TypeRef` (name as `pg_type.typname`, modifier decoded).
fn type_ref(t: &Value) -> TypeRef {
    let n = names(list(t, "names"));
    let name = n.last().cloned().unwrap_or_default();
    let mods: Vec<i64> = list(t, "typmods").iter().filter_map(integer_constant).collect();
    let name = match name.as_str() {
        "integer" | "int" => "int4".to_string(),
        "smallint" => "int2".into(),
        "bigint" => "int8".into(),
        "real" => "float4".into(),
        "boolean" => "bool".into(),
        "decimal" => "numeric".into(),
        _ => name,
    };
    let modifier = match (name.as_str(), mods.as_slice()) {
        (_, []) => Modifier::None,
        ("numeric", [p]) => Modifier::Numeric { precision: *p as u32, scale: 0 },
        ("numeric", [p, s, ..]) => Modifier::Numeric { precision: *p as u32, scale: *s as i32 },
        ("varchar" | "bpchar" | "bit" | "varbit", [n, ..]) => Modifier::Length(*n as u32),
        ("timestamp" | "timestamptz" | "time" | "timetz", [m, ..]) => Modifier::Other(*m as u32),
        (_, [m, ..]) => Modifier::Opaque(*m as i32),
    };
    TypeRef::new(&name, modifier)
}

/// The relations a statement names, as written (`src/facts/utility.rs: named_relations`): `ALTER
/// TABLE`, `ALTER … RENAME`, `CREATE TRIGGER/RULE/INDEX`, `TRUNCATE`.
fn named_relations(node: &str, body: &Value) -> Vec<(String, Option<String>)> {
    let one = |field: &str| child(body, field).map(range_var).into_iter().collect::<Vec<_>>();
    match node {
        "AlterTableStmt" | "RenameStmt" | "CreateTrigStmt" | "RuleStmt" | "IndexStmt" => one("relation"),
        "TruncateStmt" => list(body, "relations").iter().filter_map(|r| as_kind(r, "RangeVar")).map(range_var).collect(),
        _ => Vec::new(),
    }
}

/// An object of the guard's the statement names by its schema (`interdict.…`) or by the
/// extension's or schema's own name (`src/facts/guard_objects.rs: named_guard_object`). Unqualified
/// names are taken as not the guard's: its schema is on no agent's search path (see
/// [`Session::guard_uncertain`] for the exception).
fn guard_object(node: &str, body: &Value) -> Option<String> {
    let in_guard = |rv: &Value| (field_str(rv, "schemaname") == Some(GUARD)).then(|| range_var(rv).0);
    match node {
        "CreateStmt" | "ViewStmt" | "CreateSeqStmt" | "AlterSeqStmt" => {
            let field = match node {
                "CreateStmt" => "relation",
                "ViewStmt" => "view",
                _ => "sequence",
            };
            child(body, field).and_then(in_guard)
        }
        "CreateFunctionStmt" => {
            let n = names(list(body, "funcname"));
            (n.len() >= 2 && n[n.len() - 2] == GUARD).then(|| format!("schema (function {})", n.join(".")))
        }
        "AlterFunctionStmt" => child(body, "func").and_then(|f| qualified_by_guard(f, 2)),
        "DropStmt" => {
            let kind = tags::object_type_name(field_i64(body, "remove_type"));
            list(body, "objects").iter().find_map(|o| object_of_guard(&kind, o))
        }
        "RenameStmt" | "AlterObjectSchemaStmt" | "AlterOwnerStmt" => {
            let kind_field = if node == "RenameStmt" { "rename_type" } else { "object_type" };
            let kind = tags::object_type_name(field_i64(body, kind_field));
            if let Some(rv) = child(body, "relation") {
                return in_guard(rv);
            }
            child(body, "object").and_then(|o| object_of_guard(&kind, o))
        }
        "CommentStmt" | "SecLabelStmt" => {
            let kind = tags::object_type_name(field_i64(body, "objtype"));
            child(body, "object").and_then(|o| object_of_guard(&kind, o))
        }
        "GrantStmt" => {
            let kind = tags::object_type_name(field_i64(body, "objtype"));
            if !matches!(kind.as_str(), "TABLE" | "SEQUENCE" | "FUNCTION" | "PROCEDURE" | "ROUTINE" | "SCHEMA") {
                return None;
            }
            list(body, "objects").iter().find_map(|o| match as_kind(o, "RangeVar") {
                Some(rv) => in_guard(rv),
                None => object_of_guard(&kind, o),
            })
        }
        _ => None,
    }
}

/// An object node (a name list, a routine with arguments, a type, a bare name) in the guard's
/// schema, or the guard's schema or extension itself.
fn object_of_guard(kind: &str, o: &Value) -> Option<String> {
    if matches!(kind, "ROLE" | "DATABASE" | "TABLESPACE") {
        return None;
    }
    if let Some(name) = tree::string_node(o) {
        return (matches!(kind, "SCHEMA" | "EXTENSION") && name == GUARD).then(|| format!("{} {name}", kind.to_ascii_lowercase()));
    }
    // Objects of a table (triggers, rules, policies, constraints, columns) carry the table's name too.
    let min = if matches!(kind, "TRIGGER" | "RULE" | "POLICY" | "TABCONSTRAINT" | "COLUMN") { 3 } else { 2 };
    qualified_by_guard(o, min).map(|n| format!("{} {n}", kind.to_ascii_lowercase().replace('_', " ")))
}

/// A name list, `ObjectWithArgs` or `TypeName` whose first name is the guard's schema.
fn qualified_by_guard(o: &Value, min: usize) -> Option<String> {
    let n = if let Some(l) = as_kind(o, "List") {
        names(list(l, "items"))
    } else if let Some(f) = as_kind(o, "ObjectWithArgs").or_else(|| o.get("objname").map(|_| o)) {
        names(list(f, "objname"))
    } else if let Some(t) = as_kind(o, "TypeName") {
        names(list(t, "names"))
    } else {
        Vec::new()
    };
    (n.len() >= min && n[0] == GUARD).then(|| n.join("."))
}

/// Validates a value for an `interdict.*` setting with the core's own parsers, where it has one.
fn parse_interdict_setting(name: &str, value: &str) -> Option<Result<(), String>> {
    use interdict_core::limits::{Ceiling, DryRun, LogStatement, Millis, RowLimit};
    Some(match name {
        "max_rows" => RowLimit::parse(value).map(|_| ()),
        "simulate_timeout" => Millis::parse(value).map(|_| ()),
        "max_statement_timeout" | "max_lock_timeout" | "max_idle_in_transaction_timeout" | "max_transaction_timeout" => {
            Ceiling::parse(value).map(|_| ())
        }
        "dry_run" => DryRun::parse(value).map(|_| ()),
        "log_statement" => LogStatement::parse(value).map(|_| ()),
        _ => return None,
    })
}

/// The schema a statement names for the object it creates (or moves an object to), where written.
fn created_schema(node: &str, body: &Value) -> Option<String> {
    let relation = |field: &str| child(body, field).and_then(|r| as_kind(r, "RangeVar")).and_then(|r| range_var(r).1);
    let qualified = |field: &str| {
        let n = names(list(body, field));
        (n.len() > 1).then(|| n[n.len() - 2].clone())
    };
    match node {
        "CreateStmt" | "CreateForeignTableStmt" => relation("relation").or_else(|| child(body, "base").and_then(|b| created_schema("CreateStmt", b))),
        "ViewStmt" => relation("view"),
        "CreateSeqStmt" => relation("sequence"),
        "CompositeTypeStmt" => relation("typevar"),
        "CreateTableAsStmt" => child(body, "into").and_then(|i| as_kind(i, "IntoClause").or(Some(i))).and_then(|i| child(i, "rel")).and_then(|r| as_kind(r, "RangeVar").or(Some(r))).and_then(|r| range_var(r).1),
        "CreateFunctionStmt" => qualified("funcname"),
        "DefineStmt" => qualified("defnames"),
        "CreateDomainStmt" => qualified("domainname"),
        "CreateEnumStmt" | "CreateRangeStmt" => qualified("type_name"),
        "AlterObjectSchemaStmt" => field_str(body, "newschema").map(str::to_string),
        _ => None,
    }
}