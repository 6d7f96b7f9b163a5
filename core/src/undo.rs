//! Undo's pure part: from the row images one change recorded for one table, in the order they were
//! recorded, the net effect on each row — what it looked like before the change and after it —
//! and so what reverting must do to it.
//!
//! A row is followed through the change by its key: an update may change the key, a delete frees it
//! and a later insert may take it again, and triggers may write the same row more than once. Only
//! the first before-image and the last after-image matter.

/// What the recording trigger saw happen to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    /// The one-letter form stored in `interdict.change_rows.op`.
    pub fn letter(self) -> char {
        match self {
            Op::Insert => 'I',
            Op::Update => 'U',
            Op::Delete => 'D',
        }
    }

    pub fn from_letter(c: char) -> Option<Op> {
        match c {
            'I' => Some(Op::Insert),
            'U' => Some(Op::Update),
            'D' => Some(Op::Delete),
            _ => None,
        }
    }
}

/// One recorded row event: images are the row's text form, keys the text form of its key columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub op: Op,
    pub old_key: Option<String>,
    pub new_key: Option<String>,
    pub old_row: Option<String>,
    pub new_row: Option<String>,
}

/// One row's net effect: its image before the change (`None`: the change inserted it) and after
/// (`None`: the change deleted it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What reverting does to one row, and what must hold first (the conflict check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The change inserted it: delete it, if it still is exactly `after`.
    Delete { after: String },
    /// The change updated it: set it back to `before`, if it still is exactly `after`.
    Restore { after: String, before: String },
    /// The change deleted it: insert `before` again, if its key is free.
    Reinsert { before: String },
}

impl Net {
    /// The step that reverts this row, or `None` when the change left it as it was.
    pub fn step(&self) -> Option<Step> {
        match (&self.before, &self.after) {
            (None, None) => None,
            (Some(b), Some(a)) if a == b => None,
            (None, Some(a)) => Some(Step::Delete { after: a.clone() }),
            (Some(b), Some(a)) => Some(Step::Restore { after: a.clone(), before: b.clone() }),
            (Some(b), None) => Some(Step::Reinsert { before: b.clone() }),
        }
    }
}

/// The net effect of a change's events on one table, one entry per row, in first-seen order.
pub fn net_effect(events: &[Event]) -> Vec<Net> {
    let mut rows: Vec<Net> = Vec::new();
    // key now -> the row holding it (a deleted row keeps its key until something else takes it)
    let mut by_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for e in events {
        let existing = e.old_key.as_ref().and_then(|k| by_key.remove(k));
        let index = match (e.op, existing) {
            // a key freed by a delete earlier in the change, taken again: the same row slot
            (Op::Insert, _) => match e.new_key.as_ref().and_then(|k| by_key.get(k).copied()) {
                Some(i) if rows[i].after.is_none() => i,
                _ => {
                    rows.push(Net { before: None, after: None });
                    rows.len() - 1
                }
            },
            (_, Some(i)) => i,
            (_, None) => {
                rows.push(Net { before: e.old_row.clone(), after: None });
                rows.len() - 1
            }
        };
        rows[index].after = e.new_row.clone();
        if let Some(k) = e.new_key.as_ref().or(e.old_key.as_ref().filter(|_| e.op == Op::Delete)) {
            by_key.insert(k.clone(), index);
        }
    }
    rows
}

/// Reverting steps for a table, ordered so that keys are freed before they are taken again:
/// deletes of inserted rows, then restores, then reinserts.
pub fn steps(events: &[Event]) -> Vec<Step> {
    let mut steps: Vec<Step> = net_effect(events).iter().filter_map(Net::step).collect();
    steps.sort_by_key(|s| match s {
        Step::Delete { .. } => 0,
        Step::Restore { .. } => 1,
        Step::Reinsert { .. } => 2,
    });
    steps
}

/// What undo needs to know about a relation a guarded statement writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationFacts {
    pub kind: RelationKind,
    /// One of this session's temporary tables: its own scratch, gone with the session.
    pub session_temp: bool,
    /// It carries an enabled recording trigger (`interdict.record()` was run on it).
    pub recorded: bool,
    /// It has a primary key or replica identity index, to find its rows again.
    pub has_key: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    PartitionedTable,
    Foreign,
    /// Views (their rules or INSTEAD OF triggers write real tables, judged on their own), and
    /// anything else.
    Other,
}

/// Why writes to a relation cannot be recorded, if they cannot.
pub fn not_recordable(r: &RelationFacts) -> Option<&'static str> {
    match r.kind {
        _ if r.session_temp => None,
        RelationKind::Foreign => Some("a foreign table (its rows live on another server)"),
        RelationKind::Table | RelationKind::PartitionedTable if !r.recorded => {
            Some("not recorded (no interdict_capture trigger: a DBA runs interdict.record() on it)")
        }
        RelationKind::Table | RelationKind::PartitionedTable if !r.has_key => Some("no primary key or replica identity index to find its rows again"),
        _ => None,
    }
}

/// The fields of a row's text form as `record_out` writes it — `(f1,f2,…)`, a null as nothing, a
/// field quoted when it is empty or holds `"`, `\`, `(`, `)`, `,` or white space, with `"` and
/// `\` doubled inside quotes — each exactly as written (quotes included), `None` for a null.
/// `None` if `text` is not in that form.
pub fn record_fields(text: &str) -> Option<Vec<Option<&str>>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'(') || bytes.last() != Some(&b')') || bytes.len() < 2 {
        return None;
    }
    let end = bytes.len() - 1;
    let mut fields = Vec::new();
    let mut at = 1;
    loop {
        let start = at;
        if bytes.get(at) == Some(&b'"') {
            at += 1;
            loop {
                match bytes.get(at)? {
                    b'\\' => at += 2,
                    b'"' if bytes.get(at + 1) == Some(&b'"') => at += 2,
                    b'"' => break,
                    _ => at += 1,
                }
            }
            at += 1;
        } else {
            while at < end && bytes[at] != b',' {
                if matches!(bytes[at], b'"' | b'\\' | b'(' | b')') {
                    return None;
                }
                at += 1;
            }
        }
        // ASCII delimiters: the slice is on character boundaries in any server encoding.
        fields.push((at > start).then(|| &text[start..at]));
        match bytes.get(at) {
            Some(b',') if at < end => at += 1,
            _ if at == end => return Some(fields),
            _ => return None,
        }
    }
}

/// A row's key, from its text form, as `ROW(k1, …)::text` writes it: the fields at `positions`
/// (0-based, among the row's columns) as written, in a record of their own. `None` if `image` is
/// not a row's text form or has no field at a position.
pub fn key_text(image: &str, positions: &[usize]) -> Option<String> {
    let fields = record_fields(image)?;
    let mut key = String::from("(");
    for (i, &p) in positions.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(fields.get(p)?.unwrap_or_default());
    }
    key.push(')');
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }
    fn ins(key: &str, row: &str) -> Event {
        Event { op: Op::Insert, old_key: None, new_key: s(key), old_row: None, new_row: s(row) }
    }
    fn upd(k1: &str, r1: &str, k2: &str, r2: &str) -> Event {
        Event { op: Op::Update, old_key: s(k1), new_key: s(k2), old_row: s(r1), new_row: s(r2) }
    }
    fn del(key: &str, row: &str) -> Event {
        Event { op: Op::Delete, old_key: s(key), new_key: None, old_row: s(row), new_row: None }
    }

    #[test]
    fn single_events_revert_to_their_inverse() {
        assert_eq!(steps(&[ins("1", "(1,a)")]), vec![Step::Delete { after: "(1,a)".into() }]);
        assert_eq!(steps(&[del("1", "(1,a)")]), vec![Step::Reinsert { before: "(1,a)".into() }]);
        assert_eq!(
            steps(&[upd("1", "(1,a)", "1", "(1,b)")]),
            vec![Step::Restore { after: "(1,b)".into(), before: "(1,a)".into() }]
        );
    }

    #[test]
    fn a_row_written_twice_keeps_its_first_before_and_last_after() {
        let e = [upd("1", "(1,a)", "1", "(1,b)"), upd("1", "(1,b)", "1", "(1,c)")];
        assert_eq!(steps(&e), vec![Step::Restore { after: "(1,c)".into(), before: "(1,a)".into() }]);
    }

    #[test]
    fn a_key_change_is_followed() {
        let e = [upd("1", "(1,a)", "2", "(2,a)"), upd("2", "(2,a)", "3", "(3,b)")];
        assert_eq!(steps(&e), vec![Step::Restore { after: "(3,b)".into(), before: "(1,a)".into() }]);
    }

    #[test]
    fn inserted_then_deleted_is_nothing_and_deleted_then_reinserted_is_a_restore() {
        assert_eq!(steps(&[ins("1", "(1,a)"), del("1", "(1,a)")]), vec![]);
        assert_eq!(
            steps(&[del("1", "(1,a)"), ins("1", "(1,z)")]),
            vec![Step::Restore { after: "(1,z)".into(), before: "(1,a)".into() }]
        );
        assert_eq!(steps(&[upd("1", "(1,a)", "1", "(1,b)"), upd("1", "(1,b)", "1", "(1,a)")]), vec![]);
    }

    #[test]
    fn keys_are_freed_before_they_are_taken() {
        // key 1 moved to 2, and a new row took key 1: delete the new row, then move 2 back to 1
        let e = [upd("1", "(1,a)", "2", "(2,a)"), ins("1", "(1,n)"), del("5", "(5,x)")];
        assert_eq!(
            steps(&e),
            vec![
                Step::Delete { after: "(1,n)".into() },
                Step::Restore { after: "(2,a)".into(), before: "(1,a)".into() },
                Step::Reinsert { before: "(5,x)".into() },
            ]
        );
    }

    #[test]
    fn recordable_relations_are_recorded_tables_with_a_key() {
        let table = RelationFacts { kind: RelationKind::Table, session_temp: false, recorded: true, has_key: true };
        assert_eq!(not_recordable(&table), None);
        assert!(not_recordable(&RelationFacts { recorded: false, ..table }).unwrap().starts_with("not recorded"));
        assert!(not_recordable(&RelationFacts { has_key: false, ..table }).unwrap().starts_with("no primary key"));
        assert!(not_recordable(&RelationFacts { kind: RelationKind::Foreign, ..table }).unwrap().starts_with("a foreign table"));
        assert_eq!(not_recordable(&RelationFacts { session_temp: true, recorded: false, ..table }), None, "scratch");
        assert_eq!(not_recordable(&RelationFacts { kind: RelationKind::Other, recorded: false, has_key: false, ..table }), None);
    }

    #[test]
    fn record_fields_are_taken_as_record_out_writes_them() {
        assert_eq!(record_fields("(1,abc,,\"a b\")"), Some(vec![Some("1"), Some("abc"), None, Some("\"a b\"")]));
        assert_eq!(record_fields("()"), Some(vec![None]), "one null column");
        assert_eq!(record_fields("(,)"), Some(vec![None, None]));
        assert_eq!(record_fields("(\"\")"), Some(vec![Some("\"\"")]), "an empty string");
        assert_eq!(
            record_fields("(\"x,\"\"y\"\")\\\\z\",2)"),
            Some(vec![Some("\"x,\"\"y\"\")\\\\z\""), Some("2")]),
            "quotes, commas, parentheses and backslashes inside quotes"
        );
        assert_eq!(record_fields("(\"(1,2)\",\"{a,b}\")"), Some(vec![Some("\"(1,2)\""), Some("\"{a,b}\"")]), "nested rows and arrays");
        assert_eq!(record_fields("(é,ü)"), Some(vec![Some("é"), Some("ü")]), "multibyte text");
        for bad in ["", "(", "1,2", "(1,2", "(\"1)", "(a\"b)", "(1)(2)", "(1,2))"] {
            assert_eq!(record_fields(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn key_text_is_the_key_fields_in_a_record() {
        assert_eq!(key_text("(1,abc,\"a b\")", &[0]).as_deref(), Some("(1)"));
        assert_eq!(key_text("(1,abc,\"a b\")", &[2, 0]).as_deref(), Some("(\"a b\",1)"));
        assert_eq!(key_text("(1,,x)", &[1]).as_deref(), Some("()"), "a null key field writes nothing");
        assert_eq!(key_text("(1,abc)", &[2]), None, "no such field");
        assert_eq!(key_text("not a row", &[0]), None);
    }
}
