//! `interdict explain-code`: a row of the reason table the extension raises from
//! (`interdict_core::reasons`), never a copy.

use interdict_core::reasons::{properties, Reason, REASONS};
use interdict_core::ReasonCode;
use serde_json::json;

pub fn run(code: Option<&str>, all: bool, as_json: bool) -> i32 {
    if all {
        if as_json {
            println!("{}", serde_json::Value::Array(REASONS.iter().map(row_json).collect()));
        } else {
            for r in REASONS {
                println!("{:<28} {}  {}", r.code, r.sqlstate, r.why);
            }
        }
        return 0;
    }
    let Some(code) = code else {
        eprintln!("interdict explain-code: name a reason code (e.g. readonly.dml), or --all to list them");
        return crate::check::EXIT_INVALID;
    };
    let Some(found) = ReasonCode::from_code(code.trim()) else {
        eprintln!("interdict explain-code: \"{code}\" is not a reason code; `interdict explain-code --all` lists them");
        return crate::check::EXIT_INVALID;
    };
    let r = found.reason();
    if as_json {
        println!("{}", row_json(r));
    } else {
        println!("{}\n  SQLSTATE:   {}\n  why:        {}\n  hint:       {}\n  properties: {}", r.code, r.sqlstate, r.why, r.hint, properties(r));
    }
    0
}

pub fn row_json(r: &Reason) -> serde_json::Value {
    json!({"code": r.code, "sqlstate": r.sqlstate, "why": r.why, "hint": r.hint, "properties": properties(r), "policy_key": r.policy_key})
}
