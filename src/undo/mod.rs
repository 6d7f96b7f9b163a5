//! Undo: every write a guarded session makes is recorded as one *change* per statement, with the
//! row images that let `interdict.revert(id)` restore it exactly (see `revert.rs`).
//!
//! Capture mechanism, chosen by measurement (benches/RESULTS.md, "undo capture"): a recorded table
//! carries one `AFTER INSERT OR UPDATE OR DELETE … FOR EACH ROW WHEN (interdict.capturing())`
//! trigger. Postgres evaluates an AFTER trigger's WHEN when it would queue the event
//! (trigger.c `AfterTriggerSaveEvent`), so in a session that is not guarded each row costs one call
//! of a function that reads a flag, and nothing is queued; pgbench's default script in mode `off`
//! on recorded tables measured within noise of unrecorded ones. The alternatives cost everyone:
//! transition tables (`REFERENCING OLD/NEW TABLE`) copy every row of every session into a
//! tuplestore, and a scan for rows the transaction's command touched reads whole tables. Triggers
//! also see what the executor alone would miss: foreign-key cascades, trigger-made writes, partition
//! routing, `COPY FROM`, and the final after-image (generated columns included).
//!
//! In a guarded session the trigger takes each row's image (its bytes as a composite datum, see
//! `image.rs`) and packs it into batches in this backend's memory, marking where each
//! subtransaction level began; an aborted (sub)transaction drops its rows. When the top-level
//! statement ends, the rows are written to the change's row in `interdict.changes` (its first
//! batch) and `interdict.change_rows` (the rest) in the same transaction: if the write commits, its
//! change commits; if it aborts, neither exists. A large statement writes its full batches to
//! `change_rows` as it goes, so that its memory stays bounded ([`WRITE_AHEAD_BATCHES`]). Rows that
//! deferred triggers write at commit are written by the pre-commit callback, which then writes the
//! transaction's audit line (`audit::changes`).

mod image;
mod revert;
mod store;

pub use image::revert_image;
pub use revert::revert;
use store::{write_change, ChangeRows, Counts, Target};

use crate::cell::BackendCell;
use crate::guard_sql::as_guard;
use crate::nodes::{cstr, list_ints, DbText};
use interdict_core::undo::{Batcher, Op, Position};
use interdict_core::{Mode, ReasonCode, Refusal};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::Spi;

#[derive(Default)]
struct Buffer {
    /// The statement's row events not yet written, numbered from 1 (their change's positions are
    /// known when they are written), packed as the trigger takes them: no allocation per row, an
    /// update's after-image kept as its difference from the before-image.
    events: Batcher,
    /// How many were captured (written ahead included), and rows per table.
    captured: i64,
    tables: Vec<(pg_sys::Oid, Counts)>,
    /// Where each subtransaction level that captured rows began, lowest level first.
    marks: Vec<Mark>,
    /// The statement's batches already written (a large statement's: [`WRITE_AHEAD_BATCHES`]).
    ahead: Option<store::Ahead>,
    /// The change the statement running now has written (a rule's later plans add to it), with
    /// the subtransaction level that wrote it and the next row number.
    change: Option<(i64, i32, i64)>,
    last_change: Option<i64>,
    /// The transaction's changes for its audit line, with the subtransaction level that recorded each.
    audit: Vec<(i32, crate::audit::ChangeEntry)>,
}

/// The state of the capture when a subtransaction level first captured a row: an abort of that
/// level goes back to it.
struct Mark {
    level: i32,
    at: Position,
    captured: i64,
    tables: Vec<(pg_sys::Oid, Counts)>,
}

impl Buffer {
    fn forget_rows(&mut self) {
        self.events = Batcher::default();
        self.captured = 0;
        self.tables.clear();
        self.marks.clear();
        self.ahead = None;
    }
}

/// Full batches a statement's capture holds before writing them (about 115 kB of images): a large
/// statement's memory stays bounded. They are written only while every row it captured belongs to
/// the subtransaction level running (an abort of that level takes them back with everything else)
/// and for a new change (a rule's later plans, adding rows to one, keep theirs until they end).
const WRITE_AHEAD_BATCHES: usize = 64;

/// Changes one audit line carries at most: a transaction that records more writes a line every
/// this many, before it commits (their memory is bounded; a later rollback does not take those
/// lines back).
const CHANGES_PER_LINE: usize = 1000;

/// A change the running transaction recorded (or added rows to), for its audit line.
pub(crate) fn note_change(entry: crate::audit::ChangeEntry) {
    // SAFETY: a plain read of transaction state.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    let full = with(|b| {
        b.audit.push((level, entry));
        (b.audit.len() >= CHANGES_PER_LINE).then(|| std::mem::take(&mut b.audit))
    });
    if let Some(entries) = full {
        write_audit(entries);
    }
}

/// One line for `entries`, a change's entries (rows a later plan added) merged into its first.
fn write_audit(entries: Vec<(i32, crate::audit::ChangeEntry)>) {
    let mut merged: Vec<crate::audit::ChangeEntry> = Vec::with_capacity(entries.len());
    for (_, entry) in entries {
        match merged.iter_mut().find(|e| e.id == entry.id) {
            Some(first) => first.add(entry),
            None => merged.push(entry),
        }
    }
    crate::audit::changes(&merged);
}

static BUFFER: BackendCell<Option<Buffer>> = BackendCell::new(None);

fn with<R>(f: impl FnOnce(&mut Buffer) -> R) -> R {
    BUFFER.with(|b| f(b.get_or_insert_with(Buffer::default)))
}

/// Whether rows are recorded now: the WHEN clause of every recording trigger.
pub fn capturing() -> bool {
    !crate::guard_sql::is_internal() && crate::settings::mode() == Mode::Guarded && !crate::statement::simulating()
}

/// A new top-level statement: it gets its own change. (Not a simulated one: `simulate()` called
/// inside a statement leaves that statement's change alone.)
pub fn statement_begins() {
    if !crate::statement::simulating() {
        with(|b| b.change = None);
    }
}

/// This session's most recent change.
pub fn last_change() -> Option<i64> {
    with(|b| b.last_change)
}

/// The recording trigger's body: keeps one row event.
///
/// # Safety
/// `data` is the TriggerData of a row-level AFTER trigger call.
pub unsafe fn capture(data: &pg_sys::TriggerData) {
    // The trigger's WHEN says the same; a recording trigger made without it must not record the rows
    // of other sessions or of the guard's own statements.
    let row_after = data.tg_event & pg_sys::TRIGGER_EVENT_ROW != 0 && data.tg_event & pg_sys::TRIGGER_EVENT_TIMINGMASK == pg_sys::TRIGGER_EVENT_AFTER;
    let the_trigger = !data.tg_trigger.is_null() && !(*data.tg_trigger).tgname.is_null() && std::ffi::CStr::from_ptr((*data.tg_trigger).tgname) == CAPTURE_TRIGGER;
    if !row_after || !the_trigger || !capturing() {
        return;
    }
    let event = data.tg_event & pg_sys::TRIGGER_EVENT_OPMASK;
    let op = match event {
        pg_sys::TRIGGER_EVENT_INSERT => Op::Insert,
        pg_sys::TRIGGER_EVENT_UPDATE => Op::Update,
        pg_sys::TRIGGER_EVENT_DELETE => Op::Delete,
        _ => return,
    };
    let desc = (*data.tg_relation).rd_att;
    let (old, new) = match op {
        Op::Insert => (None, image::take(data.tg_trigtuple, desc)),
        Op::Update => (image::take(data.tg_trigtuple, desc), image::take(data.tg_newtuple, desc)),
        Op::Delete => (image::take(data.tg_trigtuple, desc), None),
    };
    let level = pg_sys::GetCurrentTransactionNestLevel();
    let relid = (*data.tg_relation).rd_id;
    let sealed = with(|b| {
        if b.marks.last().is_none_or(|m| m.level < level) {
            b.marks.push(Mark { level, at: b.events.position(), captured: b.captured, tables: b.tables.clone() });
        }
        b.captured += 1;
        match b.tables.iter_mut().find(|(r, _)| *r == relid) {
            Some((_, counts)) => counts.add(op),
            None => b.tables.push((relid, Counts::default().with(op))),
        }
        b.events.push(b.captured, op, u32::from(relid), old.as_ref().map(image::Taken::bytes), new.as_ref().map(image::Taken::bytes));
        let one_level = matches!(&b.marks[..], [m] if m.level == level);
        (b.events.batches.len() >= WRITE_AHEAD_BATCHES && one_level && b.change.is_none()).then(|| (b.events.take_sealed(), b.ahead.take()))
    });
    if let Some((batches, mut ahead)) = sealed {
        store::write_ahead(&mut ahead, &batches);
        with(|b| b.ahead = ahead);
    }
}

/// A table's shape: its columns' names, positions and types, in order. A change is revertible only
/// onto the shape it was recorded from (the positions keep an image's bytes meaning the same columns:
/// a column dropped and added again under its name has a new one).
///
/// # Safety
/// `desc` is a valid tuple descriptor.
pub unsafe fn shape(desc: pg_sys::TupleDesc) -> String {
    let columns: Vec<interdict_core::image::ShapeColumn> = crate::nodes::tuple_desc_attrs(desc)
        .iter()
        .filter(|a| !a.attisdropped)
        .map(|a| interdict_core::image::ShapeColumn {
            name: pg_sys::name_data_to_str(&a.attname).to_string(),
            attnum: a.attnum,
            typid: u32::from(a.atttypid),
            typmod: a.atttypmod,
        })
        .collect();
    interdict_core::image::write_shape(&columns)
}

/// The shape of a relation now, or `None` if it no longer exists.
pub fn relation_shape(relid: pg_sys::Oid) -> Option<String> {
    name_and_shape(relid).map(|(_, shape)| shape)
}

/// Relations' names and shapes as last read (every recorded statement needs its tables'), until a
/// relcache invalidation names the relation, or any schema changes (renaming a schema renames its
/// tables without one). At most [`NAMES_KEPT`], the oldest forgotten first.
static NAMES: BackendCell<Vec<(pg_sys::Oid, String, String)>> = BackendCell::new(Vec::new());
const NAMES_KEPT: usize = 64;

/// A relation's `schema.name` and shape now, or `None` if it no longer exists.
fn name_and_shape(relid: pg_sys::Oid) -> Option<(String, String)> {
    if let Some(found) = NAMES.with(|n| n.iter().find(|(r, _, _)| *r == relid).map(|(_, name, shape)| (name.clone(), shape.clone()))) {
        return Some(found);
    }
    watch_relcache();
    let found = read_name_and_shape(relid)?;
    NAMES.with(|n| {
        if n.len() == NAMES_KEPT {
            n.remove(0);
        }
        n.push((relid, found.0.clone(), found.1.clone()));
    });
    Some(found)
}

static WATCHING: BackendCell<bool> = BackendCell::new(false);

/// Registers, once per backend, the callbacks that keep what undo caches about relations true:
/// relcache invalidations (the record tables' OIDs and columns, names and shapes) and schema
/// changes (names).
fn watch_relcache() {
    if WATCHING.get() {
        return;
    }
    WATCHING.set(true);
    // SAFETY: registering invalidation callbacks, on the backend's only thread.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(relcache_changed), pg_sys::Datum::from(0usize));
        pg_sys::CacheRegisterSyscacheCallback(pg_sys::SysCacheIdentifier::NAMESPACEOID as i32, Some(schema_changed), pg_sys::Datum::from(0usize));
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    store::forget_relids(relid);
    NAMES.with(|n| n.retain(|(r, _, _)| relid != pg_sys::InvalidOid && *r != relid));
    RECORDED.with(|r| r.retain(|(id, _)| relid != pg_sys::InvalidOid && *id != relid));
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn schema_changed(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    NAMES.with(Vec::clear);
}

/// [`name_and_shape`] read from the relcache and catalog.
fn read_name_and_shape(relid: pg_sys::Oid) -> Option<(String, String)> {
    // SAFETY: relcache and syscache access inside a transaction; the relation is closed before returning.
    unsafe {
        let rel = pg_sys::RelationIdGetRelation(relid);
        if rel.is_null() {
            return None;
        }
        let form = &*(*rel).rd_rel;
        let schema = cstr(pg_sys::get_namespace_name(form.relnamespace)).unwrap_or_default();
        let name = format!("{schema}.{}", pg_sys::name_data_to_str(&form.relname));
        let s = shape((*rel).rd_att);
        pg_sys::RelationClose(rel);
        Some((name, s))
    }
}

/// The oids of the recording trigger function and of its WHEN clause's function, looked up once per
/// backend (and again after `pg_proc` changes: see [`forget_capture_function`]).
static CAPTURE_FUNCTIONS: BackendCell<Option<(pg_sys::Oid, pg_sys::Oid)>> = BackendCell::new(None);

/// `pg_proc` changed (the extension may have been dropped or created): look the oids up again, and
/// judge every table's triggers again.
pub fn forget_capture_function() {
    CAPTURE_FUNCTIONS.set(None);
    RECORDED.with(Vec::clear);
}

/// Whether `funcid` is `interdict.capture()` or `interdict.capturing()`: what `interdict.record()`
/// puts on every recorded table (the agent's own included).
pub fn is_capture_function(funcid: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups inside a transaction (the caller reads the catalog too).
    let (capture, capturing) = unsafe { capture_functions() };
    funcid != pg_sys::InvalidOid && (funcid == capture || funcid == capturing)
}

/// `interdict.capture()` and `interdict.capturing()` (`InvalidOid` if the extension is not created here).
unsafe fn capture_functions() -> (pg_sys::Oid, pg_sys::Oid) {
    if let Some(oids) = CAPTURE_FUNCTIONS.get() {
        return oids;
    }
    let oids = (lookup_function(c"capture"), lookup_function(c"capturing"));
    CAPTURE_FUNCTIONS.set(Some(oids));
    oids
}

/// Whether a table records every row written, by table, until a relcache invalidation names it.
static RECORDED: BackendCell<Vec<(pg_sys::Oid, bool)>> = BackendCell::new(Vec::new());
const RECORDED_KEPT: usize = 64;

/// The one trigger that records a table's rows (a table has at most one trigger of a name, and a
/// partition's clone keeps it): other triggers of `interdict.capture()` record nothing, so that no
/// row is recorded twice.
pub const CAPTURE_TRIGGER: &std::ffi::CStr = c"interdict_capture";

/// Whether `rel`'s recording trigger records every row written to it: [`CAPTURE_TRIGGER`], of
/// `interdict.capture()`, `AFTER INSERT OR UPDATE OR DELETE … FOR EACH ROW`, enabled for ordinary
/// sessions only (`ENABLE ALWAYS` would fire inside a revert's own statements too), on every
/// column, not a (deferrable) constraint trigger, with no WHEN or exactly
/// `WHEN (interdict.capturing())` (what `interdict.record()` creates). Defined any other way — a
/// WHEN that is never true, a column list, some operations only, `ENABLE REPLICA` — the table is not
/// recorded: its writes are refused rather than let through unrecorded.
unsafe fn records_every_row(rel: pg_sys::Relation) -> bool {
    let relid = (*rel).rd_id;
    if let Some(known) = RECORDED.with(|r| r.iter().find(|(id, _)| *id == relid).map(|(_, k)| *k)) {
        return known;
    }
    let (capture, capturing) = capture_functions();
    let trigdesc = (*rel).trigdesc;
    let triggers: &[pg_sys::Trigger] =
        if trigdesc.is_null() || (*trigdesc).numtriggers <= 0 { &[] } else { std::slice::from_raw_parts((*trigdesc).triggers, (*trigdesc).numtriggers as usize) };
    let events = pg_sys::TRIGGER_TYPE_INSERT | pg_sys::TRIGGER_TYPE_UPDATE | pg_sys::TRIGGER_TYPE_DELETE;
    let recorded = triggers.iter().any(|t| {
        let kind = t.tgtype as u32;
        capture != pg_sys::InvalidOid
            && !t.tgname.is_null()
            && std::ffi::CStr::from_ptr(t.tgname) == CAPTURE_TRIGGER
            && t.tgfoid == capture
            && kind & pg_sys::TRIGGER_TYPE_ROW != 0
            && kind & (pg_sys::TRIGGER_TYPE_BEFORE | pg_sys::TRIGGER_TYPE_INSTEAD) == 0
            && kind & events == events
            && t.tgenabled as u8 == pg_sys::TRIGGER_FIRES_ON_ORIGIN
            && t.tgnattr == 0
            && t.tgconstraint == pg_sys::InvalidOid
            && when_is_capturing(t.tgqual, capturing)
    });
    RECORDED.with(|r| {
        if r.len() == RECORDED_KEPT {
            r.remove(0);
        }
        r.push((relid, recorded));
    });
    recorded
}

/// `interdict.is_recorded(table)`: whether its writes are recorded (its recording trigger is as
/// `interdict.record()` makes it). False for a relation that does not exist.
pub fn is_recorded(relid: pg_sys::Oid) -> bool {
    // SAFETY: relcache access inside a transaction; the relation is closed before returning.
    unsafe {
        let rel = pg_sys::RelationIdGetRelation(relid);
        if rel.is_null() {
            return false;
        }
        watch_relcache();
        let recorded = records_every_row(rel);
        pg_sys::RelationClose(rel);
        recorded
    }
}

/// A trigger's WHEN (`nodeToString` form): none, or exactly a call of `interdict.capturing()`.
unsafe fn when_is_capturing(qual: *mut std::ffi::c_char, capturing: pg_sys::Oid) -> bool {
    if qual.is_null() {
        return true;
    }
    let node = pg_sys::stringToNode(qual) as *mut pg_sys::Node;
    crate::nodes::is_a(node, pg_sys::NodeTag::T_FuncExpr)
        && (*(node as *mut pg_sys::FuncExpr)).funcid == capturing
        && (*(node as *mut pg_sys::FuncExpr)).args.is_null()
}

unsafe fn lookup_function(function: &std::ffi::CStr) -> pg_sys::Oid {
    let mut name = std::ptr::null_mut::<pg_sys::List>();
    for part in [c"interdict", function] {
        name = pg_sys::lappend(name, pg_sys::makeString(pg_sys::pstrdup(part.as_ptr())) as *mut _);
    }
    pg_sys::LookupFuncName(name, 0, std::ptr::null(), true)
}

/// Why writes to a relation cannot be recorded, if they cannot (`interdict_core::undo::not_recordable`).
pub fn not_recordable(relid: pg_sys::Oid) -> Option<&'static str> {
    use interdict_core::undo::{RelationFacts, RelationKind};
    // SAFETY: catalog and relcache lookups inside a transaction; the relation is closed before returning.
    let facts = unsafe {
        let rel = pg_sys::RelationIdGetRelation(relid);
        if rel.is_null() {
            return None;
        }
        watch_relcache();
        let form = &*(*rel).rd_rel;
        let recorded = records_every_row(rel);
        let kind = match form.relkind as u8 {
            pg_sys::RELKIND_RELATION => RelationKind::Table,
            pg_sys::RELKIND_PARTITIONED_TABLE => RelationKind::PartitionedTable,
            pg_sys::RELKIND_FOREIGN_TABLE => RelationKind::Foreign,
            _ => RelationKind::Other,
        };
        let facts = RelationFacts {
            kind,
            session_temp: form.relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP,
            recorded,
            has_key: matches!(kind, RelationKind::Table | RelationKind::PartitionedTable) && is_btree(pg_sys::RelationGetReplicaIndex(rel)),
        };
        pg_sys::RelationClose(rel);
        facts
    };
    interdict_core::undo::not_recordable(&facts)
}

/// Whether an index is a btree (undo finds rows by its columns' equality; a temporal key,
/// `WITHOUT OVERLAPS`, is a GiST index whose period column compares by overlap).
///
/// # Safety
/// A syscache lookup inside a transaction.
pub unsafe fn is_btree(index: pg_sys::Oid) -> bool {
    index != pg_sys::InvalidOid && crate::nodes::pg_class(index, |c| c.relam == pg_sys::Oid::from(pg_sys::BTREE_AM_OID)).unwrap_or(false)
}

/// The relations a planned statement writes.
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn plan_writes(pstmt: *mut pg_sys::PlannedStmt) -> impl Iterator<Item = pg_sys::Oid> {
    list_ints((*pstmt).resultRelations).filter_map(move |rti| crate::facts::plan::rti_relid(pstmt, rti))
}

/// A transaction event (from `hooks/xact.rs`): rows deferred
/// triggers wrote at commit are stored before it commits; an ended transaction's rows are forgotten.
pub fn xact_event(event: pg_sys::XactEvent::Type) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PRE_PREPARE => {
            flush(true);
            store::close_tables();
            write_audit(with(|b| std::mem::take(&mut b.audit)));
        }
        XACT_EVENT_COMMIT | XACT_EVENT_PREPARE | XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            store::forget_tables();
            with(|b| {
                b.forget_rows();
                b.change = None;
                b.audit.clear();
            })
        }
        _ => {}
    }
}

/// A subtransaction at `level` ended: an abort forgets its rows (and the change it stored); a
/// commit hands them to its parent.
pub fn subxact_event(event: pg_sys::SubXactEvent::Type, level: i32) {
    with(|b| match event {
        pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
            // Back to where the level began capturing: what it captured is the end of the buffer
            // (a committed inner level's rows were handed to it).
            if let Some(first) = b.marks.iter().position(|m| m.level >= level) {
                let Some(mark) = b.marks.drain(first..).next() else { return };
                b.events.cut(mark.at);
                (b.captured, b.tables) = (mark.captured, mark.tables);
                if first == 0 {
                    b.ahead = None; // written at this level: rolled back with it
                }
            }
            b.audit.retain(|(l, _)| *l < level);
            if b.change.is_some_and(|(_, l, _)| l >= level) {
                b.change = None;
            }
        }
        pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => {
            if let Some(mark) = b.marks.last_mut().filter(|m| m.level >= level) {
                mark.level = level - 1;
            }
            if let [.., below, top] = &b.marks[..] {
                if below.level == top.level {
                    b.marks.pop(); // the parent had captured before: its mark covers these rows too
                }
            }
            b.audit.iter_mut().filter(|(l, _)| *l >= level).for_each(|(l, _)| *l = level - 1);
            if let Some((_, l, _)) = b.change.as_mut().filter(|(_, l, _)| *l >= level) {
                *l = level - 1;
            }
        }
        _ => {}
    });
}

/// Writes the rows captured so far to the statement's change (created on first use) and tells the
/// session. `at_commit`: rows deferred triggers wrote while the transaction commits.
pub fn flush(at_commit: bool) {
    if crate::statement::simulating() {
        // A simulated statement captures nothing; the rows held now are the statement's that
        // called simulate(), written when it ends (not in the simulation's subtransaction, which
        // is always rolled back).
        return;
    }
    let (mut events, captured, mut tables, ahead) = with(|b| {
        let taken = (std::mem::take(&mut b.events), b.captured, std::mem::take(&mut b.tables), b.ahead.take());
        b.forget_rows();
        taken
    });
    if captured == 0 {
        return;
    }
    // SAFETY: a plain read of transaction state.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    // Rows written ahead belong to a new change (never written ahead while adding to one).
    let existing = if at_commit || ahead.is_some() { None } else { with(|b| b.change) };
    let first_seq = existing.map_or(1, |(_, _, seq)| seq);
    let next_seq = first_seq + captured;
    events.shift(first_seq - 1);
    let mut change = ChangeRows::with_events(events, ahead);
    tables.sort_by_key(|(relid, _)| u32::from(*relid));
    let mut summary = Vec::new();
    for (relid, counts) in tables {
        let (name, shape) = name_and_shape(relid).unwrap_or_default();
        change.table(relid, &name, &shape, counts);
        summary.push((name, counts.total()));
    }
    let text = crate::statement::statement_bytes();
    let statement = if at_commit { [&b"(deferred triggers at commit) "[..], &text].concat() } else { text };
    let target = match existing {
        Some((id, _, _)) => Target::Existing(id),
        None => Target::New { statement: &statement, reverts: None },
    };
    // At the end of a SELECT (a writing function), the portal has popped its snapshot already.
    let _snapshot = ActiveSnapshot::ensure();
    expire_old_changes();
    let id = write_change(target, change);
    with(|b| {
        b.change = (!at_commit).then_some((id, level, next_seq));
        b.last_change = Some(id);
    });
    if existing.is_none() {
        crate::stats::bump(interdict_core::stats::Counter::ChangesRecorded, 1);
    }
    crate::messages::notice(&format!("interdict: change {id} recorded ({}); undo with SELECT interdict.revert({id})", describe_rows(&summary)));
    note_change(crate::audit::ChangeEntry::new(id, summary, None));
}

/// An active snapshot for the guard's SQL, pushed only if none is set, popped on the way out.
struct ActiveSnapshot(bool);

impl ActiveSnapshot {
    fn ensure() -> ActiveSnapshot {
        // SAFETY: snapshot calls inside a transaction, on the backend's thread.
        unsafe {
            let push = !pg_sys::ActiveSnapshotSet();
            if push {
                pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
            }
            ActiveSnapshot(push)
        }
    }
}

impl Drop for ActiveSnapshot {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: pops the snapshot `ensure` pushed.
            unsafe { pg_sys::PopActiveSnapshot() };
        }
    }
}

/// `1 row in public.accounts`, `3 rows: 1 in public.accounts, 2 in public.orders`.
pub fn describe_rows(tables: &[(String, i64)]) -> String {
    let total: i64 = tables.iter().map(|(_, n)| n).sum();
    let plural = |n: i64| if n == 1 { "row" } else { "rows" };
    match tables {
        [(name, n)] => format!("{n} {} in {name}", plural(*n)),
        _ => format!(
            "{total} {}: {}",
            plural(total),
            tables.iter().map(|(name, n)| format!("{n} in {name}")).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// One row of `interdict.history()`.
pub type ChangeRow = (i64, pgrx::datum::TimestampWithTimeZone, DbText, DbText, DbText, i64, Option<i64>, Option<i64>);

/// Changes newest first: one by id, or the caller's role's (every role's, for operators).
pub fn history(id: Option<i64>, limit: i32) -> Vec<ChangeRow> {
    // SAFETY: plain read of a backend global.
    let role = unsafe { pg_sys::GetSessionUserId() };
    let everyone = crate::facts::roles::is_operator();
    as_guard("reading the history of changes", || {
        Spi::connect_mut(|client| {
            let rows = client.update(
                // Text read as bytes in the database's encoding and handed back as they are (`DbText`).
                "SELECT c.id, c.made_at, pg_catalog.convert_to(c.role_name::text, pg_catalog.getdatabaseencoding()),
                        pg_catalog.convert_to(c.statement, pg_catalog.getdatabaseencoding()),
                        pg_catalog.convert_to(coalesce((SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', t.table_name,
                                    CASE WHEN t.inserted > 0 THEN '+' || t.inserted END,
                                    CASE WHEN t.updated > 0 THEN '~' || t.updated END,
                                    CASE WHEN t.deleted > 0 THEN '-' || t.deleted END), ', ' ORDER BY t.table_name)
                                    FROM interdict.change_tables t WHERE t.change_id = c.id), ''), pg_catalog.getdatabaseencoding()),
                        coalesce((SELECT sum(t.inserted + t.updated + t.deleted) FROM interdict.change_tables t WHERE t.change_id = c.id), 0)::bigint,
                        c.reverts, c.reverted_by
                   FROM interdict.changes c
                  WHERE ($1::bigint IS NULL OR c.id = $1) AND ($3 OR c.role_id = $2)
                  ORDER BY c.id DESC LIMIT $4",
                None,
                &[DatumWithOid::from(id), DatumWithOid::from(role), DatumWithOid::from(everyone), DatumWithOid::from(limit.max(0) as i64)],
            )?;
            Ok::<_, pgrx::spi::Error>(
                rows.filter_map(|r| {
                    Some((
                        r.get::<i64>(1).ok()??,
                        r.get::<pgrx::datum::TimestampWithTimeZone>(2).ok()??,
                        DbText(r.get::<Vec<u8>>(3).ok()??),
                        DbText(r.get::<Vec<u8>>(4).ok()??),
                        DbText(r.get::<Vec<u8>>(5).ok()??),
                        r.get::<i64>(6).ok()??,
                        r.get::<i64>(7).ok().flatten(),
                        r.get::<i64>(8).ok().flatten(),
                    ))
                })
                .collect(),
            )
        })
    })
    .unwrap_or_else(|e| crate::reasons::internal_failure("reading the history of changes", &e.to_string()))
}

/// One row of `interdict.change_images()`.
pub type ImageRow = (i64, String, String, Option<String>, Option<String>);

/// `interdict.change_images(id)`: the change's images as text, operators only.
pub fn change_images(id: i64) -> Vec<ImageRow> {
    if !crate::facts::roles::is_operator() {
        crate::reasons::raise(&Refusal::new(ReasonCode::UndoNotAllowed, crate::settings::mode(), "reading a change's row images, outside interdict_operator"));
    }
    let tables = as_guard("reading a change's tables", || {
        Spi::connect(|client| {
            client
                .select("SELECT relid, table_name, shape FROM interdict.change_tables WHERE change_id = $1", None, &[DatumWithOid::from(id)])?
                .map(|r| Ok((r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid), r.get::<String>(2)?.unwrap_or_default(), r.get::<String>(3)?.unwrap_or_default())))
                .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
    })
    .unwrap_or_else(|e| crate::reasons::internal_failure(&format!("reading change {id}"), &e.to_string()));
    if tables.is_empty() {
        // Every change writes at least one table: none is no such change (never made, or purged).
        let refusal = Refusal::new(ReasonCode::UndoNotFound, crate::settings::mode(), format!("reading change {id}'s row images")).fact("change_id", id.to_string());
        crate::reasons::raise(&refusal);
    }
    let rows = store::read_rows(id).unwrap_or_else(|e| crate::reasons::internal_failure(&format!("reading change {id}"), &e));
    // Each image read as its table was when the change was recorded (`image::text_as_recorded`).
    let text = |relid: pg_sys::Oid, bytes: Option<Vec<u8>>| -> Option<String> {
        let (_, _, shape) = tables.iter().find(|(r, _, _)| *r == relid)?;
        // SAFETY: inside a transaction.
        unsafe { image::text_as_recorded(&bytes?, relid, shape) }
    };
    rows.into_iter()
        .zip(1..)
        .map(|(r, seq)| {
            let name = tables.iter().find(|(t, _, _)| *t == r.relid).map(|(_, n, _)| n.clone()).unwrap_or_default();
            (seq, name, r.op.letter().to_string(), text(r.relid, r.old), text(r.relid, r.new))
        })
        .collect()
}

/// The record tables' statement trigger: only the guard's own SQL (and `pg_upgrade`) changes them.
/// `session_replication_role = replica` (which a restore uses) does not fire the trigger at all.
pub fn protect_records(table: String) {
    if crate::guard_sql::is_internal() {
        return;
    }
    crate::reasons::raise(&Refusal::new(ReasonCode::RecordsProtected, crate::settings::mode(), format!("changing interdict.{table}")).fact("relation", format!("interdict.{table}")));
}

/// `interdict.purge()`: operators only. `older_than` defaults to `interdict.undo_retention`.
pub fn purge(older_than_secs: Option<f64>) -> i64 {
    if !crate::facts::roles::is_operator() {
        crate::reasons::raise(&Refusal::new(ReasonCode::UndoNotAllowed, crate::settings::mode(), "purging recorded changes"));
    }
    let Some(secs) = older_than_secs.or_else(crate::settings::undo_retention_secs) else {
        crate::reasons::raise(
            &Refusal::new(ReasonCode::UndoNotAllowed, Mode::Off, "purging with no age")
                .fact("error", "interdict.undo_retention is 0: give purge() an age, e.g. interdict.purge('30 days')"),
        )
    };
    crate::guard_sql::writes_records(c"interdict.purge()");
    as_guard("purging recorded changes", || delete_older(secs, None))
}

/// Deletes changes older than `secs` (at most `limit` of them, from the `limit` oldest by id, which
/// is where expired ones are: no index on `made_at`; skipping any another session is deleting),
/// with their rows, found by their addresses (see store.rs); returns how many. Runs
/// inside `as_guard`.
fn delete_older(secs: f64, limit: Option<i64>) -> i64 {
    crate::guard_sql::prefer_addresses();
    let deleted = Spi::connect_mut(|client| {
        let row = client.update(
            "WITH d AS (DELETE FROM interdict.changes WHERE id IN (
                            SELECT id FROM interdict.changes WHERE made_at < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $1)
                               AND id <= (SELECT max(o.id) FROM (SELECT id FROM interdict.changes ORDER BY id LIMIT $2) o)
                             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                        RETURNING id, rows_at, pg_catalog.cardinality(rows_at) AS recorded,
                                  rows_file OPERATOR(pg_catalog.=) pg_catalog.pg_relation_filenode('interdict.change_rows'::pg_catalog.regclass) AS addressed),
                  r AS (DELETE FROM interdict.change_rows
                         WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.unnest(rows_at) FROM d WHERE addressed))
                           AND change_id IN (SELECT id FROM d WHERE addressed) RETURNING 1)
             SELECT (SELECT count(*) FROM d),
                    CASE WHEN (SELECT count(*) FROM r) = (SELECT coalesce(sum(recorded), 0) FROM d WHERE addressed)
                         THEN ARRAY(SELECT id FROM d WHERE NOT addressed)
                         ELSE ARRAY(SELECT id FROM d) END",
            None,
            &[DatumWithOid::from(secs), DatumWithOid::from(limit)],
        )?;
        let (count, moved) = row.first().get_two::<i64, Vec<i64>>()?;
        // Rows whose addresses no longer hold (change_rows was rewritten, or restored into a file
        // of the same number: fewer rows found than recorded): found by scanning.
        let moved = moved.unwrap_or_default();
        if !moved.is_empty() {
            client.update("DELETE FROM interdict.change_rows WHERE change_id = ANY ($1)", None, &[DatumWithOid::from(moved)])?;
        }
        Ok::<_, pgrx::spi::Error>(count.unwrap_or(0))
    });
    deleted.unwrap_or_else(|e| crate::reasons::internal_failure("purging recorded changes", &e.to_string()))
}

/// When this backend last deleted expired changes (Postgres timestamp).
static LAST_EXPIRY: BackendCell<i64> = BackendCell::new(0);
/// How often a guarded backend deletes expired changes, and how many at most each time: the
/// retention holds without a scheduler, at a bounded cost to the writes that carry it.
const EXPIRY_EVERY_USECS: i64 = 10 * 60 * 1_000_000;
const EXPIRY_BATCH: i64 = 100;

/// With `interdict.undo_retention` set: deletes a few expired changes, at most every ten minutes.
/// Runs in the agent's transaction (as the guard); if that aborts, a later write tries again.
fn expire_old_changes() {
    let Some(secs) = crate::settings::undo_retention_secs() else { return };
    // SAFETY: a plain call.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    if now - LAST_EXPIRY.get() < EXPIRY_EVERY_USECS {
        return;
    }
    LAST_EXPIRY.set(now);
    as_guard("deleting expired changes", || delete_older(secs, Some(EXPIRY_BATCH)));
}
