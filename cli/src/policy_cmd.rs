//! `interdict policy check FILE [--explain ROLE TABLE]`: the policy parsed and validated by the same
//! code `interdict.load_policy()` runs (`interdict_core::policy`), errors with line and column; and
//! the rule that applies to a role and a table, as the core merges and resolves it.

use crate::check::{read_text_file, EXIT_INVALID};
use crate::tags::TAGS;
use interdict_core::policy::{Policy, RolePolicy};
use interdict_core::reasons::REASONS;
use interdict_core::{Mode, ReasonCode, Refusal, Verdict};
use serde_json::json;

pub fn run(file: &str, explain: Option<&[String]>, as_json: bool) -> i32 {
    let text = match read_text_file(file) {
        Ok(t) => t,
        Err(e) => return fail(as_json, &e, None, None),
    };
    let policy = match Policy::parse(&text, TAGS) {
        Ok(p) => p,
        Err(e) => return fail(as_json, &format!("{file}: {}", e.message), e.line, e.column),
    };
    let Some([role, table]) = explain else {
        if as_json {
            println!("{}", json!({"file": file, "valid": true}));
        } else {
            println!("{file}: valid policy");
        }
        return 0;
    };
    let rule = policy.for_role(role);
    let report = explain_rule(&rule, table);
    if as_json {
        println!("{}", json!({"file": file, "valid": true, "role": role, "table": table, "rule": report}));
    } else {
        println!("{file}: valid policy; the rule for role {role} on {table}:");
        for (key, value) in report.as_object().into_iter().flatten() {
            println!("  {key}: {value}");
        }
    }
    0
}

fn fail(as_json: bool, message: &str, line: Option<usize>, column: Option<usize>) -> i32 {
    if as_json {
        println!("{}", json!({"valid": false, "error": message, "line": line, "column": column}));
    } else {
        match (line, column) {
            (Some(l), Some(c)) => eprintln!("interdict: {message} (line {l}, column {c})"),
            _ => eprintln!("interdict: {message}"),
        }
    }
    EXIT_INVALID
}

/// The merged rule for the role, and for the table: its table rule and the action each structural
/// refusal gets on it (asked of the core's own `RolePolicy::apply`, so what is printed is what the
/// server does).
fn explain_rule(rule: &RolePolicy, table: &str) -> serde_json::Value {
    let table_rule = rule.table(table);
    let mut structural = serde_json::Map::new();
    for reason in REASONS.iter().filter(|r| r.policy_key.is_some()) {
        let Some(code) = ReasonCode::from_code(reason.code) else { continue };
        let probe = Verdict::Refuse(Refusal::new(code, Mode::Guarded, "probe"));
        let action = match rule.apply(probe, &[table.to_string()]) {
            Verdict::Allow => "allow".to_string(),
            Verdict::Refuse(r) if r.code != code => format!("allow only with non_reversible: allow (else {})", r.code.reason().code),
            Verdict::Refuse(r) if r.approvable() => "confirm (refused with an approval id)".to_string(),
            Verdict::Refuse(_) => "refuse (no approval)".to_string(),
        };
        structural.insert(reason.policy_key.unwrap_or_default().to_string(), json!(action));
    }
    json!({
        "mode": rule.mode.map(|m| m.as_str()),
        "max_rows": rule.max_rows,
        "rows": {"insert": rule.rows.insert, "update": rule.rows.update, "delete": rule.rows.delete},
        "blocked_commands": rule.blocked_commands,
        "allowed_commands": rule.allowed_commands,
        "simulate_timeout": rule.simulate_timeout.map(|m| m.render()),
        "non_reversible": if rule.allows_non_reversible() { "allow" } else { "refuse" },
        "table": table_rule.map(|t| json!({
            "write": t.write, "read": t.read, "max_rows": t.max_rows,
            "rows": {"insert": t.rows.insert, "update": t.rows.update, "delete": t.rows.delete},
        })),
        "structural": structural,
    })
}
