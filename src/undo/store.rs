//! Writing a change. A new change (every statement's, and every revert's) is inserted the way
//! Postgres inserts catalog rows (`catalog/indexing.c`): heap tuples formed here, stored with
//! `simple_heap_insert`, and an entry made in each index with `index_insert` — no SQL, executor,
//! trigger or tuple slot in between. Measured by `benches/profile.sh` (benches/RESULTS.md): the
//! prepared statement this replaces (unnesting arrays into the record tables) cost about 300,000
//! instructions for a one-row change and 21,000 per row. The rare addition to a change a statement
//! made already (a rule's later plans) keeps one prepared statement, for its merge of the
//! per-table counts into the change's row, run [`crate::guard_sql::as_guard`] (as the extension's owner, search path
//! pinned, our hooks standing aside). The direct inserts need neither: no SQL, name resolution or
//! permission check is involved ([`crate::guard_sql::direct`]); the record tables' OIDs are kept
//! until a relcache invalidation names one of them.

use crate::cell::BackendCell;
use crate::guard_sql::{as_guard, direct};
use interdict_core::undo::{unpack, Batch, Batcher, Op};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{OwnedPreparedStatement, Spi};

/// Rows one change wrote in one table, per operation.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
}

impl Counts {
    pub fn add(&mut self, op: Op) {
        match op {
            Op::Insert => self.inserted += 1,
            Op::Update => self.updated += 1,
            Op::Delete => self.deleted += 1,
        }
    }

    pub fn with(mut self, op: Op) -> Self {
        self.add(op);
        self
    }

    pub fn total(&self) -> i64 {
        self.inserted + self.updated + self.deleted
    }
}

/// What one write adds to a change: its row events (in order, packed into batches:
/// `interdict_core::undo::Batcher`) and rows per table.
#[derive(Default)]
pub struct ChangeRows {
    events: Batcher,
    table_relids: Vec<pg_sys::Oid>,
    table_names: Vec<String>,
    table_shapes: Vec<String>,
    inserted: Vec<i64>,
    updated: Vec<i64>,
    deleted: Vec<i64>,
    /// Batches written ahead while the statement ran ([`write_ahead`]): they come after the first
    /// batch of `events` and before the rest.
    ahead: Option<Ahead>,
}

/// A new change's batches written before its row: the id they were written under (taken from the
/// sequence on first use, the change's id), and their addresses in order.
pub struct Ahead {
    id: i64,
    addresses: Vec<pg_sys::ItemPointerData>,
}

impl ChangeRows {
    /// A write's row events, packed already, and those written ahead.
    pub fn with_events(events: Batcher, ahead: Option<Ahead>) -> Self {
        ChangeRows { events, ahead, ..Default::default() }
    }

    /// A row event with its images (`image.rs`).
    pub fn row(&mut self, seq: i64, relid: pg_sys::Oid, op: Op, old: Option<&[u8]>, new: Option<&[u8]>) {
        self.events.push(seq, op, u32::from(relid), old, new);
    }

    /// Once `WRITE_AHEAD_BATCHES` batches are held, writes the full ones after the first now, as a
    /// large statement's are ([`write_ahead`]): a revert's own change holds a bounded part of its
    /// images while it is built.
    pub fn write_ahead_when_full(&mut self) {
        if self.events.batches.len() >= super::WRITE_AHEAD_BATCHES {
            let sealed = self.events.take_sealed();
            write_ahead(&mut self.ahead, &sealed);
        }
    }

    pub fn table(&mut self, relid: pg_sys::Oid, name: &str, shape: &str, counts: Counts) {
        self.table_relids.push(relid);
        self.table_names.push(name.to_string());
        self.table_shapes.push(shape.to_string());
        self.inserted.push(counts.inserted);
        self.updated.push(counts.updated);
        self.deleted.push(counts.deleted);
    }
}

/// Where a write goes: a new change (for a statement, or the revert of `reverts`), or one the
/// running statement created already (a rule's later plans add to it).
pub enum Target<'a> {
    New { statement: &'a [u8], reverts: Option<i64> },
    Existing(i64),
}

const ADD_TO_CHANGE: &str = r#"
WITH r AS (
    INSERT INTO interdict.change_rows (change_id, seq, row_count, images)
    SELECT $1, u.s, u.c, u.b
      FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::integer[]), pg_catalog.unnest($4::bytea[])) AS u(s, c, b)
    RETURNING seq, ctid),
x AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($5::oid[]), pg_catalog.unnest($6::text[]), pg_catalog.unnest($7::text[]),
                               pg_catalog.unnest($8::bigint[]), pg_catalog.unnest($9::bigint[]), pg_catalog.unnest($10::bigint[])) AS x(r, n, h, i, u, d)),
o AS (SELECT t.* FROM interdict.changes c,
             ROWS FROM (pg_catalog.unnest(c.table_relids), pg_catalog.unnest(c.table_names), pg_catalog.unnest(c.table_shapes),
                        pg_catalog.unnest(c.inserted), pg_catalog.unnest(c.updated), pg_catalog.unnest(c.deleted)) WITH ORDINALITY AS t(r, n, h, i, u, d, k)
       WHERE c.id OPERATOR(pg_catalog.=) $1),
m AS (SELECT o.k, x.r AS new_r, coalesce(o.r, x.r) AS r, coalesce(o.n, x.n) AS n, coalesce(o.h, x.h) AS h,
             coalesce(o.i, 0) OPERATOR(pg_catalog.+) coalesce(x.i, 0) AS i, coalesce(o.u, 0) OPERATOR(pg_catalog.+) coalesce(x.u, 0) AS u,
             coalesce(o.d, 0) OPERATOR(pg_catalog.+) coalesce(x.d, 0) AS d
        FROM o FULL JOIN x ON o.r OPERATOR(pg_catalog.=) x.r)
UPDATE interdict.changes c
   SET table_relids = ARRAY(SELECT r FROM m ORDER BY k NULLS LAST, new_r), table_names = ARRAY(SELECT n FROM m ORDER BY k NULLS LAST, new_r),
       table_shapes = ARRAY(SELECT h FROM m ORDER BY k NULLS LAST, new_r), inserted = ARRAY(SELECT i FROM m ORDER BY k NULLS LAST, new_r),
       updated = ARRAY(SELECT u FROM m ORDER BY k NULLS LAST, new_r), deleted = ARRAY(SELECT d FROM m ORDER BY k NULLS LAST, new_r),
       rows_at = c.rows_at OPERATOR(pg_catalog.||) ARRAY(SELECT ctid FROM r ORDER BY seq)
 WHERE c.id OPERATOR(pg_catalog.=) $1"#;

/// The addition's plan, prepared on first use and kept for the backend's life.
static ADD_PLAN: BackendCell<Option<OwnedPreparedStatement>> = BackendCell::new(None);

/// Stores `rows` into `target`; returns the change's id. A new change is inserted directly
/// (`direct`); an addition runs its statement `as_guard`.
pub fn write_change(target: Target, rows: ChangeRows) -> i64 {
    match target {
        // SAFETY: inside a transaction; the tables are opened and closed here.
        Target::New { statement, reverts } => direct("recording the change", || unsafe { insert_change(statement, reverts, rows) })
            .unwrap_or_else(|e| crate::reasons::internal_failure("recording the change", &e)),
        Target::Existing(id) => as_guard("recording the change", || add_to_change(id, rows)),
    }
}

/// The columns each record table's rows are written in (statics: their addresses key the
/// positions [`RecordTable::columns`] keeps).
static CHANGES_COLUMNS: [&str; 19] = [
    "id", "role_id", "role_name", "application_name", "agent", "xid", "made_at", "statement", "reverts",
    "table_relids", "table_names", "table_shapes", "inserted", "updated", "deleted", "first_batch", "first_batch_rows", "rows_at",
    "rows_file",
];
static ROWS_COLUMNS: [&str; 4] = ["change_id", "seq", "row_count", "images"];

/// A new change: its batches of row events after the first as `change_rows` rows, then its
/// `changes` row, which lists its tables, holds its first batch and says where the others went.
///
/// `change_rows` has no index: a change's rows are found by their addresses (`rows_at`, with the
/// file they are addresses in, `rows_file`), which the change's row keeps. An index entry per row
/// cost about as much as the row's heap tuple (`benches/RESULTS.md`); a row address is six bytes in
/// an array. Addresses hold while `change_rows` keeps its file: heap rows that are never updated do
/// not move, and what moves them (`VACUUM FULL`, `CLUSTER`, a restore) writes a new file, which
/// `rows_file` tells apart (then rows are found by change id, scanning). The tables are arrays in
/// the change's row rather than rows of their own for the same reason, and its first batch too: a
/// change of up to a batch of rows (about 1,800 bytes of images) writes one heap tuple and one
/// index entry.
unsafe fn insert_change(statement: &[u8], reverts: Option<i64>, rows: ChangeRows) -> Result<i64, String> {
    let role = pg_sys::GetSessionUserId();
    let Some((first, later)) = rows.events.batches.split_first() else { return Err("a change with no rows".into()) };
    let mut written = rows.ahead;
    append_batches(&mut written, later)?;
    let Some(Ahead { id, mut addresses }) = written else { return Err("a change with no id".into()) };
    let open = open_tables(relids()?)?;
    let rows_file = (*(*open.rows.rel).rd_rel).relfilenode;
    let agent = crate::settings::agent();
    let texts = |v: &[String]| v.iter().map(|t| text_datum(t)).collect::<Vec<_>>();
    let by_value = |v: &[i64]| v.iter().map(|&n| pg_sys::Datum::from(n)).collect::<Vec<_>>();
    open.changes.insert(
        &CHANGES_COLUMNS,
        &[
            Some(pg_sys::Datum::from(id)),
            Some(pg_sys::Datum::from(role)),
            Some(name_datum(pg_sys::GetUserNameFromId(role, true))),
            Some(text_datum(&crate::nodes::cstr(pg_sys::application_name).unwrap_or_default())),
            (!agent.is_empty()).then(|| text_datum(&agent)),
            Some(pg_sys::Datum::from(pg_sys::GetTopFullTransactionId().value)),
            Some(pg_sys::Datum::from(pg_sys::GetCurrentTimestamp())),
            Some(varlena_datum(statement)),
            reverts.map(pg_sys::Datum::from),
            Some(array(rows.table_relids.iter().map(|&r| pg_sys::Datum::from(r)).collect(), OID_ELEMENT)),
            Some(array(texts(&rows.table_names), TEXT_ELEMENT)),
            Some(array(texts(&rows.table_shapes), TEXT_ELEMENT)),
            Some(array(by_value(&rows.inserted), INT8_ELEMENT)),
            Some(array(by_value(&rows.updated), INT8_ELEMENT)),
            Some(array(by_value(&rows.deleted), INT8_ELEMENT)),
            Some(varlena_datum(&first.bytes)),
            Some(pg_sys::Datum::from(first.count)),
            Some(array(addresses.iter_mut().map(|t| pg_sys::Datum::from(t as *mut pg_sys::ItemPointerData)).collect(), TID_ELEMENT)),
            Some(pg_sys::Datum::from(rows_file)),
        ],
    )?;
    // Later commands of this transaction (a revert, `history()`) see the change.
    pg_sys::CommandCounterIncrement();
    Ok(id)
}

/// Writes `batches` of a new change while its statement still runs (they follow its first batch,
/// which stays for the change's row), so that a large statement holds a bounded part of its images
/// in memory. They are written in the running (sub)transaction: whatever aborts it takes them back.
pub fn write_ahead(ahead: &mut Option<Ahead>, batches: &[Batch]) {
    // SAFETY: inside a transaction; the record tables stay open until it ends.
    direct("recording the change", || unsafe { append_batches(ahead, batches) })
        .unwrap_or_else(|e| crate::reasons::internal_failure("recording the change", &e))
}

/// `batches` as `change_rows` rows of a new change, their addresses added to `written`; the
/// change's id is taken from the sequence on first use.
unsafe fn append_batches(written: &mut Option<Ahead>, batches: &[Batch]) -> Result<(), String> {
    let relids = relids()?;
    let open = open_tables(relids)?;
    let columns = open.rows.columns(&ROWS_COLUMNS)?;
    let change = match written {
        Some(change) => change,
        None => written.insert(Ahead { id: nextval_internal(relids.sequence, false), addresses: Vec::new() }),
    };
    change.addresses.extend(insert_batches(&open.rows, &columns, change.id, batches)?);
    Ok(())
}

/// A change's batches after its first, one `change_rows` row each; their addresses, in order.
unsafe fn insert_batches(images: &RecordTable, columns: &[usize], id: i64, batches: &[Batch]) -> Result<Vec<pg_sys::ItemPointerData>, String> {
    let mut addresses = Vec::with_capacity(batches.len());
    if batches.is_empty() {
        return Ok(addresses);
    }
    // Each batch's datums are made in a memory context reset every few hundred batches: a large
    // change never holds a second copy of all its images in Postgres memory.
    let mut row_memory = pgrx::PgMemoryContexts::new("interdict change rows");
    for (i, batch) in batches.iter().enumerate() {
        let at = row_memory.switch_to(|_| {
            images.insert_at(
                columns,
                &[
                    Some(pg_sys::Datum::from(id)),
                    Some(pg_sys::Datum::from(batch.first_seq)),
                    Some(pg_sys::Datum::from(batch.count)),
                    Some(varlena_datum(&batch.bytes)),
                ],
            )
        })?;
        addresses.push(at);
        if i % 256 == 255 {
            row_memory.reset();
        }
    }
    Ok(addresses)
}

/// An array element type as `construct_array` takes it: type, length, by value, alignment.
type Element = (pg_sys::Oid, i32, bool, u8);
const OID_ELEMENT: Element = (pg_sys::OIDOID, 4, true, pg_sys::TYPALIGN_INT);
const TEXT_ELEMENT: Element = (pg_sys::TEXTOID, -1, false, pg_sys::TYPALIGN_INT);
const INT8_ELEMENT: Element = (pg_sys::INT8OID, 8, true, pg_sys::TYPALIGN_DOUBLE);
const TID_ELEMENT: Element = (pg_sys::TIDOID, std::mem::size_of::<pg_sys::ItemPointerData>() as i32, false, pg_sys::TYPALIGN_SHORT);

/// An array datum of `elems`, in the current memory context (the elements are copied into it).
unsafe fn array(mut elems: Vec<pg_sys::Datum>, (typ, len, by_value, align): Element) -> pg_sys::Datum {
    let array = pg_sys::construct_array(elems.as_mut_ptr(), elems.len() as i32, typ, len, by_value, align as std::ffi::c_char);
    pg_sys::Datum::from(array)
}

unsafe extern "C-unwind" {
    /// `nextval` without its permission check (`commands/sequence.h`; not in pgrx's bindings).
    #[link_name = "nextval_internal"]
    fn nextval_internal_raw(relid: pg_sys::Oid, check_permissions: bool) -> i64;
}

/// [`nextval_internal_raw`] behind pgrx's FFI guard (an error is caught and re-raised as pgrx's).
unsafe fn nextval_internal(relid: pg_sys::Oid, check_permissions: bool) -> i64 {
    pg_sys::ffi::pg_guard_ffi_boundary(|| nextval_internal_raw(relid, check_permissions))
}

/// The OIDs of the id sequence and the two record tables.
#[derive(Clone, Copy)]
struct Relids {
    sequence: pg_sys::Oid,
    changes: pg_sys::Oid,
    rows: pg_sys::Oid,
}

/// Kept across transactions (looking them up cost more than inserting a one-row change's rows);
/// forgotten when a relcache invalidation names one of them or every relation (a dropped or
/// re-created extension's tables are invalidated as they go).
static RELIDS: BackendCell<Option<Relids>> = BackendCell::new(None);
/// [`RecordTable::columns`]' findings, by (table, list of names); forgotten with the relids.
static COLUMNS: BackendCell<Vec<((pg_sys::Oid, usize), Vec<usize>)>> = BackendCell::new(Vec::new());

unsafe fn relids() -> Result<Relids, String> {
    if let Some(r) = RELIDS.get() {
        return Ok(r);
    }
    super::watch_relcache();
    let r = Relids {
        sequence: record_relid(c"changes_id_seq")?,
        changes: record_relid(c"changes")?,
        rows: record_relid(c"change_rows")?,
    };
    RELIDS.set(Some(r));
    Ok(r)
}

/// A relcache invalidation (from [`super::watch_relcache`]) named `relid` (`InvalidOid`: every relation).
pub(super) fn forget_relids(relid: pg_sys::Oid) {
    if let Some(r) = RELIDS.get() {
        if relid == pg_sys::InvalidOid || [r.sequence, r.changes, r.rows].contains(&relid) {
            RELIDS.set(None);
            COLUMNS.with(Vec::clear);
        }
    }
}

/// A relation of the guard's schema, by name.
unsafe fn record_relid(name: &std::ffi::CStr) -> Result<pg_sys::Oid, String> {
    let schema = crate::facts::guard_objects::guard_schema();
    let relid = schema.map_or(pg_sys::InvalidOid, |schema| pg_sys::get_relname_relid(name.as_ptr(), schema));
    if relid == pg_sys::InvalidOid {
        return Err(format!("interdict.{} does not exist", name.to_string_lossy()));
    }
    Ok(relid)
}

/// A `text` datum in the current memory context.
unsafe fn text_datum(s: &str) -> pg_sys::Datum {
    varlena_datum(s.as_bytes())
}

/// A `text` (bytes already in the database's encoding) or `bytea` datum, in the current memory context.
unsafe fn varlena_datum(s: &[u8]) -> pg_sys::Datum {
    pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(s.as_ptr() as *const std::ffi::c_char, s.len() as i32))
}

/// A `name` datum (truncated as Postgres truncates names) from a C string (empty if null).
unsafe fn name_datum(s: *const std::ffi::c_char) -> pg_sys::Datum {
    let name = pg_sys::palloc0(pg_sys::NAMEDATALEN as usize) as pg_sys::Name;
    pg_sys::namestrcpy(name, if s.is_null() { c"".as_ptr() } else { s });
    pg_sys::Datum::from(name)
}

/// The most columns a record table may have (`insert_at` forms rows in fixed arrays).
const MAX_COLUMNS: usize = 32;

/// The record tables, open for the rest of the transaction that first wrote a change: its later
/// changes (a transaction of several statements, a revert) open nothing (opening and closing
/// both with their index measured about 9,000 instructions per change). Opened under the
/// transaction's own resource owner and memory, so that the end of a portal or subtransaction does
/// not close them; closed before the transaction commits or prepares ([`close_tables`]); an abort
/// releases them with the transaction's other resources ([`forget_tables`]).
#[derive(Clone, Copy)]
struct OpenTables {
    changes: RecordTable,
    rows: RecordTable,
}

static OPEN: BackendCell<Option<OpenTables>> = BackendCell::new(None);

/// The transaction's record tables, opened on first use.
unsafe fn open_tables(relids: Relids) -> Result<OpenTables, String> {
    if let Some(open) = OPEN.get() {
        if (*open.changes.rel).rd_id == relids.changes && (*open.rows.rel).rd_id == relids.rows {
            return Ok(open);
        }
        close_tables(); // other tables than the record tables now (never left open: a reference leak)
    }
    let open = in_transaction_scope(|| Ok::<_, String>(OpenTables { changes: RecordTable::open(relids.changes)?, rows: RecordTable::open(relids.rows)? }))?;
    OPEN.set(Some(open));
    Ok(open)
}

/// Before commit or prepare: closes the transaction's record tables (their locks stay until it ends).
pub fn close_tables() {
    if let Some(open) = OPEN.with(Option::take) {
        // SAFETY: opened by `open_tables` under the same resource owner, which is still live.
        in_transaction_scope(|| unsafe {
            open.changes.close();
            open.rows.close();
        });
    }
}

/// The transaction ended without [`close_tables`] (an abort): Postgres released them.
pub fn forget_tables() {
    OPEN.set(None);
}

/// Runs `f` with the top transaction's resource owner and memory context current, both restored
/// on the way out (errors included).
fn in_transaction_scope<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(pg_sys::ResourceOwner, pg_sys::MemoryContext);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back what was current on entry.
            unsafe {
                pg_sys::CurrentResourceOwner = self.0;
                pg_sys::CurrentMemoryContext = self.1;
            }
        }
    }
    // SAFETY: backend globals, inside a transaction (the top transaction's owner and context exist).
    let _restore = unsafe {
        let restore = Restore(pg_sys::CurrentResourceOwner, pg_sys::CurrentMemoryContext);
        pg_sys::CurrentResourceOwner = pg_sys::TopTransactionResourceOwner;
        pg_sys::CurrentMemoryContext = pg_sys::TopTransactionContext;
        restore
    };
    f()
}

/// One of the guard's record tables, open for inserting rows with its indexes (`CatalogOpenIndexes`),
/// locked `ROW EXCLUSIVE` until the transaction ends, as an `INSERT` would.
#[derive(Clone, Copy)]
struct RecordTable {
    rel: pg_sys::Relation,
    indexes: pg_sys::CatalogIndexState,
}

impl RecordTable {
    unsafe fn open(relid: pg_sys::Oid) -> Result<RecordTable, String> {
        let rel = pg_sys::table_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        Ok(RecordTable { rel, indexes: pg_sys::CatalogOpenIndexes(rel) })
    }

    /// Closes what `open` opened; the lock is kept until the transaction ends.
    unsafe fn close(self) {
        pg_sys::CatalogCloseIndexes(self.indexes);
        pg_sys::table_close(self.rel, pg_sys::NoLock as pg_sys::LOCKMODE);
    }

    /// The positions of the named columns in the table's own column order (so a column added by an
    /// upgrade, or reordered, is never written with another's value); a name the table lacks is
    /// an error. Kept per table and list of names until the relids are forgotten.
    unsafe fn columns(&self, names: &'static [&'static str]) -> Result<Vec<usize>, String> {
        let key = ((*self.rel).rd_id, names.as_ptr() as usize);
        if let Some(found) = COLUMNS.with(|c| c.iter().find(|(k, _)| *k == key).map(|(_, at)| at.clone())) {
            return Ok(found);
        }
        let attrs: Vec<Option<&[u8]>> = crate::nodes::tuple_desc_attrs((*self.rel).rd_att)
            .iter()
            .map(|a| (!a.attisdropped).then(|| std::ffi::CStr::from_ptr(a.attname.data.as_ptr()).to_bytes()))
            .collect();
        let found = names
            .iter()
            .map(|name| {
                attrs.iter().position(|a| *a == Some(name.as_bytes())).ok_or_else(|| {
                    format!("interdict.{} has no column {name}", pg_sys::name_data_to_str(&(*(*self.rel).rd_rel).relname))
                })
            })
            .collect::<Result<Vec<usize>, String>>()?;
        COLUMNS.with(|c| c.push((key, found.clone())));
        Ok(found)
    }

    /// Inserts a row with `values` in the columns at `columns` (`None`: null; other columns null):
    /// `simple_heap_insert`, then an entry in each index, as `CatalogIndexInsert` makes them but
    /// with the key taken from `values` (the record tables' indexes are on plain columns), so that
    /// no tuple slot is made per row.
    /// Returns the row's address.
    unsafe fn insert_at(&self, columns: &[usize], values: &[Option<pg_sys::Datum>]) -> Result<pg_sys::ItemPointerData, String> {
        let desc = (*self.rel).rd_att;
        let natts = (*desc).natts as usize;
        if natts > MAX_COLUMNS {
            return Err(format!("interdict.{} has more than {MAX_COLUMNS} columns", pg_sys::name_data_to_str(&(*(*self.rel).rd_rel).relname)));
        }
        // On the stack: this runs for every stored row.
        let mut datums = [pg_sys::Datum::from(0usize); MAX_COLUMNS];
        let mut nulls = [true; MAX_COLUMNS];
        for (&at, value) in columns.iter().zip(values) {
            if let Some(v) = value {
                datums[at] = *v;
                nulls[at] = false;
            }
        }
        let (datums, nulls) = (&mut datums[..natts], &mut nulls[..natts]);
        let tuple = pg_sys::heap_form_tuple(desc, datums.as_mut_ptr(), nulls.as_mut_ptr());
        pg_sys::simple_heap_insert(self.rel, tuple);
        let at = (*tuple).t_self;
        let result = self.index_entries(tuple, datums, nulls);
        pg_sys::heap_freetuple(tuple);
        result.map(|()| at)
    }

    unsafe fn index_entries(&self, tuple: pg_sys::HeapTuple, datums: &[pg_sys::Datum], nulls: &[bool]) -> Result<(), String> {
        let info = &*self.indexes;
        for i in 0..info.ri_NumIndices as usize {
            let index = *info.ri_IndexRelationDescs.add(i);
            let index_info = *info.ri_IndexRelationInfo.add(i);
            if !(*index_info).ii_ReadyForInserts {
                continue;
            }
            if !(*index_info).ii_Expressions.is_null() || !(*index_info).ii_Predicate.is_null() {
                return Err(format!("an index of interdict.{} has expressions or a predicate", pg_sys::name_data_to_str(&(*(*self.rel).rd_rel).relname)));
            }
            let keys = (*index_info).ii_NumIndexAttrs as usize;
            let mut key = [pg_sys::Datum::from(0usize); pg_sys::INDEX_MAX_KEYS as usize];
            let mut key_nulls = [true; pg_sys::INDEX_MAX_KEYS as usize];
            for k in 0..keys.min(pg_sys::INDEX_MAX_KEYS as usize) {
                let at = (*index_info).ii_IndexAttrNumbers[k] as usize;
                if at == 0 || at > datums.len() {
                    return Err(format!("an index of interdict.{} is on a system column", pg_sys::name_data_to_str(&(*(*self.rel).rd_rel).relname)));
                }
                key[k] = datums[at - 1];
                key_nulls[k] = nulls[at - 1];
            }
            let unique = if (*(*index).rd_index).indisunique { pg_sys::IndexUniqueCheck::UNIQUE_CHECK_YES } else { pg_sys::IndexUniqueCheck::UNIQUE_CHECK_NO };
            index_insert(index, &mut key, &mut key_nulls, &mut (*tuple).t_self, self.rel, unique, index_info);
        }
        Ok(())
    }

    /// Inserts a row with `values` in the named columns; columns not named are null.
    unsafe fn insert(&self, names: &'static [&'static str], values: &[Option<pg_sys::Datum>]) -> Result<(), String> {
        self.insert_at(&self.columns(names)?, values).map(|_| ())
    }
}

/// `index_insert` (PostgreSQL 14 added `indexUnchanged`: false, a new row).
#[cfg(not(feature = "pg13"))]
unsafe fn index_insert(
    index: pg_sys::Relation,
    key: &mut [pg_sys::Datum],
    nulls: &mut [bool],
    tid: pg_sys::ItemPointer,
    heap: pg_sys::Relation,
    unique: pg_sys::IndexUniqueCheck::Type,
    info: *mut pg_sys::IndexInfo,
) {
    pg_sys::index_insert(index, key.as_mut_ptr(), nulls.as_mut_ptr(), tid, heap, unique, false, info);
}

#[cfg(feature = "pg13")]
unsafe fn index_insert(
    index: pg_sys::Relation,
    key: &mut [pg_sys::Datum],
    nulls: &mut [bool],
    tid: pg_sys::ItemPointer,
    heap: pg_sys::Relation,
    unique: pg_sys::IndexUniqueCheck::Type,
    info: *mut pg_sys::IndexInfo,
) {
    pg_sys::index_insert(index, key.as_mut_ptr(), nulls.as_mut_ptr(), tid, heap, unique, info);
}

/// Adds `rows` to change `id`, which the running statement created (a rule's later plans).
fn add_to_change(id: i64, rows: ChangeRows) -> i64 {
    // Taken out while in use (the statement below runs our hooks), put back after; an error drops
    // it, and the next addition prepares it again.
    let plan = match ADD_PLAN.with(Option::take) {
        Some(p) => p,
        None => prepare_add().unwrap_or_else(|e| crate::reasons::internal_failure("preparing undo's statement", &e.to_string())),
    };
    let ChangeRows { events, table_relids, table_names, table_shapes, inserted, updated, deleted, ahead: _ } = rows;
    let args = vec![
        DatumWithOid::from(id),
        DatumWithOid::from(events.batches.iter().map(|b| b.first_seq).collect::<Vec<i64>>()),
        DatumWithOid::from(events.batches.iter().map(|b| b.count).collect::<Vec<i32>>()),
        DatumWithOid::from(events.batches.into_iter().map(|b| b.bytes).collect::<Vec<Vec<u8>>>()),
        DatumWithOid::from(table_relids),
        DatumWithOid::from(table_names),
        DatumWithOid::from(table_shapes),
        DatumWithOid::from(inserted),
        DatumWithOid::from(updated),
        DatumWithOid::from(deleted),
    ];
    let stored = Spi::connect_mut(|client| client.update(&plan, None, &args).map(|_| ()));
    ADD_PLAN.set(Some(plan));
    match stored {
        Ok(()) => id,
        Err(e) => crate::reasons::internal_failure("recording the change", &e.to_string()),
    }
}

fn prepare_add() -> Result<OwnedPreparedStatement, pgrx::spi::Error> {
    let args: Vec<PgOid> = [
        pg_sys::INT8OID,
        pg_sys::INT8ARRAYOID,
        pg_sys::INT4ARRAYOID,
        pg_sys::BYTEAARRAYOID,
        pg_sys::OIDARRAYOID,
        pg_sys::TEXTARRAYOID,
        pg_sys::TEXTARRAYOID,
        pg_sys::INT8ARRAYOID,
        pg_sys::INT8ARRAYOID,
        pg_sys::INT8ARRAYOID,
    ]
    .into_iter()
    .map(PgOid::from)
    .collect();
    Spi::connect(|client| Ok(client.prepare_mut(ADD_TO_CHANGE, &args)?.keep()))
}

/// One row event of a stored change.
pub struct StoredRow {
    pub relid: pg_sys::Oid,
    pub op: Op,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

/// A group of a change's batches by their addresses, positions `$2` to `$3` of its `rows_at` (a TID
/// scan; the change id is checked as well).
const BATCHES_BY_ADDRESS: &str = "SELECT row_count, images FROM interdict.change_rows
     WHERE ctid OPERATOR(pg_catalog.=) ANY ((SELECT rows_at[$2:$3] FROM interdict.changes WHERE id = $1)::pg_catalog.tid[])
       AND change_id = $1 ORDER BY seq";
/// All of them after `change_rows` was rewritten (its rows moved): a scan (read at once: only a
/// change recorded before a `VACUUM FULL` or `CLUSTER` of `change_rows` is read this way).
const BATCHES_BY_SCAN: &str = "SELECT row_count, images FROM interdict.change_rows WHERE change_id = $1 ORDER BY seq";

/// Batches read per statement (about 460 kB of images): a large change's batches are never all in
/// memory at once, in Postgres' (the statement's result) or as bytes here — each group is unpacked
/// into row events and let go before the next is read.
const READ_GROUP: i32 = 256;

/// A change's row events, in the order they were recorded (read as the guard). An error if fewer
/// or other than recorded are found.
pub fn read_rows(id: i64) -> Result<Vec<StoredRow>, String> {
    let args = [DatumWithOid::from(id)];
    // How many events, the first batch, how many later batches, whether their addresses still hold.
    let (recorded, first, addresses, addressed) = as_guard("reading a change's rows", || {
        Spi::connect(|client| {
            let change = client
                .select(
                    "SELECT (SELECT pg_catalog.sum(n) FROM pg_catalog.unnest(inserted OPERATOR(pg_catalog.||) updated OPERATOR(pg_catalog.||) deleted) n)::pg_catalog.int8,
                            first_batch_rows, first_batch, pg_catalog.cardinality(rows_at),
                            rows_file OPERATOR(pg_catalog.=) pg_catalog.pg_relation_filenode('interdict.change_rows'::pg_catalog.regclass)
                       FROM interdict.changes WHERE id = $1",
                    None,
                    &args,
                )?
                .first();
            let first = (change.get::<i32>(2)?.unwrap_or(0), change.get::<Vec<u8>>(3)?.unwrap_or_default());
            Ok::<_, pgrx::spi::Error>((change.get::<i64>(1)?.unwrap_or(0), first, change.get::<i32>(4)?, change.get::<bool>(5)?))
        })
    })
    .map_err(|e| e.to_string())?;
    let mut rows = Vec::with_capacity(usize::try_from(recorded).unwrap_or(0));
    unpack_into(&mut rows, first.0, &first.1)?;
    let in_first = rows.len();
    // Every later batch by its address, a group at a time; if a group is short (addresses that no
    // longer hold in a file of the same number: a restore into a cluster that gave change_rows the
    // same one) or none are known to hold, all of them by change id instead.
    let later = addresses.unwrap_or(-1);
    let mut by_address = later >= 0 && addressed == Some(true);
    let mut from = 1;
    while by_address && from <= later {
        let to = later.min(from + READ_GROUP - 1);
        let range = [DatumWithOid::from(id), DatumWithOid::from(from), DatumWithOid::from(to)];
        by_address = read_batches(BATCHES_BY_ADDRESS, &range, &mut rows)? == to - from + 1;
        from = to + 1;
    }
    if later != 0 && !by_address {
        rows.truncate(in_first);
        read_batches(BATCHES_BY_SCAN, &args, &mut rows)?;
    }
    if rows.len() as i64 != recorded {
        return Err(format!("{} of its {recorded} row images were found", rows.len()));
    }
    Ok(rows)
}

/// Runs `sql` (batches of a change, in order) as the guard and unpacks them onto `rows`; returns
/// how many batches it read.
fn read_batches(sql: &str, args: &[DatumWithOid], rows: &mut Vec<StoredRow>) -> Result<i32, String> {
    as_guard("reading a change's rows", || {
        crate::guard_sql::prefer_addresses();
        Spi::connect(|client| {
            let mut read = 0;
            for r in client.select(sql, None, args)? {
                let (count, bytes) = (r.get::<i32>(1)?.unwrap_or(0), r.get::<Vec<u8>>(2)?.unwrap_or_default());
                read += 1;
                if let Err(e) = unpack_into(rows, count, &bytes) {
                    return Ok(Err(e));
                }
            }
            Ok::<_, pgrx::spi::Error>(Ok(read))
        })
    })
    .map_err(|e| e.to_string())?
}

/// One batch's `count` row events onto `rows`, each with its own images (an update's after-image
/// rebuilt from its difference).
fn unpack_into(rows: &mut Vec<StoredRow>, count: i32, bytes: &[u8]) -> Result<(), String> {
    for e in unpack(bytes, count).map_err(|e| format!("a batch of its row events is damaged: {e}"))? {
        rows.push(StoredRow { relid: pg_sys::Oid::from(e.relid), op: e.op, old: e.old.map(<[u8]>::to_vec), new: e.new.map(std::borrow::Cow::into_owned) });
    }
    Ok(())
}
