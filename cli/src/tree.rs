//! Reading pg_query's parse tree as JSON (`serde_json::to_value` of its protobuf types). Every node
//! is `{"node": {"Kind": {…fields}}}` inside a parent, `{"Kind": {…}}` at the top; enums are their
//! integer values (read them through `pg_query::protobuf`'s enums, never as raw numbers). A generic
//! walk over JSON sees every node of every statement, which pg_query's own `nodes()` does not
//! promise ("this doesn't iterate over every possible node type").

use serde_json::Value;

/// The kind and fields of a node, whether wrapped (`{"node": {Kind: …}}`) or not (`{Kind: …}`).
pub fn obj(v: &Value) -> Option<(&str, &Value)> {
    let v = v.get("node").unwrap_or(v);
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, body)| (k.as_str(), body))
}

/// The fields of a node of the given kind.
pub fn as_kind<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    obj(v).filter(|(k, _)| *k == kind).map(|(_, body)| body)
}

/// A string field (empty strings, as protobuf leaves unset ones, are `None`).
pub fn field_str<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub fn field_i64(body: &Value, name: &str) -> i64 {
    body.get(name).and_then(Value::as_i64).unwrap_or(0)
}

pub fn field_bool(body: &Value, name: &str) -> bool {
    body.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// A list field's elements (absent or null: none).
pub fn list<'a>(body: &'a Value, name: &str) -> &'a [Value] {
    body.get(name).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A child node field, if set.
pub fn child<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|v| !v.is_null())
}

/// The text of a `String` node (`{"String": {"sval": …}}`).
pub fn string_node(v: &Value) -> Option<&str> {
    as_kind(v, "String").and_then(|s| s.get("sval")).and_then(Value::as_str)
}

/// A list of `String` nodes as names (`funcname`, `typeName.names`, a qualified object name).
pub fn names(items: &[Value]) -> Vec<String> {
    items.iter().filter_map(string_node).map(str::to_string).collect()
}

/// An `A_Const`'s value as Postgres would print it for a setting (`ExtractSetVariableArgs`), and
/// `None` for NULL or another node.
pub fn const_text(v: &Value) -> Option<String> {
    let c = as_kind(v, "AConst")?;
    if field_bool(c, "isnull") {
        return None;
    }
    let (kind, val) = obj(c.get("val")?)?;
    match kind {
        "Ival" => Some(field_i64(val, "ival").to_string()),
        "Fval" => val.get("fval").and_then(Value::as_str).map(str::to_string),
        "Sval" => Some(val.get("sval").and_then(Value::as_str).unwrap_or("").to_string()),
        "Boolval" => Some(if field_bool(val, "boolval") { "true" } else { "false" }.to_string()),
        "Bsval" => val.get("bsval").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// A `RangeVar` as written: `schema.name` or `name`, and its schema if written.
pub fn range_var(body: &Value) -> (String, Option<String>) {
    let name = field_str(body, "relname").unwrap_or("").to_string();
    match field_str(body, "schemaname") {
        Some(schema) => (format!("{schema}.{name}"), Some(schema.to_string())),
        None => (name, None),
    }
}

/// Calls `f` with every node (kind, fields) under `v`, `v` included, depth first in source order.
/// `f` returns `false` to skip a node's children.
pub fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a str, &'a Value) -> bool) {
    match v {
        Value::Object(map) => {
            if let Some((kind, body)) = obj(v) {
                if kind.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                    if f(kind, body) {
                        walk(body, f);
                    }
                    return;
                }
            }
            for child in map.values() {
                walk(child, f);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(sql: &str) -> Value {
        let parsed = pg_query::parse(sql, 0).expect("parses");
        serde_json::to_value(&parsed.protobuf.stmts[0]).expect("json")
    }

    #[test]
    fn walks_every_node_and_reads_constants() {
        let t = tree("SELECT lower('X'), 42 FROM s.t WHERE a = 1");
        let mut kinds = Vec::new();
        walk(&t, &mut |k, _| {
            kinds.push(k.to_string());
            true
        });
        assert!(kinds.contains(&"FuncCall".to_string()) && kinds.contains(&"RangeVar".to_string()), "{kinds:?}");
        let mut consts = Vec::new();
        walk(&t, &mut |k, b| {
            if k == "AConst" {
                consts.push(const_text(&serde_json::json!({ "AConst": b })));
            }
            true
        });
        assert_eq!(consts, vec![Some("X".to_string()), Some("42".to_string()), Some("1".to_string())]);
    }
}
