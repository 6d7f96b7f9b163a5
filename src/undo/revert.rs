//! `interdict.revert(id)`: restores a recorded change's before-images, conflict-checked, and records
//! the revert as a change of its own (reverting that redoes the original).
//!
//! For each table the change touched: the table must still have the columns it was recorded with,
//! at their positions, with their types (renamed or added columns aside: see [`table_now`]);
//! the change's row events collapse to one net step per row (`interdict_core::undo`); every row
//! the change left must still be exactly its recorded after-image (`*=`, `record_image_eq`: byte
//! equality, so no type needs an equality operator) and every key it freed must still be free —
//! otherwise nothing is reverted and the error lists the rows (`undo.conflict`). The steps run as
//! set-based statements whose WHERE is the check: each returns the images it wrote, the others are
//! the conflicts, and the error undoes what was written (no gap between a check and a write for a
//! concurrent change to slip through, and each image is read once).
//!
//! The statements run with `session_replication_role = replica`, as logical replication applies
//! rows: user triggers and foreign-key actions do not fire, because what they did the first time
//! is part of the change and is restored from its own images. Foreign keys are then verified
//! explicitly for every constraint on or referencing a reverted table, for the rows the revert
//! touched, so a revert that would leave a dangling reference (someone since pointed a row at one
//! the change inserted) is a conflict too. Everything runs in the caller's transaction: an error leaves nothing reverted.
//!
//! The images are checked against the table's columns before anything reads them as rows (see
//! `image.rs`), and the statements read them by position through `interdict.revert_image`, which
//! serves only the running revert's checked images.
//!
//! Who runs what (see `guard_sql`): the change's records and the foreign keys' catalog rows are
//! read as the guard, the table's key and columns from the relcache (no SQL, once it is locked);
//! everything that touches a user table — the conflict checks, the writes, the foreign-key checks,
//! the text of conflicting rows (type output functions) — runs as the table's owner, as a
//! security-restricted operation, through the guard's own statements, with the search path pinned
//! and every operator named by schema (the key index's own equality operators, the constraint's own
//! comparison operators). Code a table's definition runs (index expressions, CHECK constraints,
//! domains, ALWAYS triggers) runs as its owner and is judged by the hooks like any other statement.

use super::image::{self, serve};
use super::store::{read_rows, write_change, ChangeRows, Counts, StoredRow, Target};
use super::{describe_rows, relation_shape};
use crate::guard_sql::{as_guard, as_table_owner, own_statement, own_statement_latest, setting_by_guard, Arg};
use crate::statement::TableRows;
use interdict_core::image::Column;
use interdict_core::undo::{steps, Event, Op, OutOfOrder, Step};
use interdict_core::{Mode, ReasonCode, Refusal};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::{quote_identifier, Spi};
use std::ffi::CString;

fn refuse(code: ReasonCode, id: i64, what: String) -> Refusal {
    Refusal::new(code, crate::settings::mode(), what).fact("change_id", id.to_string())
}

/// Reverts changes newest first, in one transaction; returns the ids of the changes that record
/// the reverts. `count` is handed each change's rows before any is written (`blast::count_written`:
/// a revert, or the redo of one, is a write like any other, against its statement's limit).
pub fn revert(ids: &[i64], force: bool, count: &dyn Fn(Vec<TableRows>)) -> Vec<i64> {
    let first = ids.first().copied().unwrap_or_default();
    if crate::settings::mode() == Mode::Readonly {
        crate::reasons::raise(&refuse(ReasonCode::UndoNotAllowed, first, "reverting from a readonly session".into()));
    }
    if force && !crate::facts::roles::is_operator() {
        crate::reasons::raise(&refuse(ReasonCode::UndoNotAllowed, first, "reverting with force => true, outside interdict_operator".into()));
    }
    crate::guard_sql::writes_records(c"interdict.revert()");
    let mut ids = ids.to_vec();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    let _settings = RevertSettings::enter();
    let _reverting = crate::guard_sql::enter_revert();
    ids.into_iter().map(|id| revert_one(id, force, count)).collect()
}

/// The setting for the revert's statements, restored when it ends: replica role (no user triggers,
/// no foreign-key actions).
struct RevertSettings(i32);

impl RevertSettings {
    fn enter() -> RevertSettings {
        // SAFETY: GUC calls on the backend's thread; the nest level is popped in Drop (or by abort).
        unsafe {
            let level = pg_sys::NewGUCNestLevel();
            // The settings' locks let the guard's own settings through (`session_replication_role`
            // is locked at origin for agent sessions).
            setting_by_guard(|| for (name, value) in [(c"session_replication_role", c"replica")] {
                pg_sys::set_config_option(
                    name.as_ptr(),
                    value.as_ptr(),
                    pg_sys::GucContext::PGC_SUSET,
                    pg_sys::GucSource::PGC_S_SESSION,
                    pg_sys::GucAction::GUC_ACTION_SAVE,
                    true,
                    0,
                    false,
                );
            });
            RevertSettings(level)
        }
    }
}

impl Drop for RevertSettings {
    fn drop(&mut self) {
        // SAFETY: pops the nest level `enter` pushed.
        unsafe { pg_sys::AtEOXact_GUC(true, self.0) };
    }
}

/// A table the change touched, as it is now.
struct Table {
    relid: pg_sys::Oid,
    name: String,
    /// `ONLY "schema"."name"`: the rows of this very table (not an inheritance child's).
    only: String,
    /// `"schema"."name"`, for casts.
    qualified: String,
    shape: String,
    key: Vec<String>,
    /// Each key column's equality operator, from the key index's operator class: `OPERATOR(s.=)`.
    key_ops: Vec<String>,
    /// Each key column's number (`attnum`).
    key_attnums: Vec<i16>,
    /// The table's row type, and how its columns are stored (dropped ones included): what its
    /// images are checked against.
    rowtype: pg_sys::Oid,
    columns: Vec<Column>,
    insert: Vec<String>,
    update: Vec<String>,
    /// Every stored column (all but 18's virtual generated ones): what "the row is still exactly its
    /// image" compares.
    stored: Vec<String>,
    /// A stored generated column: Postgres computes it again as rows are written back, which gives
    /// the recorded value only if its expression does (`IMMUTABLE` is the function's word, not a proof).
    generated_stored: bool,
    /// A `GENERATED ALWAYS AS IDENTITY` column, which no UPDATE writes: rows are restored by delete
    /// and insert.
    identity_always: bool,
}

/// An image read as a row of the table, once per image: every field is taken from this column,
/// qualified so that no column of the reverted table (whose name could be anything) can capture the
/// reference. (`OFFSET 0` keeps the image's reading in its subquery instead of copying it into
/// each field's reference.)
const ROW_S: &str = "interdict_s.interdict_row";

fn fields(expr: &str, cols: &[String]) -> String {
    cols.iter().map(|c| format!("({expr}).{c}")).collect::<Vec<_>>().join(", ")
}

impl Table {
    /// `record_image_eq(ROW(cur.c1, …), ROW((r).c1, …))` over the stored columns of a row `r` of
    /// the table: byte equality, so no type needs an equality operator (called as a function:
    /// `ROW(…) op ROW(…)` would be taken apart column by column).
    fn same_image(&self, row: &str) -> String {
        format!("pg_catalog.record_image_eq(ROW({}), ROW({}))", fields("interdict_cur", &self.stored), fields(row, &self.stored))
    }

    /// `cur.k1 OPERATOR(pg_catalog.=) (r).k1 AND …`: the key index's own equality.
    fn key_match(&self, row: &str) -> String {
        self.key.iter().zip(&self.key_ops).map(|(k, op)| format!("interdict_cur.{k} {op} ({row}).{k}")).collect::<Vec<_>>().join(" AND ")
    }

    /// The served images (`$1` of them), each read once as a row of the table:
    /// `interdict_s(interdict_n, interdict_row)`, `interdict_n` its position.
    fn images_as_rows(&self) -> String {
        format!(
            "(SELECT interdict_n, {} AS interdict_row FROM {} OFFSET 0) AS interdict_s",
            self.image(0),
            POSITIONS
        )
    }

    /// The image at `interdict_n` of served list `list`, as a row of the table.
    fn image(&self, list: i32) -> String {
        format!("interdict.revert_image({list}, interdict_n, NULL::{})", self.qualified)
    }
}

/// Positions 1 to `$1`.
const POSITIONS: &str = "pg_catalog.generate_series(1::pg_catalog.int8, $1::pg_catalog.int8) AS interdict_n";

/// The table now, checked against the shape the change recorded. It is locked first, as the
/// revert's writes lock it, so its columns and key cannot change between this reading and those
/// writes. Everything comes from the relcache and syscache: no SQL, no name a session resolves.
fn table_now(id: i64, relid: pg_sys::Oid, name: &str, recorded_shape: &str) -> Table {
    let changed = |why: &str| -> ! {
        crate::reasons::raise(&refuse(ReasonCode::UndoTableChanged, id, format!("reverting change {id}")).fact("relation", name).fact("why", why))
    };
    // SAFETY: a relation open inside a transaction; the lock is kept until the transaction ends.
    let rel = unsafe { pg_sys::try_relation_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE) };
    if rel.is_null() {
        changed("the table was dropped");
    }
    // The change's images read the same in the table now if each recorded column is still there,
    // at its position, with its type: columns renamed or added since do not stand in the way. A
    // column added since is neither compared nor written back (a row inserted back takes its
    // default, as any INSERT that does not name it), and the revert's own change records the
    // shape its images were taken from.
    let recorded = match relation_shape(relid) {
        Some(now) if now == recorded_shape => None,
        Some(now) => Some(
            interdict_core::image::recorded_columns_in(recorded_shape, &now)
                .unwrap_or_else(|| changed("a column it had when the change was recorded was dropped or changed type")),
        ),
        None => changed("the table was dropped"),
    };
    // SAFETY: `rel` is open; it is closed once read, its lock kept (an error while reading leaves
    // it to the transaction's abort, as for any relation).
    let read = unsafe {
        let read = read_table(rel, recorded.as_deref());
        pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        read
    };
    let mut t = read.unwrap_or_else(|why| changed(why));
    t.shape = recorded_shape.to_string();
    t.relid = relid;
    t.name = name.to_string();
    t
}

/// A table's key (its replica identity index: the primary key unless the DBA chose another unique
/// index), the key's equality operators (the index's own operator families) and its column lists,
/// from an open relation; only the columns at `recorded` positions, if given (see [`table_now`]).
unsafe fn read_table(rel: pg_sys::Relation, recorded: Option<&[i16]>) -> Result<Table, &'static str> {
    let relid = (*rel).rd_id;
    let in_images = |attnum: i16| recorded.is_none_or(|r| r.contains(&attnum));
    let attrs = crate::nodes::tuple_desc_attrs((*rel).rd_att);
    let attname = |attnum: i16| quote_identifier(pg_sys::name_data_to_str(&attrs[attnum as usize - 1].attname));
    let key_index = pg_sys::RelationGetReplicaIndex(rel);
    if key_index == pg_sys::InvalidOid {
        return Err("it no longer has a primary key or replica identity index");
    }
    if !crate::undo::is_btree(key_index) {
        return Err("its key is a temporal (WITHOUT OVERLAPS) one, which matches rows by overlap: undo cannot find rows by it");
    }
    let index = pg_sys::index_open(key_index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    let nkeys = (*(*index).rd_index).indnkeyatts as usize;
    let indkey = (*(*index).rd_index).indkey.values.as_slice(nkeys);
    let mut key = (Vec::new(), Vec::new(), Vec::new());
    for (i, &attnum) in indkey.iter().enumerate() {
        let (family, input) = (*(*index).rd_opfamily.add(i), *(*index).rd_opcintype.add(i));
        let op = pg_sys::get_opfamily_member(family, input, input, pg_sys::BTEqualStrategyNumber as i16);
        let Some(op_name) = operator_name(op).filter(|_| attnum > 0 && attnum as usize <= attrs.len()) else {
            pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            return Err("its key's columns or their equality operators could not be read");
        };
        if !in_images(attnum) {
            pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            return Err("its key has a column added since the change was recorded");
        }
        key.0.push(attname(attnum));
        key.1.push(op_name);
        key.2.push(attnum);
    }
    pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    if key.0.is_empty() {
        return Err("its key's columns or their equality operators could not be read");
    }
    // Virtual generated columns (18) are not stored: images hold NULL for them, so they are
    // neither written back nor compared.
    let (mut insert, mut update, mut stored, mut generated_stored, mut identity_always) = (Vec::new(), Vec::new(), Vec::new(), false, false);
    for a in attrs.iter().filter(|a| !a.attisdropped) {
        let (generated, identity, name) = (a.attgenerated as u8, a.attidentity as u8, attname(a.attnum));
        if !in_images(a.attnum) {
            if identity == b'a' {
                // rows restored by delete and insert would take a new value in it
                return Err("a GENERATED ALWAYS identity column was added since the change was recorded");
            }
            continue;
        }
        generated_stored |= generated == b's';
        identity_always |= identity == b'a';
        if generated == 0 {
            insert.push(name.clone());
            if identity != b'a' {
                update.push(name.clone());
            }
        }
        if generated != b'v' {
            stored.push(name);
        }
    }
    let qualified = quoted_relation(relid).ok_or("the table was dropped")?;
    Ok(Table {
        relid,
        name: String::new(),
        only: format!("ONLY {qualified}"),
        qualified,
        shape: String::new(),
        key: key.0,
        key_ops: key.1,
        key_attnums: key.2,
        rowtype: (*(*rel).rd_rel).reltype,
        columns: image::columns((*rel).rd_att),
        insert,
        update,
        stored,
        generated_stored,
        identity_always,
    })
}

/// `OPERATOR("schema".=)`: an operator named by its schema, as the guard's statements call it.
unsafe fn operator_name(op: pg_sys::Oid) -> Option<String> {
    let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::OPEROID as i32, pg_sys::Datum::from(op));
    if tup.is_null() {
        return None;
    }
    let form = &*(pg_sys::GETSTRUCT(tup) as *mut pg_sys::FormData_pg_operator);
    let (name, namespace) = (pg_sys::name_data_to_str(&form.oprname).to_string(), form.oprnamespace);
    pg_sys::ReleaseSysCache(tup);
    let schema = crate::nodes::cstr(pg_sys::get_namespace_name(namespace))?;
    Some(format!("OPERATOR({}.{name})", quote_identifier(&schema)))
}

/// The recorded events of one table, in order, with their keys: the images checked against the
/// table's columns, their keys taken from their bytes (each as the net effect takes it).
fn events(id: i64, t: &Table, rows: Vec<StoredRow>) -> impl Iterator<Item = Event> + '_ {
    let key = move |i: &Option<Vec<u8>>| {
        i.as_deref().map(|i| {
            let at = image::check(i, &t.columns).unwrap_or_else(|e| {
                crate::reasons::internal_failure(&format!("reading change {id}"), &format!("an image of {} is not a row of its columns: {e}", t.name))
            });
            // SAFETY: `at` is the check's result for this image.
            unsafe { image::key(i, &at, &t.columns, &t.key_attnums) }
        })
    };
    rows.into_iter().map(move |r| Event { op: r.op, old_key: key(&r.old), new_key: key(&r.new), old_row: r.old, new_row: r.new })
}

fn cstring(sql: String) -> CString {
    CString::new(sql).unwrap_or_else(|_| crate::reasons::internal_failure("building an undo statement", "a NUL byte in a name"))
}

/// Runs an own statement on the table that returns one count.
fn count(sql: String, args: &[Arg]) -> i64 {
    first_count(own_statement(&cstring(sql), args))
}

/// [`count`] over the latest committed rows (see [`own_statement_latest`]).
fn count_latest(sql: String, args: &[Arg]) -> i64 {
    first_count(own_statement_latest(&cstring(sql), args))
}

fn first_count(returned: crate::guard_sql::Returned) -> i64 {
    returned.rows.first().and_then(|r| r.first().cloned().flatten()).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Runs an own statement on the table that returns positions (1-based) of served images.
fn positions(sql: String, args: &[Arg]) -> Vec<usize> {
    own_statement(&cstring(sql), args).rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).filter_map(|n| n.parse().ok()).collect()
}

/// Runs an own writing statement whose `RETURNING` gives the positions of the images it wrote, as
/// one array (`SELECT pg_catalog.array_agg(interdict_n) FROM …`): a row per written image would
/// cost a result row and a string each, about 150 bytes, for every row a large revert writes.
fn written(sql: String, args: &[Arg]) -> Vec<usize> {
    let returned = own_statement(&cstring(sql), args);
    let array = returned.rows.into_iter().next().and_then(|r| r.into_iter().next().flatten()).unwrap_or_default();
    array.trim_matches(|c| c == '{' || c == '}').split(',').filter_map(|n| n.parse().ok()).collect()
}

/// Up to 10 positions (1-based) of `count` images that are not in `written`.
fn not_written(count: usize, written: &[usize]) -> Vec<usize> {
    let mut done = vec![false; count];
    for &n in written {
        if let Some(d) = n.checked_sub(1).and_then(|i| done.get_mut(i)) {
            *d = true;
        }
    }
    (1..=count).filter(|n| !done[n - 1]).take(10).collect()
}

/// Positions of up to 10 images of `images` for which `condition` (over the image's row, [`ROW_S`]) holds.
fn offenders(t: &Table, images: &[Vec<u8>], condition: &str) -> Vec<usize> {
    if images.is_empty() {
        return Vec::new();
    }
    let sql = format!("SELECT interdict_s.interdict_n FROM {} WHERE {condition} LIMIT 10", t.images_as_rows());
    serve(t.rowtype, images, &[], || positions(sql, &[Arg::int8(images.len() as i64)]))
}

/// The text of the images at `at` (1-based positions in `images`), for the conflict's message.
fn texts(t: &Table, images: &[Vec<u8>], at: Vec<usize>) -> Vec<String> {
    // SAFETY: inside the revert's transaction.
    at.into_iter()
        .filter_map(|n| images.get(n.wrapping_sub(1)))
        .map(|i| unsafe { image::text_as_recorded(i, t.relid, &t.shape) }.unwrap_or_default())
        .collect()
}

/// One inverse row event, recorded as the revert's own change.
type Inverse = (Op, Option<Vec<u8>>, Option<Vec<u8>>);

/// One table's revert, as its owner: conflict check, then the steps. Returns the inverse events to record.
fn revert_table(id: i64, t: &Table, rows: Vec<StoredRow>, force: bool) -> (Counts, Vec<Inverse>) {
    // Checked before anything is written, force or not: a record whose events do not follow one
    // another has no net effect to restore.
    let steps = steps(events(id, t, rows)).unwrap_or_else(|OutOfOrder(n)| {
        let refusal = refuse(ReasonCode::UndoOutOfOrder, id, format!("reverting change {id}")).fact("relation", t.name.clone());
        crate::reasons::raise(&refusal.fact("event", (n + 1).to_string()))
    });
    let (mut gone, mut restore_after, mut restore_before, mut back) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in steps {
        match s {
            Step::Delete { after } => gone.push(after),
            Step::Restore { after, before } => {
                restore_after.push(after);
                restore_before.push(before);
            }
            Step::Reinsert { before } => back.push(before),
        }
    }
    let still_there = format!("EXISTS (SELECT 1 FROM {} interdict_cur WHERE {} AND {})", t.only, t.key_match(ROW_S), t.same_image(ROW_S));
    let key_taken = format!("EXISTS (SELECT 1 FROM {} interdict_cur WHERE {})", t.only, t.key_match(ROW_S));
    as_table_owner(t.relid, || {
        if force {
            // An operator's force: whatever holds the keys now gives way to the before-images.
            let all: Vec<Vec<u8>> = gone.iter().chain(&restore_after).chain(&restore_before).chain(&back).cloned().collect();
            let sql = format!("WITH d AS (DELETE FROM {} interdict_cur USING {} WHERE {} RETURNING 1) SELECT pg_catalog.count(*) FROM d", t.only, t.images_as_rows(), t.key_match(ROW_S));
            serve(t.rowtype, &all, &[], || count(sql, &[Arg::int8(all.len() as i64)]));
            let befores: Vec<Vec<u8>> = restore_before.iter().chain(&back).cloned().collect();
            insert(t, &befores);
        } else {
            // The conflict check is the writes' own WHERE: a row is deleted or restored only if it
            // is still exactly its after-image, and the images not written are the conflicts (the
            // error then undoes the writes). A check before the writes read every image once more.
            let mut conflicts = texts(t, &back, offenders(t, &back, &key_taken));
            if t.identity_always {
                // An UPDATE cannot write a GENERATED ALWAYS identity column back: each row to
                // restore is deleted as its after-image (if it still is exactly that) and inserted
                // as its before-image (OVERRIDING SYSTEM VALUE), its key checked by the delete.
                gone.append(&mut restore_after);
                back.append(&mut restore_before);
            }
            if !gone.is_empty() {
                let sql = format!(
                    "WITH d AS (DELETE FROM {} interdict_cur USING {} WHERE {} AND {} RETURNING interdict_s.interdict_n) SELECT pg_catalog.array_agg(interdict_n) FROM d",
                    t.only,
                    t.images_as_rows(),
                    t.key_match(ROW_S),
                    t.same_image(ROW_S)
                );
                let deleted = serve(t.rowtype, &gone, &[], || written(sql, &[Arg::int8(gone.len() as i64)]));
                conflicts.extend(texts(t, &gone, not_written(gone.len(), &deleted)));
            }
            if !restore_after.is_empty() && t.update.is_empty() {
                // Nothing to write back (every column is generated or the key): still, the rows
                // must be as the change left them.
                conflicts.extend(texts(t, &restore_after, offenders(t, &restore_after, &format!("NOT {still_there}"))));
            } else if !restore_after.is_empty() {
                let sql = format!(
                    "WITH u AS (UPDATE {} interdict_cur SET ({}) = ROW({})
                       FROM (SELECT {} AS after_row, {} AS before_row, interdict_n FROM {POSITIONS} OFFSET 0) AS interdict_s
                      WHERE {} AND {} RETURNING interdict_s.interdict_n) SELECT pg_catalog.array_agg(interdict_n) FROM u",
                    t.only,
                    t.update.join(", "),
                    fields("interdict_s.before_row", &t.update),
                    t.image(0),
                    t.image(1),
                    t.key_match("interdict_s.after_row"),
                    t.same_image("interdict_s.after_row"),
                );
                let restored = serve(t.rowtype, &restore_after, &restore_before, || written(sql, &[Arg::int8(restore_after.len() as i64)]));
                conflicts.extend(texts(t, &restore_after, not_written(restore_after.len(), &restored)));
            }
            if !conflicts.is_empty() {
                conflicts.truncate(10);
                conflict(id, t, "rows changed since (or keys in use again)", conflicts);
            }
            insert(t, &back);
        }
        if t.generated_stored {
            // What was written back must be the before-images, the generated columns included.
            let befores: Vec<Vec<u8>> = restore_before.iter().chain(&back).cloned().collect();
            let differ = offenders(t, &befores, &format!("NOT {still_there}"));
            if !differ.is_empty() {
                conflict(id, t, "a stored generated column computes another value now than the row held", texts(t, &befores, differ));
            }
        }
    });
    let counts = Counts { inserted: back.len() as i64, updated: restore_after.len() as i64, deleted: gone.len() as i64 };
    let inverse = gone
        .into_iter()
        .map(|a| (Op::Delete, Some(a), None))
        .chain(restore_after.into_iter().zip(restore_before).map(|(a, b)| (Op::Update, Some(a), Some(b))))
        .chain(back.into_iter().map(|b| (Op::Insert, None, Some(b))))
        .collect();
    (counts, inverse)
}

fn insert(t: &Table, images: &[Vec<u8>]) {
    if images.is_empty() {
        return;
    }
    let sql = format!(
        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}",
        t.qualified,
        t.insert.join(", "),
        fields(ROW_S, &t.insert),
        t.images_as_rows()
    );
    serve(t.rowtype, images, &[], || own_statement(&cstring(sql), &[Arg::int8(images.len() as i64)]));
}

fn conflict(id: i64, t: &Table, why: &str, rows: Vec<String>) -> ! {
    let mut refusal = refuse(ReasonCode::UndoConflict, id, format!("reverting change {id}")).fact("relation", t.name.clone()).fact("why", why);
    if !rows.is_empty() {
        refusal = refusal.fact("rows", rows.join(" "));
    }
    crate::reasons::raise(&refusal)
}

/// A foreign key to check after a revert.
struct ForeignKey {
    name: String,
    /// The referencing table (its owner runs the check), `ONLY "s"."t"` for a plain table.
    child_relid: pg_sys::Oid,
    child: String,
    parent: String,
    /// The referenced table (a partitioned one for a partitioned table's key).
    confrelid: pg_sys::Oid,
    /// `{parent}.p OPERATOR(s.=) interdict_child.f` for each column pair, with the constraint's own
    /// operators; `{parent}` stands for the referenced row.
    matches: Vec<String>,
    fk: Vec<String>,
    /// `MATCH FULL`: a referencing row's columns are all NULL or all set.
    full: bool,
}

impl ForeignKey {
    fn matches(&self, parent: &str) -> String {
        self.matches.iter().map(|m| m.replace("{parent}", parent)).collect::<Vec<_>>().join(" AND ")
    }

    /// `{row}.f1 IS NOT NULL AND …`: the referencing columns all set (MATCH SIMPLE checks only those).
    fn set(&self, row: &str) -> String {
        self.fk.iter().map(|f| format!("{row}.{f} IS NOT NULL")).collect::<Vec<_>>().join(" AND ")
    }

    /// `MATCH FULL`'s own rule broken: some referencing columns NULL, some set.
    fn mixed(&self, row: &str) -> String {
        let null = self.fk.iter().map(|f| format!("{row}.{f} IS NULL")).collect::<Vec<_>>().join(" AND ");
        format!("NOT ({null}) AND NOT ({})", self.set(row))
    }
}

unsafe extern "C-unwind" {
    /// partition.c: a partition's ancestors, its parent first (pgrx leaves partition.h out).
    fn get_partition_ancestors(relid: pg_sys::Oid) -> *mut pg_sys::List;
}

/// A table's partitioned ancestors, its parent first (none for a table that is not a partition).
unsafe fn partition_ancestors(relid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    if !pg_sys::get_rel_relispartition(relid) {
        return Vec::new();
    }
    let list = pg_sys::ffi::pg_guard_ffi_boundary(|| get_partition_ancestors(relid));
    crate::nodes::list_oids(list).collect()
}

/// `ONLY "s"."t"` for a plain table (its own rows), `"s"."t"` for a partitioned one (all of them).
unsafe fn relation_rows(relid: pg_sys::Oid) -> Option<String> {
    let only = if pg_sys::get_rel_relkind(relid) as u8 == pg_sys::RELKIND_RELATION { "ONLY " } else { "" };
    Some(format!("{only}{}", quoted_relation(relid)?))
}

/// `"schema"."name"` of a relation, each part quoted as SQL needs it.
unsafe fn quoted_relation(relid: pg_sys::Oid) -> Option<String> {
    let (schema, name) = (crate::nodes::cstr(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid)))?, crate::nodes::cstr(pg_sys::get_rel_name(relid))?);
    Some(format!("{}.{}", quote_identifier(&schema), quote_identifier(&name)))
}

/// A column's quoted name.
unsafe fn column_name(relid: pg_sys::Oid, attnum: i16) -> Option<String> {
    crate::nodes::cstr(pg_sys::get_attname(relid, attnum, true)).map(quote_identifier)
}

/// A foreign-key constraint as the checks use it, from its `pg_constraint` row's columns.
unsafe fn foreign_key(name: String, child: pg_sys::Oid, parent: pg_sys::Oid, fk: &[i16], pk: &[i16], ops: &[pg_sys::Oid], full: bool) -> Option<ForeignKey> {
    if fk.len() != pk.len() || fk.len() != ops.len() {
        return None;
    }
    let mut matches = Vec::new();
    for ((&f, &p), &op) in fk.iter().zip(pk).zip(ops) {
        matches.push(format!("{{parent}}.{} {} interdict_child.{}", column_name(parent, p)?, operator_name(op)?, column_name(child, f)?));
    }
    Some(ForeignKey {
        name,
        child_relid: child,
        child: relation_rows(child)?,
        parent: relation_rows(parent)?,
        confrelid: parent,
        matches,
        fk: fk.iter().map(|&f| column_name(child, f)).collect::<Option<_>>()?,
        full,
    })
}

/// The images a revert wrote into a table (its rows now) and removed from it (rows that are gone,
/// or were there under a key they no longer have), from its inverse events.
fn written_and_removed(inverse: &[Inverse]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let written = inverse.iter().filter_map(|(_, _, new)| new.clone()).collect();
    let removed = inverse.iter().filter_map(|(_, old, _)| old.clone()).collect();
    (written, removed)
}

/// Foreign keys on or referencing the reverted tables (partitioned ancestors included) still hold.
/// Only the rows the revert touched can break one (the keys held before it): the rows it wrote must
/// find their referenced rows, and no row may still refer to a key it removed. Each check reads the
/// revert's own images and, through the constraint's columns, the other table (an index on the
/// referencing columns serves the second): reverting a few rows does not read a whole table. They
/// read the latest committed rows, as Postgres' own checks do: in REPEATABLE READ a row another
/// session committed after the transaction's snapshot still counts.
fn verify_foreign_keys(id: i64, tables: &[Table], done: &[(Counts, Vec<Inverse>)]) {
    // Each reverted table's partitioned ancestors, and every table whose constraints count.
    // SAFETY: catalog reads inside a transaction.
    let lineage: Vec<Vec<pg_sys::Oid>> = tables.iter().map(|t| unsafe { partition_ancestors(t.relid) }).collect();
    let touched: Vec<pg_sys::Oid> = tables.iter().map(|t| t.relid).chain(lineage.iter().flatten().copied()).collect();
    type Row = (String, pg_sys::Oid, pg_sys::Oid, Vec<i16>, Vec<i16>, Vec<pg_sys::Oid>, bool, bool);
    let rows: Vec<Row> = as_guard("reading foreign keys", || {
        Spi::connect(|client| {
            let mut out = Vec::new();
            for r in client.select(
                // 18's NOT ENFORCED keys hold nothing to check; its PERIOD keys compare ranges by
                // coverage, which these checks (each column by its equality operator) do not do.
                // Read through to_jsonb: the columns exist from 18 only.
                "SELECT conname::pg_catalog.text, conrelid, confrelid, conkey, confkey, conpfeqop,
                        COALESCE(pg_catalog.jsonb_extract_path_text(pg_catalog.to_jsonb(c), 'conperiod')::pg_catalog.bool, false),
                        confmatchtype OPERATOR(pg_catalog.=) 'f'
                   FROM pg_catalog.pg_constraint c
                  WHERE contype = 'f' AND conparentid = 0 AND (conrelid = ANY ($1) OR confrelid = ANY ($1))
                    AND COALESCE(pg_catalog.jsonb_extract_path_text(pg_catalog.to_jsonb(c), 'conenforced')::pg_catalog.bool, true)",
                None,
                &[DatumWithOid::from(touched)],
            )? {
                let (child, parent) = (r.get::<pg_sys::Oid>(2)?.unwrap_or_default(), r.get::<pg_sys::Oid>(3)?.unwrap_or_default());
                out.push((
                    r.get::<String>(1)?.unwrap_or_default(),
                    child,
                    parent,
                    r.get(4)?.unwrap_or_default(),
                    r.get(5)?.unwrap_or_default(),
                    r.get(6)?.unwrap_or_default(),
                    r.get(7)?.unwrap_or_default(),
                    r.get(8)?.unwrap_or_default(),
                ));
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
    })
    .unwrap_or_else(|e| crate::reasons::internal_failure(&format!("listing foreign keys for change {id}"), &e.to_string()));
    if let (Some((name, ..)), Some(t)) = (rows.iter().find(|r| r.6), tables.first()) {
        conflict(id, t, &format!("constraint {name} is a temporal (PERIOD) foreign key, which undo cannot check"), Vec::new());
    }
    // SAFETY: syscache reads inside a transaction.
    let constraints: Vec<ForeignKey> = rows
        .into_iter()
        .map(|(name, child, parent, fk, pk, ops, _, full)| unsafe { foreign_key(name, child, parent, &fk, &pk, &ops, full) })
        .collect::<Option<_>>()
        .unwrap_or_else(|| crate::reasons::internal_failure(&format!("listing foreign keys for change {id}"), "a constraint's columns or operators could not be read"));
    let is = |i: usize, relid: pg_sys::Oid| tables[i].relid == relid || lineage[i].contains(&relid);
    if constraints.is_empty() {
        return;
    }
    let image_row = format!("({ROW_S})");
    let touched: Vec<(Vec<Vec<u8>>, Vec<Vec<u8>>)> = done.iter().map(|(_, inverse)| written_and_removed(inverse)).collect();
    for c in &constraints {
        let mut dangling = 0;
        for (i, (t, (written, removed))) in tables.iter().zip(&touched).enumerate() {
            if is(i, c.child_relid) && !written.is_empty() {
                // Rows the revert wrote into the referencing table find their referenced rows, each
                // locked FOR KEY SHARE first, as Postgres' own check locks it (as the referenced
                // table's owner): a concurrent delete of one waits for this transaction (or,
                // committed first, is seen below).
                let matches = c.matches("interdict_parent").replace("interdict_child.", &format!("{image_row}."));
                let lock = format!(
                    "SELECT pg_catalog.count(*) FROM (SELECT 1 FROM {} interdict_parent WHERE EXISTS (SELECT 1 FROM {} WHERE {} AND {})
                        FOR KEY SHARE OF interdict_parent) AS interdict_locked",
                    c.parent,
                    t.images_as_rows(),
                    c.set(&image_row),
                    matches
                );
                as_table_owner(c.confrelid, || serve(t.rowtype, written, &[], || count(lock, &[Arg::int8(written.len() as i64)])));
                let sql = format!(
                    "SELECT pg_catalog.count(*) FROM {} WHERE {} AND NOT EXISTS (SELECT 1 FROM {} interdict_parent WHERE {})",
                    t.images_as_rows(),
                    c.set(&image_row),
                    c.parent,
                    matches
                );
                dangling += as_table_owner(t.relid, || serve(t.rowtype, written, &[], || count_latest(sql, &[Arg::int8(written.len() as i64)])));
                if c.full {
                    let sql = format!("SELECT pg_catalog.count(*) FROM {} WHERE {}", t.images_as_rows(), c.mixed(&image_row));
                    dangling += serve(t.rowtype, written, &[], || count(sql, &[Arg::int8(written.len() as i64)]));
                }
            }
            if is(i, c.confrelid) && !removed.is_empty() {
                // No row refers to a key the revert removed from the referenced table, unless a row
                // holds that key again.
                let sql = format!(
                    "SELECT pg_catalog.count(*) FROM {} interdict_child WHERE {}
                        AND EXISTS (SELECT 1 FROM {} WHERE {})
                        AND NOT EXISTS (SELECT 1 FROM {} interdict_parent WHERE {})",
                    c.child,
                    c.set("interdict_child"),
                    t.images_as_rows(),
                    c.matches(&image_row),
                    c.parent,
                    c.matches("interdict_parent")
                );
                dangling += as_table_owner(c.child_relid, || serve(t.rowtype, removed, &[], || count_latest(sql, &[Arg::int8(removed.len() as i64)])));
            }
        }
        if dangling > 0 {
            let refusal = refuse(ReasonCode::UndoConflict, id, format!("reverting change {id}"))
                .fact("constraint", c.name.clone())
                .fact("why", format!("{dangling} row(s) would violate the foreign key (rows written since refer to rows the change made)"));
            crate::reasons::raise(&refusal);
        }
    }
}

/// What the session's role lacks of what the revert of `ops` on `relid` writes (the revert writes
/// as the table's owner): `USAGE` on its schema, and `DELETE` to take back inserted rows, `INSERT`
/// to put back deleted ones, `UPDATE` for updated ones. A role whose rights a DBA withdrew reverts
/// nothing there (an operator may).
unsafe fn missing_privilege(relid: pg_sys::Oid, ops: impl Iterator<Item = Op>) -> Option<String> {
    let role = pg_sys::GetSessionUserId();
    let namespace = pg_sys::get_rel_namespace(relid);
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
    let usage = pg_sys::pg_namespace_aclcheck(namespace, role, pg_sys::ACL_USAGE as pg_sys::AclMode);
    #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
    let usage = pg_sys::object_aclcheck(pg_sys::NamespaceRelationId, namespace, role, pg_sys::ACL_USAGE as pg_sys::AclMode);
    if usage != pg_sys::AclResult::ACLCHECK_OK {
        return Some("USAGE on its schema".into());
    }
    let mut needed: Vec<(u32, &str)> = ops
        .map(|op| match op {
            Op::Insert => (pg_sys::ACL_DELETE, "DELETE"),
            Op::Delete => (pg_sys::ACL_INSERT, "INSERT"),
            Op::Update => (pg_sys::ACL_UPDATE, "UPDATE"),
        })
        .collect();
    needed.sort_unstable();
    needed.dedup();
    needed.into_iter().find(|(mode, _)| pg_sys::pg_class_aclcheck(relid, role, *mode as pg_sys::AclMode) != pg_sys::AclResult::ACLCHECK_OK).map(|(_, name)| name.to_string())
}

/// The rows a revert of `rows` writes, per table: an inserted row is deleted, a deleted one inserted.
fn rows_written(rows: &[StoredRow]) -> Vec<TableRows> {
    let mut tables: Vec<TableRows> = Vec::new();
    for row in rows {
        let i = tables.iter().position(|t| t.relid == row.relid).unwrap_or_else(|| {
            tables.push(TableRows { relid: row.relid, ..TableRows::default() });
            tables.len() - 1
        });
        match row.op {
            Op::Insert => tables[i].deleted += 1,
            Op::Delete => tables[i].inserted += 1,
            Op::Update => tables[i].updated += 1,
        }
    }
    tables
}

/// Reverts one change; returns the id of the change that records the revert.
fn revert_one(id: i64, force: bool, count: &dyn Fn(Vec<TableRows>)) -> i64 {
    // The change's row, locked (two reverts of one change wait for each other), with its tables.
    let found = as_guard("reading the change", || {
        Spi::connect_mut(|client| {
            let rows = client.update(
                "SELECT role_id, reverted_by, reverts, table_relids, table_names, table_shapes FROM interdict.changes WHERE id = $1 FOR UPDATE",
                None,
                &[DatumWithOid::from(id)],
            )?;
            let Some(r) = rows.into_iter().next() else { return Ok(None) };
            let tables = (r.get::<Vec<pg_sys::Oid>>(4)?, r.get::<Vec<String>>(5)?, r.get::<Vec<String>>(6)?);
            Ok::<_, pgrx::spi::Error>(Some((r.get::<pg_sys::Oid>(1)?, r.get::<i64>(2)?, r.get::<i64>(3)?, tables)))
        })
    })
    .unwrap_or_else(|e| crate::reasons::internal_failure(&format!("reading change {id}"), &e.to_string()));
    let Some((Some(role), reverted_by, reverts, (Some(relids), Some(names), Some(shapes)))) = found else {
        crate::reasons::raise(&refuse(ReasonCode::UndoNotFound, id, format!("reverting change {id}")));
    };
    if let Some(by) = reverted_by {
        crate::reasons::raise(&refuse(ReasonCode::UndoAlreadyReverted, id, format!("reverting change {id}")).fact("reverted_by", by.to_string()));
    }
    // SAFETY: plain read of a backend global.
    if role != unsafe { pg_sys::GetSessionUserId() } && !crate::facts::roles::is_operator() {
        crate::reasons::raise(&refuse(ReasonCode::UndoNotAllowed, id, format!("reverting change {id}, made by another role")));
    }
    if relids.len() != names.len() || relids.len() != shapes.len() {
        crate::reasons::internal_failure(&format!("reading change {id}"), "its table arrays differ in length");
    }
    // In the order of their oids, as every revert locks them.
    let mut recorded: Vec<(pg_sys::Oid, String, String)> = relids.into_iter().zip(names).zip(shapes).map(|((r, n), s)| (r, n, s)).collect();
    recorded.sort_by_key(|(relid, _, _)| u32::from(*relid));
    let tables: Vec<Table> = recorded.iter().map(|(relid, name, shape)| table_now(id, *relid, name, shape)).collect();
    let mut rows = read_rows(id).unwrap_or_else(|e| crate::reasons::internal_failure(&format!("reading change {id}"), &e));
    if !crate::facts::roles::is_operator() {
        for t in &tables {
            // SAFETY: catalog lookups inside the revert's transaction.
            if let Some(missing) = unsafe { missing_privilege(t.relid, rows.iter().filter(|r| r.relid == t.relid).map(|r| r.op)) } {
                let what = format!("reverting change {id}, which needs {missing} on {} that the role no longer has", t.name);
                crate::reasons::raise(&refuse(ReasonCode::UndoNotAllowed, id, what).fact("table", t.name.clone()).fact("missing_privilege", missing));
            }
        }
    }
    count(rows_written(&rows));
    let done: Vec<_> = tables.iter().map(|t| revert_table(id, t, rows.extract_if(.., |r| r.relid == t.relid).collect(), force)).collect();
    verify_foreign_keys(id, &tables, &done);
    let (mut change, mut summary, mut seq) = (ChangeRows::default(), Vec::new(), 0);
    for (t, (counts, inverse)) in tables.iter().zip(done) {
        // Each inverse event's images are let go as they are packed, and full batches written.
        for (op, old, new) in inverse {
            seq += 1;
            change.row(seq, t.relid, op, old.as_deref(), new.as_deref());
            change.write_ahead_when_full();
        }
        if counts.total() > 0 {
            change.table(t.relid, &t.name, &t.shape, counts);
        }
        summary.push((t.name.clone(), counts.total()));
    }
    let statement = format!("SELECT interdict.revert({id})");
    let new_id = as_guard("recording the revert", || write_change(Target::New { statement: statement.as_bytes(), reverts: Some(id) }, change));
    as_guard("marking the change reverted", || {
        Spi::run_with_args("UPDATE interdict.changes SET reverted_by = $2 WHERE id = $1", &[DatumWithOid::from(id), DatumWithOid::from(new_id)])?;
        // Reverting a revert redoes the original, which can then be reverted again.
        match reverts {
            Some(original) => Spi::run_with_args("UPDATE interdict.changes SET reverted_by = NULL WHERE id = $1", &[DatumWithOid::from(original)]),
            None => Ok(()),
        }
    })
    .unwrap_or_else(|e| crate::reasons::internal_failure(&format!("marking change {id} reverted"), &e.to_string()));
    if crate::statement::simulating() {
        // Rolled back with the simulation: nothing to name as this session's last change.
        crate::messages::notice(&format!("interdict: change {id} would be reverted ({}): simulated, nothing kept", describe_rows(&summary)));
        return new_id;
    }
    super::with(|b| b.last_change = Some(new_id));
    crate::stats::bump(interdict_core::stats::Counter::Reverts, 1);
    crate::messages::notice(&format!(
        "interdict: change {id} reverted ({}); recorded as change {new_id}, undo with SELECT interdict.revert({new_id})",
        describe_rows(&summary)
    ));
    super::note_change(crate::audit::ChangeEntry::new(new_id, summary, Some(id)));
    new_id
}
