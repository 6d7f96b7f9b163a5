//! Policies: what a DBA lets each agent role do, written in YAML (`policies/*.yaml`).
//!
//! A policy is parsed and validated here, whole, before it can be used: a policy that does not parse
//! or does not validate is an error with its line and column, and never becomes active. At session
//! start the server resolves the policy for the session's role ([`Policy::for_role`]) and the lock
//! folds its limits into the session's settings (tighter wins); the hooks then ask
//! [`RolePolicy::apply`] how a structural refusal fares, [`RolePolicy::decide_tables`] about tables
//! that may not be written or read, and [`RolePolicy::row_excess`] about per-table and per-operation
//! row limits.
//!
//! The YAML crate is `serde_norway`: the maintained fork of `serde_yaml` (archived upstream), with
//! the same serde API and errors that carry the key path, line and column; a small dependency tree
//! suits a library loaded into every agent backend.

use crate::limits::Millis;
use crate::{Mode, ReasonCode, Refusal, Verdict};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The only policy format version so far.
pub const VERSION: u32 = 1;

/// What happens to a statement one of guarded mode's structural rules refuses, from the loosest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Allowed.
    Allow,
    /// Refused with an approval id: it runs once an operator approves it (the default).
    #[default]
    Confirm,
    /// Refused, and no operator can approve it.
    Refuse,
}

/// A structural refusal a policy may relax: a reason whose row in the reason table has a policy key
/// (`core/src/reasons.rs`). `guarded.guard_schema`, `guarded.server_config`,
/// `guarded.untrusted_code` and `extension.protected` have none: no policy relaxes those, and a
/// policy that names one does not load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Structural(ReasonCode);

impl Structural {
    fn of(code: ReasonCode) -> Option<Structural> {
        code.reason().policy_key.map(|_| Structural(code))
    }
}

impl<'de> Deserialize<'de> for Structural {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        ReasonCode::from_policy_key(&key).map(Structural).ok_or_else(|| {
            let keys: Vec<&str> = crate::reasons::REASONS.iter().filter_map(|r| r.policy_key).collect();
            serde::de::Error::custom(format!("unknown variant `{key}`, expected one of {}", keys.join(", ")))
        })
    }
}

/// Row limits per operation (each `None` when not set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpLimits {
    pub insert: Option<u64>,
    pub update: Option<u64>,
    pub delete: Option<u64>,
}

impl OpLimits {
    fn or(self, other: OpLimits) -> OpLimits {
        OpLimits {
            insert: self.insert.or(other.insert),
            update: self.update.or(other.update),
            delete: self.delete.or(other.delete),
        }
    }
}

/// Rules for the tables a name pattern matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    /// `false`: no statement may change the table.
    #[serde(default = "yes")]
    pub write: bool,
    /// `false`: no statement may read it either (nor write it).
    #[serde(default = "yes")]
    pub read: bool,
    /// Rows one statement may change in the table, all operations together.
    pub max_rows: Option<u64>,
    /// Rows one statement may change in the table, per operation.
    #[serde(default)]
    pub rows: OpLimits,
    /// Structural actions for statements on this table, over the role's.
    #[serde(default)]
    structural: BTreeMap<Structural, Action>,
}

fn yes() -> bool {
    true
}

/// Whether guarded mode lets through writes that cannot be recorded for undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonReversible {
    Refuse,
    Allow,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    #[serde(default)]
    defaults: RolePolicy,
    /// Role name, or a pattern with `*`, to its rule.
    #[serde(default)]
    roles: BTreeMap<String, RolePolicy>,
}

fn de_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Mode>, D::Error> {
    let text = String::deserialize(d)?;
    Mode::parse(&text).map(Some).map_err(serde::de::Error::custom)
}

fn de_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
    let text = match serde_norway::Value::deserialize(d)? {
        serde_norway::Value::String(s) => s,
        serde_norway::Value::Number(n) => n.to_string(),
        other => return Err(serde::de::Error::custom(format!("expected a duration such as 5s, found {other:?}"))),
    };
    Millis::parse(&text).map(Some).map_err(serde::de::Error::custom)
}

/// A policy that did not parse or validate: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

/// The largest policy read, in bytes (a policy is a few hundred bytes to a few kilobytes).
pub const MAX_POLICY_BYTES: usize = 1 << 20;
/// The deepest nesting of `[` and `{` read (a policy nests three or four deep).
pub const MAX_POLICY_NESTING: usize = 64;

/// Why `yaml` is not even parsed: too large, or nested too deep. The YAML parser's time grows with
/// the square of the nesting (40,000 brackets took 11 s, uninterruptible): refused before it runs.
fn beyond_bounds(yaml: &str) -> Option<String> {
    if yaml.len() > MAX_POLICY_BYTES {
        return Some(format!("the policy is {} bytes; at most {MAX_POLICY_BYTES} are read", yaml.len()));
    }
    let (mut depth, mut deepest, mut quote, mut comment) = (0usize, 0usize, None, false);
    for c in yaml.chars() {
        match (quote, c) {
            (_, '\n') => comment = false,
            _ if comment => {}
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (deepest > MAX_POLICY_NESTING).then(|| format!("the policy nests {deepest} deep; at most {MAX_POLICY_NESTING} levels of [ and {{ are read"))
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    defaults: RolePolicy,
    roles: BTreeMap<String, RolePolicy>,
}

impl Policy {
    /// Parses and validates `yaml`. `valid_tags` are the server's command tags, for `blocked_commands`.
    pub fn parse(yaml: &str, valid_tags: &[&str]) -> Result<Policy, PolicyError> {
        if let Some(message) = beyond_bounds(yaml) {
            return Err(PolicyError { line: None, column: None, message });
        }
        let file: PolicyFile = serde_norway::from_str(yaml).map_err(|e| {
            let location = e.location();
            let message = e.to_string();
            // serde_norway appends " at line L column C"; we report those fields on their own.
            let message = match message.rfind(" at line ") {
                Some(i) if location.is_some() => message[..i].to_string(),
                _ => message,
            };
            PolicyError { line: location.as_ref().map(|l| l.line()), column: location.map(|l| l.column()), message }
        })?;
        let at = |needle: &str, message: String| {
            let (line, column) = locate(yaml, needle);
            PolicyError { line, column, message }
        };
        if file.version != VERSION {
            return Err(at("version", format!("version: {} is not a policy version this Interdict reads (use {VERSION})", file.version)));
        }
        let rules = std::iter::once(("defaults", &file.defaults)).chain(file.roles.iter().map(|(k, v)| (k.as_str(), v)));
        for (owner, rule) in rules {
            for (key, tags) in [("blocked_commands", &rule.blocked_commands), ("allowed_commands", &rule.allowed_commands)] {
                for tag in tags {
                    crate::CommandSet::parse(tag, valid_tags).map_err(|e| at(tag, format!("{owner}: {key}: {e}")))?;
                }
            }
            for pattern in rule.tables.keys() {
                let valid = pattern.split('.').count() == 2 && pattern.split('.').all(|p| !p.is_empty());
                if !valid {
                    return Err(at(pattern, format!("{owner}: tables: \"{pattern}\" is not schema.table (either part may use *)")));
                }
            }
        }
        for pattern in file.roles.keys() {
            if pattern.trim().is_empty() {
                return Err(at("roles", "roles: a role name is empty".into()));
            }
        }
        Ok(Policy { defaults: file.defaults, roles: file.roles })
    }

    /// The rule for `role`: the defaults, overridden key by key by the most specific role entry
    /// (the exact name, else the matching pattern with the most literal characters).
    pub fn for_role(&self, role: &str) -> RolePolicy {
        let entry = most_specific(self.roles.iter(), role).map(|(_, rule)| rule);
        let d = &self.defaults;
        let Some(r) = entry else { return d.clone() };
        let mut structural = d.structural.clone();
        structural.extend(r.structural.iter().map(|(k, v)| (*k, *v)));
        let mut tables = d.tables.clone();
        tables.extend(r.tables.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut blocked = d.blocked_commands.clone();
        blocked.extend(r.blocked_commands.iter().cloned());
        let mut allowed = d.allowed_commands.clone();
        allowed.extend(r.allowed_commands.iter().cloned());
        RolePolicy {
            mode: r.mode.or(d.mode),
            max_rows: r.max_rows.or(d.max_rows),
            rows: r.rows.or(d.rows),
            structural,
            blocked_commands: blocked,
            allowed_commands: allowed,
            simulate_timeout: r.simulate_timeout.or(d.simulate_timeout),
            non_reversible: r.non_reversible.or(d.non_reversible),
            tables,
        }
    }
}

/// The first line and column where `needle` appears, for errors found after parsing.
fn locate(text: &str, needle: &str) -> (Option<usize>, Option<usize>) {
    text.lines()
        .enumerate()
        .find_map(|(i, line)| line.find(needle).map(|c| (Some(i + 1), Some(c + 1))))
        .unwrap_or((None, None))
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else { return false };
            (0..=rest.len()).filter(|i| rest.is_char_boundary(*i)).any(|i| glob(tail, &rest[i..]))
        }
    }
}

fn most_specific<'a, V>(entries: impl Iterator<Item = (&'a String, &'a V)>, name: &str) -> Option<(&'a String, &'a V)> {
    entries
        .filter(|(pattern, _)| glob(pattern, name))
        .max_by_key(|(pattern, _)| (!pattern.contains('*'), pattern.chars().filter(|c| *c != '*').count()))
}

/// One rule: `defaults`, or the rule for a role pattern (every key optional); and, once merged
/// by [`Policy::for_role`], the policy in force for one session's role.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePolicy {
    #[serde(default, deserialize_with = "de_mode")]
    pub mode: Option<Mode>,
    pub max_rows: Option<u64>,
    #[serde(default)]
    pub rows: OpLimits,
    #[serde(default)]
    structural: BTreeMap<Structural, Action>,
    #[serde(default)]
    pub blocked_commands: Vec<String>,
    /// Utility commands readonly sessions may run anyway (what `interdict.readonly_allow` says).
    #[serde(default)]
    pub allowed_commands: Vec<String>,
    #[serde(default, deserialize_with = "de_millis")]
    pub simulate_timeout: Option<Millis>,
    /// Writes undo cannot record: `refuse` (the default) or `allow` (with a warning on each).
    pub non_reversible: Option<NonReversible>,
    #[serde(default)]
    tables: BTreeMap<String, TableRule>,
}

/// Rows one statement changed in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// `schema.name`.
    pub table: String,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// A per-table or per-operation limit a statement passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowExcess {
    pub reached: u64,
    pub limit: u64,
    /// Which limit: `delete rows in public.accounts`, `rows in audit.log`, `delete rows`.
    pub scope: String,
}

impl RolePolicy {
    /// Whether any rule names tables: the hooks then look up the names of the tables a statement
    /// touches; without table rules they never do.
    pub fn has_table_rules(&self) -> bool {
        !self.tables.is_empty()
    }

    /// Whether limits beyond the session's `max_rows` apply (per operation or per table).
    pub fn has_row_rules(&self) -> bool {
        self.rows != OpLimits::default() || self.tables.values().any(|t| t.max_rows.is_some() || t.rows != OpLimits::default())
    }

    /// The smallest per-operation or per-table limit: below it, [`Self::row_excess`] finds nothing,
    /// so the row counter need not look up table names.
    pub fn smallest_row_limit(&self) -> Option<u64> {
        let ops = |o: &OpLimits| [o.insert, o.update, o.delete];
        let tables = self.tables.values().flat_map(|t| ops(&t.rows).into_iter().chain([t.max_rows]));
        ops(&self.rows).into_iter().chain(tables).flatten().min()
    }

    pub fn table(&self, name: &str) -> Option<&TableRule> {
        most_specific(self.tables.iter(), name).map(|(_, rule)| rule)
    }

    /// Whether a table rule sets structural actions: the hooks then name the tables a refused
    /// statement acts on; without such rules they never do.
    pub fn has_table_structural(&self) -> bool {
        self.tables.values().any(|t| !t.structural.is_empty())
    }

    /// The action for a structural refusal on `tables`: each table's own rule, else the role's;
    /// across tables, the strictest.
    fn action(&self, rule: Structural, tables: &[String]) -> Action {
        let role = self.structural.get(&rule).copied().unwrap_or_default();
        let on_table = |t: &String| self.table(t).and_then(|r| r.structural.get(&rule)).copied().unwrap_or(role);
        tables.iter().map(on_table).max().unwrap_or(role)
    }

    /// A structural refusal under this policy, for a statement on `tables`: allowed, refused for
    /// good, or (the default) refused with an approval id. Other verdicts pass unchanged.
    pub fn apply(&self, verdict: Verdict, tables: &[String]) -> Verdict {
        let Verdict::Refuse(refusal) = verdict else { return verdict };
        let Some(rule) = Structural::of(refusal.code) else { return Verdict::Refuse(refusal) };
        match self.action(rule, tables) {
            // Allowed, but what it destroys cannot be recorded for undo: that needs its own yes.
            Action::Allow if refusal.code.unrecordable() && !self.allows_non_reversible() => Verdict::Refuse(
                Refusal::new(ReasonCode::GuardedNotReversible, refusal.mode, refusal.what).fact("refused_as", refusal.code.reason().code),
            ),
            Action::Allow => Verdict::Allow,
            Action::Refuse => Verdict::Refuse(refusal.without_approval()),
            Action::Confirm => Verdict::Refuse(refusal),
        }
    }

    /// `non_reversible: allow`: writes undo cannot record go through, each with a warning.
    pub fn allows_non_reversible(&self) -> bool {
        self.non_reversible == Some(NonReversible::Allow)
    }

    /// Tables the statement writes and reads against `write: false` / `read: false`.
    pub fn decide_tables(&self, mode: Mode, written: &[String], read: &[String]) -> Verdict {
        let refuse = |code: ReasonCode, table: &str, what: String| {
            Verdict::Refuse(Refusal::new(code, mode, what).fact("relation", table).without_approval())
        };
        for table in read {
            if self.table(table).is_some_and(|t| !t.read) {
                return refuse(ReasonCode::PolicyTableRead, table, format!("reading {table}"));
            }
        }
        for table in written {
            if self.table(table).is_some_and(|t| !t.write || !t.read) {
                return refuse(ReasonCode::PolicyTableWrite, table, format!("writing {table}"));
            }
        }
        Verdict::Allow
    }

    /// Renames and moves (`schema.name` now, after) against the table rules: one that takes a
    /// relation out of the rule that applies to it now (its row limits, `read`/`write`, structural
    /// actions), to no rule or another, is refused — the rule would no longer find it (an agent's
    /// schema renamed out of a `schema.*` rule, written past its limits, renamed back).
    pub fn decide_renamed(&self, mode: Mode, renamed: &[(String, String)]) -> Verdict {
        for (now, after) in renamed {
            let rule_now = most_specific(self.tables.iter(), now).map(|(pattern, _)| pattern);
            let rule_after = most_specific(self.tables.iter(), after).map(|(pattern, _)| pattern);
            if let Some(pattern) = rule_now.filter(|&p| Some(p) != rule_after) {
                let what = format!("renaming {now} to {after}, out of the policy's table rule {pattern}");
                return Verdict::Refuse(Refusal::new(ReasonCode::PolicyTableWrite, mode, what).fact("relation", now).fact("rule", pattern).without_approval());
            }
        }
        Verdict::Allow
    }

    /// The first per-operation or per-table limit the statement's rows passed, if any.
    pub fn row_excess(&self, counts: &[TableCount]) -> Option<RowExcess> {
        let total = |f: fn(&TableCount) -> u64| counts.iter().map(f).sum::<u64>();
        let ops: [(&str, Option<u64>, fn(&TableCount) -> u64); 3] = [
            ("insert", self.rows.insert, |c| c.inserted),
            ("update", self.rows.update, |c| c.updated),
            ("delete", self.rows.delete, |c| c.deleted),
        ];
        for (op, limit, rows) in ops {
            if let Some(limit) = limit.filter(|l| total(rows) > *l) {
                return Some(RowExcess { reached: total(rows), limit, scope: format!("{op} rows") });
            }
        }
        for c in counts {
            let Some(rule) = self.table(&c.table) else { continue };
            let per_op = [("insert", rule.rows.insert, c.inserted), ("update", rule.rows.update, c.updated), ("delete", rule.rows.delete, c.deleted)];
            for (op, limit, reached) in per_op {
                if let Some(limit) = limit.filter(|l| reached > *l) {
                    return Some(RowExcess { reached, limit, scope: format!("{op} rows in {}", c.table) });
                }
            }
            let reached = c.inserted + c.updated + c.deleted;
            if let Some(limit) = rule.max_rows.filter(|l| reached > *l) {
                return Some(RowExcess { reached, limit, scope: format!("rows in {}", c.table) });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGS: &[&str] = &["TRUNCATE TABLE", "VACUUM", "CLUSTER"];

    fn parse(yaml: &str) -> Result<Policy, PolicyError> {
        Policy::parse(yaml, TAGS)
    }

    #[test]
    fn deep_or_huge_input_is_refused_before_the_parser_runs() {
        let deep = format!("version: 1\ndefaults: {}{}\n", "[".repeat(40_000), "]".repeat(40_000));
        let started = std::time::Instant::now();
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nests 40000 deep"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "refused at once");
        let huge = format!("version: 1\n#{}\n", "x".repeat(MAX_POLICY_BYTES));
        assert!(parse(&huge).unwrap_err().message.contains("at most"));
        let quoted = "version: 1\ndefaults:\n  tables:\n    \"public.t\": {write: false}  # [[[[ not nesting\n";
        assert!(parse(quoted).is_ok(), "brackets in comments and quotes do not count");
    }

    const SAMPLE: &str = "\
version: 1
defaults:
  max_rows: 500
  structural:
    truncate: refuse
  tables:
    audit.*:
      write: false
roles:
  agent_*:
    rows:
      delete: 10
    structural:
      truncate: allow
      drop: refuse
  agent_bulk:
    non_reversible: allow
    structural:
      truncate: allow
  agent_ops:
    mode: readonly
    max_rows: 5
    tables:
      public.accounts:
        read: false
";

    #[test]
    fn the_most_specific_role_entry_overrides_the_defaults_key_by_key() {
        let p = parse(SAMPLE).unwrap();
        let bob = p.for_role("bob");
        assert_eq!((bob.max_rows, bob.rows.delete, bob.mode), (Some(500), None, None));
        let any = p.for_role("agent_x");
        assert_eq!((any.max_rows, any.rows.delete), (Some(500), Some(10)));
        let ops = p.for_role("agent_ops"); // exact name beats agent_*
        assert_eq!((ops.max_rows, ops.rows.delete, ops.mode), (Some(5), None, Some(Mode::Readonly)));
        assert!(ops.table("audit.log").is_some_and(|t| !t.write), "default tables still apply");
        assert!(ops.table("public.accounts").is_some_and(|t| !t.read));
    }

    #[test]
    fn structural_actions_allow_refuse_for_good_or_keep_the_approval() {
        let p = parse(SAMPLE).unwrap();
        let refusal = |code| Verdict::Refuse(Refusal::new(code, Mode::Guarded, "x"));
        let Verdict::Refuse(r) = p.for_role("agent_x").apply(refusal(ReasonCode::GuardedTruncate), &[]) else { panic!() };
        assert_eq!(r.code, ReasonCode::GuardedNotReversible, "allowed, but undo cannot record it");
        assert_eq!(p.for_role("agent_bulk").apply(refusal(ReasonCode::GuardedTruncate), &[]), Verdict::Allow);
        assert_eq!(p.for_role("agent_bulk").apply(refusal(ReasonCode::GuardedPrivileges), &[]), Verdict::Refuse(Refusal::new(ReasonCode::GuardedPrivileges, Mode::Guarded, "x")));
        let Verdict::Refuse(r) = p.for_role("bob").apply(refusal(ReasonCode::GuardedTruncate), &[]) else { panic!() };
        assert!(!r.approvable(), "refuse: no approval id");
        let Verdict::Refuse(r) = p.for_role("bob").apply(refusal(ReasonCode::GuardedDrop), &[]) else { panic!() };
        assert!(r.approvable(), "not named: confirm, the default");
        let Verdict::Refuse(r) = p.for_role("agent_x").apply(refusal(ReasonCode::GuardedGuardSchema), &[]) else { panic!() };
        assert_eq!(r.code, ReasonCode::GuardedGuardSchema, "no policy relaxes the guard's own schema");
    }

    #[test]
    fn table_rules_set_structural_actions_for_their_tables() {
        let yaml = "version: 1\ndefaults:\n  structural: {truncate: refuse, unscoped_write: confirm}\n  non_reversible: allow\n  tables:\n    scratch.*: {structural: {truncate: allow, unscoped_write: allow}}\n    public.ledger: {structural: {unscoped_write: refuse}}\n";
        let p = parse(yaml).unwrap().for_role("a");
        assert!(p.has_table_structural() && !parse(SAMPLE).unwrap().for_role("a").has_table_structural());
        let truncate = || Verdict::Refuse(Refusal::new(ReasonCode::GuardedTruncate, Mode::Guarded, "TRUNCATE"));
        let names = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(p.apply(truncate(), &names(&["scratch.tmp"])), Verdict::Allow, "the table's own rule");
        let Verdict::Refuse(r) = p.apply(truncate(), &names(&["scratch.tmp", "public.orders"])) else { panic!() };
        assert!(!r.approvable(), "across tables the strictest: public.orders falls back to the role's refuse");
        let Verdict::Refuse(r) = p.apply(truncate(), &[]) else { panic!() };
        assert!(!r.approvable(), "no tables named: the role's action");
        let unscoped = || Verdict::Refuse(Refusal::new(ReasonCode::GuardedUnscopedWrite, Mode::Guarded, "DELETE"));
        let Verdict::Refuse(r) = p.apply(unscoped(), &names(&["public.ledger"])) else { panic!() };
        assert!(!r.approvable(), "a table may be stricter than its role");
        let Verdict::Refuse(r) = p.apply(unscoped(), &names(&["public.orders"])) else { panic!() };
        assert!(r.approvable());
    }

    #[test]
    fn allowed_commands_are_validated_and_merged() {
        let p = parse("version: 1\ndefaults:\n  allowed_commands: [VACUUM]\nroles:\n  a:\n    allowed_commands: [CLUSTER]\n").unwrap();
        assert_eq!(p.for_role("a").allowed_commands, ["VACUUM", "CLUSTER"]);
        let e = parse("version: 1\ndefaults:\n  allowed_commands: [FROB]\n").unwrap_err();
        assert!(e.message.contains("allowed_commands") && e.line == Some(3), "{e}");
    }

    #[test]
    fn tables_that_may_not_be_written_or_read() {
        let p = parse(SAMPLE).unwrap().for_role("agent_ops");
        let v = |w: &[&str], r: &[&str]| {
            let s = |x: &[&str]| x.iter().map(|t| t.to_string()).collect::<Vec<_>>();
            match p.decide_tables(Mode::Guarded, &s(w), &s(r)) {
                Verdict::Refuse(r) => Some(r.code),
                Verdict::Allow => None,
            }
        };
        assert_eq!(v(&["audit.log"], &[]), Some(ReasonCode::PolicyTableWrite));
        assert_eq!(v(&[], &["audit.log"]), None);
        assert_eq!(v(&[], &["public.accounts"]), Some(ReasonCode::PolicyTableRead));
        assert_eq!(v(&["public.orders"], &["public.orders"]), None);
    }

    #[test]
    fn row_limits_per_operation_and_per_table() {
        let yaml = "version: 1\ndefaults:\n  rows: {delete: 3}\n  tables:\n    public.t*:\n      max_rows: 4\n      rows: {update: 2}\n";
        let p = parse(yaml).unwrap().for_role("a");
        let count = |table: &str, i, u, d| TableCount { table: table.into(), inserted: i, updated: u, deleted: d };
        assert_eq!(p.row_excess(&[count("public.x", 100, 100, 3)]), None);
        assert_eq!(p.row_excess(&[count("public.x", 0, 0, 2), count("public.y", 0, 0, 2)]).unwrap().scope, "delete rows");
        assert_eq!(p.row_excess(&[count("public.t1", 0, 3, 0)]).unwrap(), RowExcess { reached: 3, limit: 2, scope: "update rows in public.t1".into() });
        assert_eq!(p.row_excess(&[count("public.t1", 5, 0, 0)]).unwrap().scope, "rows in public.t1");
        assert!(p.has_row_rules() && p.has_table_rules());
        assert_eq!(p.smallest_row_limit(), Some(2));
        assert!(!parse("version: 1\n").unwrap().for_role("a").has_row_rules());
    }

    #[test]
    fn bad_policies_say_where_and_what() {
        let e = parse("version: 1\ndefaults:\n  max_rows: -1\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), Some(13)));
        assert!(e.message.contains("max_rows"), "{e}");
        let e = parse("version: 1\nroles:\n  a:\n    max_rowz: 5\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("unknown field `max_rowz`"), "{e}");
        let e = parse("version: 1\ndefaults:\n  structural:\n    guard_schema: allow\n").unwrap_err();
        assert!(e.message.contains("unknown variant `guard_schema`"), "{e}");
        for never in ["server_config", "untrusted_code", "extension_protected"] {
            let e = parse(&format!("version: 1\nroles:\n  a:\n    structural:\n      {never}: allow\n")).unwrap_err();
            assert!(e.message.contains(&format!("unknown variant `{never}`")) && e.line == Some(5) && e.column.is_some(), "{never}: {e}");
        }
        assert!(parse("version: 1\ndefaults:\n  structural:\n    command: allow\n    drop_key: refuse\n    server_admin: confirm\n").is_ok());
        let e = parse("version: 1\ndefaults:\n  mode: sideways\n").unwrap_err();
        assert!(e.message.contains("sideways"), "{e}");
        let e = parse("version: 1\ndefaults:\n  simulate_timeout: 0s\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = parse("version: 1\ndefaults:\n  blocked_commands: [VACUUM, FROB]\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("FROB"), "{e}");
        let e = parse("version: 1\ndefaults:\n  tables:\n    accounts:\n      write: false\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(parse("version: 2\n").unwrap_err().line, Some(1));
        assert!(parse("version: 1\nroles: [\n").is_err());
        assert!(parse("").is_err(), "an empty document is not a policy");
    }

    #[test]
    fn the_shipped_policies_validate() {
        for file in ["default.yaml", "strict.yaml", "permissive.yaml"] {
            let path = format!("{}/../policies/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let tags = ["TRUNCATE TABLE", "VACUUM", "CLUSTER", "REINDEX", "CHECKPOINT", "ANALYZE", "CREATE INDEX", "REFRESH MATERIALIZED VIEW", "LOCK TABLE", "COPY"];
            Policy::parse(&text, &tags).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }

    #[test]
    fn renames_out_of_a_rule() {
        let rule = parse("version: 1\ndefaults:\n  tables:\n    ws.*: {max_rows: 10}\n    '*.*': {read: true}\n").unwrap().for_role("a");
        let renamed = |now: &str, after: &str| rule.decide_renamed(Mode::Guarded, &[(now.into(), after.into())]);
        let code = |v: Verdict| match v {
            Verdict::Refuse(r) => Some(r.code),
            Verdict::Allow => None,
        };
        assert_eq!(code(renamed("ws.t", "free.t")), Some(ReasonCode::PolicyTableWrite), "out of ws.* into *");
        assert_eq!(code(renamed("ws.*", "free.*")), Some(ReasonCode::PolicyTableWrite), "a schema renamed");
        assert_eq!(code(renamed("ws.t", "ws.u")), None, "within ws.*");
        assert_eq!(code(renamed("a.t", "b.t")), None, "* before and after");
    }

    #[test]
    fn globs() {
        assert!(glob("agent_*", "agent_1") && glob("*", "x") && glob("a*b*c", "axxbyyc"));
        assert!(!glob("agent_*", "agentx") && !glob("a*b", "ab_") && !glob("x", "xy"));
    }
}
