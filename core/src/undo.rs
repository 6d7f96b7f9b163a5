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

/// One recorded row event: images are the row's stored bytes (`image`), keys its key columns'
/// values as bytes (equal keys, equal bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub op: Op,
    pub old_key: Option<Vec<u8>>,
    pub new_key: Option<Vec<u8>>,
    pub old_row: Option<Vec<u8>>,
    pub new_row: Option<Vec<u8>>,
}

/// One row's net effect: its image before the change (`None`: the change inserted it) and after
/// (`None`: the change deleted it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

/// What reverting does to one row, and what must hold first (the conflict check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The change inserted it: delete it, if it still is exactly `after`.
    Delete { after: Vec<u8> },
    /// The change updated it: set it back to `before`, if it still is exactly `after`.
    Restore { after: Vec<u8>, before: Vec<u8> },
    /// The change deleted it: insert `before` again, if its key is free.
    Reinsert { before: Vec<u8> },
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
    let mut by_key: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<Vec<u8>> {
        Some(x.as_bytes().to_vec())
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
        assert_eq!(steps(&[ins("1", "(1,a)")]), vec![Step::Delete { after: b"(1,a)".to_vec() }]);
        assert_eq!(steps(&[del("1", "(1,a)")]), vec![Step::Reinsert { before: b"(1,a)".to_vec() }]);
        assert_eq!(
            steps(&[upd("1", "(1,a)", "1", "(1,b)")]),
            vec![Step::Restore { after: b"(1,b)".to_vec(), before: b"(1,a)".to_vec() }]
        );
    }

    #[test]
    fn a_row_written_twice_keeps_its_first_before_and_last_after() {
        let e = [upd("1", "(1,a)", "1", "(1,b)"), upd("1", "(1,b)", "1", "(1,c)")];
        assert_eq!(steps(&e), vec![Step::Restore { after: b"(1,c)".to_vec(), before: b"(1,a)".to_vec() }]);
    }

    #[test]
    fn a_key_change_is_followed() {
        let e = [upd("1", "(1,a)", "2", "(2,a)"), upd("2", "(2,a)", "3", "(3,b)")];
        assert_eq!(steps(&e), vec![Step::Restore { after: b"(3,b)".to_vec(), before: b"(1,a)".to_vec() }]);
    }

    #[test]
    fn inserted_then_deleted_is_nothing_and_deleted_then_reinserted_is_a_restore() {
        assert_eq!(steps(&[ins("1", "(1,a)"), del("1", "(1,a)")]), vec![]);
        assert_eq!(
            steps(&[del("1", "(1,a)"), ins("1", "(1,z)")]),
            vec![Step::Restore { after: b"(1,z)".to_vec(), before: b"(1,a)".to_vec() }]
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
                Step::Delete { after: b"(1,n)".to_vec() },
                Step::Restore { after: b"(2,a)".to_vec(), before: b"(1,a)".to_vec() },
                Step::Reinsert { before: b"(5,x)".to_vec() },
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
}
