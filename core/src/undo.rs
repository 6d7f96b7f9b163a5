//! Undo's pure part: from the row images one change recorded for one table, in the order they were
//! recorded, the net effect on each row — what it looked like before the change and after it —
//! and so what reverting must do to it.
//!
//! A row is followed through the change by its key: an update may change the key, a delete frees it
//! and a later insert may take it again, and triggers may write the same row more than once. Only
//! the first before-image and the last after-image matter.

use std::borrow::Cow;

use crate::delta::{apply as apply_delta, encode as delta};

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
    pub fn into_step(self) -> Option<Step> {
        match (self.before, self.after) {
            (None, None) => None,
            (Some(b), Some(a)) if a == b => None,
            (None, Some(a)) => Some(Step::Delete { after: a }),
            (Some(b), Some(a)) => Some(Step::Restore { after: a, before: b }),
            (Some(b), None) => Some(Step::Reinsert { before: b }),
        }
    }
}

/// A change whose events for a row do not follow one another: an event found the row other than
/// the one before it left it (an update or delete of a row whose recorded after-image differs, or
/// is gone; an insert of a key a row still holds). The recording trigger takes a statement's rows
/// as its AFTER events fire, at the statement's end; a trigger that fires before it (its name sorts
/// first, or a BEFORE trigger) and writes a row the statement wrote has that write recorded first.
/// A net effect of such a record would restore the wrong row, so none is given: the position, in
/// the table's events, of the first event that does not follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfOrder(pub usize);

/// Whether an event that found a row as `old` follows the one before, which left it `after`.
fn follows(after: Option<&[u8]>, old: Option<&[u8]>) -> bool {
    matches!((after, old), (Some(after), Some(old)) if crate::image::same_row(after, old))
}

/// The net effect of a change's events on one table, one entry per row, in first-seen order. The
/// events' images and keys move into it as they come (a large change's images are read once, not
/// copied, and no list of all its events is needed besides). Each event must find its row as the
/// one before left it ([`OutOfOrder`]).
pub fn net_effect(events: impl IntoIterator<Item = Event>) -> Result<Vec<Net>, OutOfOrder> {
    let events = events.into_iter();
    let mut rows: Vec<Net> = Vec::with_capacity(events.size_hint().0);
    // key now -> the row holding it (a deleted row keeps its key until something else takes it)
    let mut by_key: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::with_capacity(events.size_hint().0);
    for (n, Event { op, old_key, new_key, old_row, new_row }) in events.enumerate() {
        let existing = old_key.as_ref().and_then(|k| by_key.remove(k));
        let index = match (op, existing) {
            // a key freed by a delete earlier in the change, taken again: the same row slot
            (Op::Insert, _) => match new_key.as_ref().and_then(|k| by_key.get(k).copied()) {
                Some(i) if rows[i].after.is_none() => i,
                Some(_) => return Err(OutOfOrder(n)), // a key a row of the change still holds
                None => {
                    rows.push(Net { before: None, after: None });
                    rows.len() - 1
                }
            },
            (_, Some(i)) if !follows(rows[i].after.as_deref(), old_row.as_deref()) => return Err(OutOfOrder(n)),
            (_, Some(i)) => i,
            (_, None) => {
                rows.push(Net { before: old_row, after: None });
                rows.len() - 1
            }
        };
        rows[index].after = new_row;
        let key = if new_key.is_some() { new_key } else if op == Op::Delete { old_key } else { None };
        if let Some(k) = key {
            by_key.insert(k, index);
        }
    }
    Ok(rows)
}

/// Reverting steps for a table, ordered so that keys are freed before they are taken again:
/// deletes of inserted rows, then restores, then reinserts.
pub fn steps(events: impl IntoIterator<Item = Event>) -> Result<Vec<Step>, OutOfOrder> {
    let mut steps: Vec<Step> = net_effect(events)?.into_iter().filter_map(Net::into_step).collect();
    steps.sort_by_key(|s| match s {
        Step::Delete { .. } => 0,
        Step::Restore { .. } => 1,
        Step::Reinsert { .. } => 2,
    });
    Ok(steps)
}

/// What undo needs to know about a relation a guarded statement writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationFacts {
    pub kind: RelationKind,
    /// One of this session's temporary tables: its own scratch, gone with the session.
    pub session_temp: bool,
    /// Its recording triggers record every row written (as `interdict.record()` makes them).
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
            Some("not recorded (no interdict_capture trigger recording every row: a DBA runs interdict.record() on it)")
        }
        RelationKind::Table | RelationKind::PartitionedTable if !r.has_key => Some("no primary key or replica identity index (a btree one: not a temporal WITHOUT OVERLAPS key) to find its rows again"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<Vec<u8>> {
        Some(x.as_bytes().to_vec())
    }
    fn st(e: Vec<Event>) -> Vec<Step> {
        steps(e).expect("events in order")
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
        assert_eq!(st(vec![ins("1", "(1,a)")]), vec![Step::Delete { after: b"(1,a)".to_vec() }]);
        assert_eq!(st(vec![del("1", "(1,a)")]), vec![Step::Reinsert { before: b"(1,a)".to_vec() }]);
        assert_eq!(
            st(vec![upd("1", "(1,a)", "1", "(1,b)")]),
            vec![Step::Restore { after: b"(1,b)".to_vec(), before: b"(1,a)".to_vec() }]
        );
    }

    #[test]
    fn a_row_written_twice_keeps_its_first_before_and_last_after() {
        let e = vec![upd("1", "(1,a)", "1", "(1,b)"), upd("1", "(1,b)", "1", "(1,c)")];
        assert_eq!(st(e), vec![Step::Restore { after: b"(1,c)".to_vec(), before: b"(1,a)".to_vec() }]);
    }

    #[test]
    fn a_key_change_is_followed() {
        let e = vec![upd("1", "(1,a)", "2", "(2,a)"), upd("2", "(2,a)", "3", "(3,b)")];
        assert_eq!(st(e), vec![Step::Restore { after: b"(3,b)".to_vec(), before: b"(1,a)".to_vec() }]);
    }

    #[test]
    fn inserted_then_deleted_is_nothing_and_deleted_then_reinserted_is_a_restore() {
        assert_eq!(st(vec![ins("1", "(1,a)"), del("1", "(1,a)")]), vec![]);
        assert_eq!(
            st(vec![del("1", "(1,a)"), ins("1", "(1,z)")]),
            vec![Step::Restore { after: b"(1,z)".to_vec(), before: b"(1,a)".to_vec() }]
        );
        assert_eq!(st(vec![upd("1", "(1,a)", "1", "(1,b)"), upd("1", "(1,b)", "1", "(1,a)")]), vec![]);
    }

    #[test]
    fn keys_are_freed_before_they_are_taken() {
        // key 1 moved to 2, and a new row took key 1: delete the new row, then move 2 back to 1
        let e = vec![upd("1", "(1,a)", "2", "(2,a)"), ins("1", "(1,n)"), del("5", "(5,x)")];
        assert_eq!(
            st(e),
            vec![
                Step::Delete { after: b"(1,n)".to_vec() },
                Step::Restore { after: b"(2,a)".to_vec(), before: b"(1,a)".to_vec() },
                Step::Reinsert { before: b"(5,x)".to_vec() },
            ]
        );
    }

    #[test]
    fn events_that_do_not_follow_one_another_give_no_net_effect() {
        // a trigger's write of the row recorded before the statement's own write of it
        assert_eq!(steps(vec![upd("1", "(1,b)", "1", "(1,c)"), upd("1", "(1,a)", "1", "(1,b)")]), Err(OutOfOrder(1)));
        assert_eq!(steps(vec![ins("7", "(7,forged)"), del("7", "(7,note)")]), Err(OutOfOrder(1)));
        assert_eq!(steps(vec![del("7", "(7,a)"), del("7", "(7,a)")]), Err(OutOfOrder(1)), "a row deleted twice");
        assert_eq!(steps(vec![ins("7", "(7,a)"), ins("7", "(7,b)")]), Err(OutOfOrder(1)), "a key taken twice");
        assert_eq!(steps(vec![del("2", "(2,x)"), upd("1", "(1,a)", "1", "(1,b)"), upd("1", "(1,a)", "1", "(1,b)")]), Err(OutOfOrder(2)), "the same event twice");
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

/// A change's row events as `interdict.change_rows` stores them: packed into batches of about
/// [`BATCH_BYTES`], one table row per batch rather than per event (a heap tuple per event cost about
/// as much as capturing the event itself: `benches/RESULTS.md`), each batch under the size at
/// which Postgres would move it out of line (`TOAST_TUPLE_THRESHOLD`, about 2 kB).
///
/// A batch: a format byte, a byte-order byte (the images are tuples in the server's own byte order),
/// then per event: the operation's letter, the table's OID (4 bytes, little-endian), and each image
/// as a 4-byte little-endian length (`u32::MAX`: none) and its bytes. In format 2 an update's
/// after-image whose length word has [`DELTA`] set is stored as a delta (`crate::delta`) against its
/// before-image (format 1, written before, has none; both are read).
pub const BATCH_BYTES: usize = 1800;
const BATCH_FORMAT: u8 = 2;
const FORMATS_READ: [u8; 2] = [1, 2];
/// A length word's flag: the bytes that follow are a delta against the event's before-image.
/// A row image is at most 1 GB, so the flag is never part of a length.
const DELTA: u32 = 1 << 31;
#[cfg(target_endian = "little")]
const BYTE_ORDER: u8 = b'l';
#[cfg(target_endian = "big")]
const BYTE_ORDER: u8 = b'b';
const NO_IMAGE: u32 = u32::MAX;

/// One stored batch: its first event's position in the change, how many events, their bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub first_seq: i64,
    pub count: i32,
    pub bytes: Vec<u8>,
}

/// Packs events into batches in the order they come.
#[derive(Debug, Default)]
pub struct Batcher {
    pub batches: Vec<Batch>,
}

/// Where the next event will go, for [`Batcher::cut`] to go back to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    batches: usize,
    bytes: usize,
    count: i32,
}

impl Batcher {
    pub fn position(&self) -> Position {
        match self.batches.last() {
            None => Position::default(),
            Some(b) => Position { batches: self.batches.len(), bytes: b.bytes.len(), count: b.count },
        }
    }

    /// Forgets the events pushed since `at` (taken since the last [`Batcher::take_sealed`], or in
    /// the first batch, which that keeps).
    pub fn cut(&mut self, at: Position) {
        self.batches.truncate(at.batches);
        if let Some(b) = self.batches.last_mut() {
            b.bytes.truncate(at.bytes);
            b.count = at.count;
        }
    }

    /// Takes the batches that are full, but the first: the first and the one being filled stay.
    pub fn take_sealed(&mut self) -> Vec<Batch> {
        match self.batches.len() {
            0..=2 => Vec::new(),
            n => self.batches.drain(1..n - 1).collect(),
        }
    }

    /// Moves every event's position by `by` (events captured before their change's first position
    /// is known).
    pub fn shift(&mut self, by: i64) {
        self.batches.iter_mut().for_each(|b| b.first_seq += by);
    }

    /// Adds event `seq` (positions rise by one within a batch): a new batch when this one would
    /// pass [`BATCH_BYTES`] (an event larger than that is a batch of its own).
    pub fn push(&mut self, seq: i64, op: Op, relid: u32, old: Option<&[u8]>, new: Option<&[u8]>) {
        // An update's after-image mostly repeats its before-image: kept as the difference when
        // that is smaller (one more pass over bytes already in cache, against writing them twice).
        let after_delta = match (old, new) {
            (Some(o), Some(n)) => delta(o, n),
            _ => None,
        };
        let new_len = after_delta.as_ref().map_or(new.map_or(0, <[u8]>::len), Vec::len);
        let size = 1 + 4 + 8 + old.map_or(0, <[u8]>::len) + new_len;
        let start_new = match self.batches.last() {
            None => true,
            Some(b) => b.bytes.len() + size > BATCH_BYTES || b.first_seq + b.count as i64 != seq,
        };
        if start_new {
            let mut bytes = Vec::with_capacity(BATCH_BYTES.max(2 + size));
            bytes.extend_from_slice(&[BATCH_FORMAT, BYTE_ORDER]);
            self.batches.push(Batch { first_seq: seq, count: 0, bytes });
        }
        let Some(b) = self.batches.last_mut() else { return };
        b.bytes.reserve(size);
        b.bytes.push(op.letter() as u8);
        b.bytes.extend_from_slice(&relid.to_le_bytes());
        let images = [(old, 0), (after_delta.as_deref().or(new), if after_delta.is_some() { DELTA } else { 0 })];
        for (image, flag) in images {
            match image {
                Some(i) => {
                    b.bytes.extend_from_slice(&(i.len() as u32 | flag).to_le_bytes());
                    b.bytes.extend_from_slice(i);
                }
                None => b.bytes.extend_from_slice(&NO_IMAGE.to_le_bytes()),
            }
        }
        b.count += 1;
    }
}

/// One event read back from a batch (an after-image stored as a delta rebuilt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<'a> {
    pub op: Op,
    pub relid: u32,
    pub old: Option<&'a [u8]>,
    pub new: Option<Cow<'a, [u8]>>,
}

/// A batch's events, each length checked against the batch's end; `count` is how many it must hold.
pub fn unpack(bytes: &[u8], count: i32) -> Result<Vec<Stored<'_>>, String> {
    match bytes {
        [format, BYTE_ORDER, ..] if FORMATS_READ.contains(format) => {}
        [format, _, ..] if FORMATS_READ.contains(format) => return Err("written by a server of the other byte order".into()),
        _ => return Err("not a batch of row events".into()),
    }
    let deltas = bytes[0] >= 2;
    let mut at = 2;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = bytes.get(*at..at.checked_add(n).ok_or("too long")?).ok_or_else(|| format!("cut short at byte {at}"))?;
        *at += n;
        Ok(s)
    };
    let u32_at = |at: &mut usize| -> Result<u32, String> { Ok(u32::from_le_bytes(take(at, 4)?.try_into().map_err(|_| "cut short")?)) };
    let mut out = Vec::new();
    while at < bytes.len() {
        let op = Op::from_letter(take(&mut at, 1)?[0] as char).ok_or("an unknown operation")?;
        let relid = u32_at(&mut at)?;
        let image = |at: &mut usize| -> Result<Option<(&[u8], bool)>, String> {
            match u32_at(at)? {
                NO_IMAGE => Ok(None),
                n if deltas && n & DELTA != 0 => take(at, (n & !DELTA) as usize).map(|d| Some((d, true))),
                n => take(at, n as usize).map(|i| Some((i, false))),
            }
        };
        let old = image(&mut at)?.map(|(i, _)| i);
        let new = match image(&mut at)? {
            None => None,
            Some((i, false)) => Some(Cow::Borrowed(i)),
            Some((d, true)) => Some(Cow::Owned(apply_delta(old.ok_or("a delta with no before-image")?, d)?)),
        };
        out.push(Stored { op, relid, old, new });
    }
    if out.len() != count.max(0) as usize {
        return Err(format!("{} events where {count} were recorded", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    #[test]
    fn events_pack_into_batches_and_read_back() {
        let mut b = Batcher::default();
        b.push(1, Op::Insert, 7, None, Some(b"new"));
        b.push(2, Op::Update, 8, Some(b"a"), Some(b""));
        b.push(3, Op::Delete, 7, Some(&[9; 10]), None);
        eq_one_batch(&b, 3);
        let got = unpack(&b.batches[0].bytes, 3).unwrap();
        assert_eq!(
            got,
            vec![
                Stored { op: Op::Insert, relid: 7, old: None, new: Some(Cow::Borrowed(b"new")) },
                Stored { op: Op::Update, relid: 8, old: Some(b"a"), new: Some(Cow::Borrowed(b"")) },
                Stored { op: Op::Delete, relid: 7, old: Some(&[9; 10]), new: None },
            ]
        );
    }

    #[test]
    fn an_update_that_repeats_its_row_stores_the_difference() {
        let old: Vec<u8> = (0..120u8).collect();
        let mut new = old.clone();
        new[50..54].copy_from_slice(&[1, 2, 3, 4]);
        let mut b = Batcher::default();
        b.push(1, Op::Update, 8, Some(&old), Some(&new));
        eq_one_batch(&b, 1);
        assert!(b.batches[0].bytes.len() < 2 + 13 + old.len() + 20, "{} bytes", b.batches[0].bytes.len());
        let got = unpack(&b.batches[0].bytes, 1).unwrap();
        assert_eq!(got[0].old, Some(&old[..]));
        assert_eq!(got[0].new.as_deref(), Some(&new[..]));
        assert!(matches!(got[0].new, Some(Cow::Owned(_))), "rebuilt from the delta");
        // A delta's length word on an insert (no before-image) is damage.
        let mut bad = Batcher::default();
        bad.push(1, Op::Insert, 8, None, Some(&new));
        let mut bytes = bad.batches[0].bytes.clone();
        bytes[14] |= 0x80; // the after-image's length word: bytes 11 to 14, little-endian
        assert!(unpack(&bytes, 1).unwrap_err().contains("no before-image"));
    }

    #[test]
    fn format_one_batches_are_read_and_have_no_deltas() {
        // Written before deltas: the same layout, format byte 1, a length word's high bit never set.
        let mut b = Batcher::default();
        b.push(1, Op::Update, 8, Some(b"old image"), Some(b"new image"));
        let mut bytes = b.batches[0].bytes.clone();
        bytes[0] = 1;
        let got = unpack(&bytes, 1).unwrap();
        assert_eq!((got[0].old, got[0].new.as_deref()), (Some(&b"old image"[..]), Some(&b"new image"[..])));
        bytes[0] = 3;
        assert!(unpack(&bytes, 1).unwrap_err().contains("not a batch"));
    }

    fn eq_one_batch(b: &Batcher, count: i32) {
        assert_eq!(b.batches.len(), 1);
        assert_eq!((b.batches[0].first_seq, b.batches[0].count), (1, count));
    }

    #[test]
    fn a_batch_stays_under_its_size_and_a_large_event_is_alone() {
        let mut b = Batcher::default();
        let (image, other) = (vec![1u8; 500], vec![2u8; 500]);
        for seq in 1..=10 {
            b.push(seq, Op::Update, 1, Some(&image), Some(&other));
        }
        b.push(11, Op::Insert, 1, None, Some(&vec![2u8; 5000]));
        b.push(12, Op::Insert, 1, None, Some(b"x"));
        assert!(b.batches.iter().all(|x| x.bytes.len() <= BATCH_BYTES || x.count == 1), "under the size, or alone");
        assert_eq!(b.batches.iter().map(|x| x.count).sum::<i32>(), 12);
        // 1,013 bytes per event: one per batch under 1,800 bytes (a second would pass it).
        assert_eq!(b.batches.iter().map(|x| (x.first_seq, x.count)).take(2).collect::<Vec<_>>(), vec![(1, 1), (2, 1)]);
        assert_eq!(b.batches.last().unwrap().first_seq, 12, "after a large event, a new batch");
        for x in &b.batches {
            assert_eq!(unpack(&x.bytes, x.count).unwrap().len(), x.count as usize);
        }
    }

    #[test]
    fn cutting_forgets_the_last_events_and_sealed_batches_are_taken() {
        let image = vec![7u8; 700];
        let mut b = Batcher::default();
        let shape = |b: &Batcher| b.batches.iter().map(|x| (x.first_seq, x.count)).collect::<Vec<_>>();
        let empty = b.position();
        let mut at = Vec::new();
        for seq in 1..=5 {
            at.push(b.position());
            b.push(seq, Op::Insert, 1, None, Some(&image));
        }
        assert_eq!(shape(&b), vec![(1, 2), (3, 2), (5, 1)]);
        let whole = b.batches[1].bytes.clone();
        b.cut(at[4]); // before the fifth event: its batch goes
        assert_eq!(shape(&b), vec![(1, 2), (3, 2)]);
        assert_eq!(b.batches[1].bytes, whole);
        b.cut(at[3]); // before the fourth: cut out of its batch
        assert_eq!(shape(&b), vec![(1, 2), (3, 1)]);
        assert_eq!(unpack(&b.batches[1].bytes, 1).unwrap()[0].new.as_deref(), Some(&image[..]));
        b.push(4, Op::Delete, 2, Some(b"x"), None);
        assert_eq!(shape(&b), vec![(1, 2), (3, 2)], "appends after a cut as before");
        b.push(5, Op::Insert, 1, None, Some(&image));
        b.push(6, Op::Insert, 1, None, Some(&image));
        assert_eq!(shape(&b), vec![(1, 2), (3, 3), (6, 1)]);
        let sealed = b.take_sealed();
        assert_eq!((sealed.len(), sealed[0].first_seq, shape(&b)), (1, 3, vec![(1, 2), (6, 1)]), "the first and the last stay");
        assert!(b.take_sealed().is_empty(), "nothing sealed but the first");
        b.push(7, Op::Insert, 1, None, Some(&image));
        assert_eq!(shape(&b), vec![(1, 2), (6, 2)], "positions go on after the ones taken");
        b.shift(10);
        assert_eq!(shape(&b), vec![(11, 2), (16, 2)]);
        b.cut(at[1]); // inside the first batch, which taking keeps
        assert_eq!(shape(&b), vec![(11, 1)]);
        b.cut(empty);
        assert!(b.batches.is_empty() && b.take_sealed().is_empty());
    }

    #[test]
    fn a_gap_in_positions_starts_a_batch() {
        let mut b = Batcher::default();
        b.push(1, Op::Insert, 1, None, Some(b"a"));
        b.push(5, Op::Insert, 1, None, Some(b"b"));
        assert_eq!(b.batches.iter().map(|x| (x.first_seq, x.count)).collect::<Vec<_>>(), vec![(1, 1), (5, 1)]);
    }

    #[test]
    fn malformed_batches_are_errors() {
        let mut b = Batcher::default();
        b.push(1, Op::Update, 3, Some(b"old"), Some(b"new"));
        let good = b.batches[0].bytes.clone();
        assert!(unpack(&good, 1).is_ok());
        assert!(unpack(&good, 2).unwrap_err().contains("1 events where 2"), "a count that does not match");
        assert!(unpack(&good[..good.len() - 1], 1).is_err(), "cut short");
        assert!(unpack(&[], 0).is_err(), "no header");
        let mut other_order = good.clone();
        other_order[1] = if BYTE_ORDER == b'l' { b'b' } else { b'l' };
        assert!(unpack(&other_order, 1).unwrap_err().contains("byte order"));
        let mut bad_op = good.clone();
        bad_op[2] = b'X';
        assert!(unpack(&bad_op, 1).is_err(), "unknown operation");
        let mut huge = good.clone();
        huge[7..11].copy_from_slice(&(1_000_000u32).to_le_bytes());
        assert!(unpack(&huge, 1).is_err(), "a length past the end");
    }
}
