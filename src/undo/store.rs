//! Writing a change: one statement per write, from plans prepared once per backend and kept
//! (`SPI_keepplan`). A change's rows and its per-table counts travel as arrays, so one execution
//! stores a whole statement's change, however many rows and tables it touched. Runs inside
//! [`crate::guard_sql::as_guard`] (as the extension's owner, search path pinned, our hooks standing aside).

use crate::cell::BackendCell;
use interdict_core::undo::Op;
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

    pub fn total(&self) -> i64 {
        self.inserted + self.updated + self.deleted
    }
}

/// What one write adds to a change: row images (in order) and rows per table.
#[derive(Default)]
pub struct ChangeRows {
    seqs: Vec<i64>,
    relids: Vec<pg_sys::Oid>,
    ops: Vec<String>,
    olds: Vec<Option<String>>,
    news: Vec<Option<String>>,
    table_relids: Vec<pg_sys::Oid>,
    table_names: Vec<String>,
    table_shapes: Vec<String>,
    inserted: Vec<i64>,
    updated: Vec<i64>,
    deleted: Vec<i64>,
}

impl ChangeRows {
    pub fn row(&mut self, seq: i64, relid: pg_sys::Oid, op: Op, old: Option<String>, new: Option<String>) {
        self.seqs.push(seq);
        self.relids.push(relid);
        self.ops.push(op.letter().to_string());
        self.olds.push(old);
        self.news.push(new);
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
    New { statement: &'a str, reverts: Option<i64> },
    Existing(i64),
}

const NEW_CHANGE: &str = r#"
WITH c AS (
    INSERT INTO interdict.changes (role_id, role_name, application_name, agent, xid, statement, reverts)
    VALUES ($1, pg_catalog.pg_get_userbyid($1), pg_catalog.current_setting('application_name'),
            NULLIF(pg_catalog.current_setting('interdict.agent', true), ''), pg_catalog.pg_current_xact_id(), $2, $3)
    RETURNING id),
r AS (
    INSERT INTO interdict.change_rows (change_id, seq, relid, op, old_row, new_row)
    SELECT c.id, u.s, u.r, u.o::"char", u.a, u.b FROM c,
           ROWS FROM (pg_catalog.unnest($4::bigint[]), pg_catalog.unnest($5::oid[]), pg_catalog.unnest($6::text[]),
                      pg_catalog.unnest($7::text[]), pg_catalog.unnest($8::text[])) AS u(s, r, o, a, b)),
t AS (
    INSERT INTO interdict.change_tables (change_id, relid, table_name, shape, inserted, updated, deleted)
    SELECT c.id, x.r, x.n, x.h, x.i, x.u, x.d FROM c,
           ROWS FROM (pg_catalog.unnest($9::oid[]), pg_catalog.unnest($10::text[]), pg_catalog.unnest($11::text[]),
                      pg_catalog.unnest($12::bigint[]), pg_catalog.unnest($13::bigint[]), pg_catalog.unnest($14::bigint[])) AS x(r, n, h, i, u, d))
SELECT id FROM c"#;

const ADD_TO_CHANGE: &str = r#"
WITH r AS (
    INSERT INTO interdict.change_rows (change_id, seq, relid, op, old_row, new_row)
    SELECT $1, u.s, u.r, u.o::"char", u.a, u.b
      FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::oid[]), pg_catalog.unnest($4::text[]),
                      pg_catalog.unnest($5::text[]), pg_catalog.unnest($6::text[])) AS u(s, r, o, a, b))
INSERT INTO interdict.change_tables AS t (change_id, relid, table_name, shape, inserted, updated, deleted)
SELECT $1, x.r, x.n, x.h, x.i, x.u, x.d
  FROM ROWS FROM (pg_catalog.unnest($7::oid[]), pg_catalog.unnest($8::text[]), pg_catalog.unnest($9::text[]),
                  pg_catalog.unnest($10::bigint[]), pg_catalog.unnest($11::bigint[]), pg_catalog.unnest($12::bigint[])) AS x(r, n, h, i, u, d)
ON CONFLICT (change_id, relid) DO UPDATE SET inserted = t.inserted + EXCLUDED.inserted,
       updated = t.updated + EXCLUDED.updated, deleted = t.deleted + EXCLUDED.deleted"#;

/// The two plans, prepared on first use and kept for the backend's life.
struct Plans {
    new_change: OwnedPreparedStatement,
    add_to_change: OwnedPreparedStatement,
}

static PLANS: BackendCell<Option<Plans>> = BackendCell::new(None);

fn prepare() -> Result<Plans, pgrx::spi::Error> {
    let oid = |o: pg_sys::Oid| PgOid::from(o);
    let rows = [pg_sys::INT8ARRAYOID, pg_sys::OIDARRAYOID, pg_sys::TEXTARRAYOID, pg_sys::TEXTARRAYOID, pg_sys::TEXTARRAYOID];
    let tables = [pg_sys::OIDARRAYOID, pg_sys::TEXTARRAYOID, pg_sys::TEXTARRAYOID, pg_sys::INT8ARRAYOID, pg_sys::INT8ARRAYOID, pg_sys::INT8ARRAYOID];
    let new_args: Vec<PgOid> = [pg_sys::OIDOID, pg_sys::TEXTOID, pg_sys::INT8OID].into_iter().chain(rows).chain(tables).map(oid).collect();
    let add_args: Vec<PgOid> = [pg_sys::INT8OID].into_iter().chain(rows).chain(tables).map(oid).collect();
    Spi::connect(|client| {
        Ok(Plans {
            new_change: client.prepare_mut(NEW_CHANGE, &new_args)?.keep(),
            add_to_change: client.prepare_mut(ADD_TO_CHANGE, &add_args)?.keep(),
        })
    })
}

/// Stores `rows` into `target`; returns the change's id. Runs inside `as_guard`.
pub fn write_change(target: Target, rows: ChangeRows) -> i64 {
    // Taken out while in use (the statements below run our hooks), put back after; an error drops
    // them, and the next write prepares them again.
    let plans = match PLANS.with(Option::take) {
        Some(p) => p,
        None => prepare().unwrap_or_else(|e| crate::reasons::internal_failure("preparing undo's statements", &e.to_string())),
    };
    let ChangeRows { seqs, relids, ops, olds, news, table_relids, table_names, table_shapes, inserted, updated, deleted } = rows;
    let mut args = vec![
        DatumWithOid::from(seqs),
        DatumWithOid::from(relids),
        DatumWithOid::from(ops),
        DatumWithOid::from(olds),
        DatumWithOid::from(news),
        DatumWithOid::from(table_relids),
        DatumWithOid::from(table_names),
        DatumWithOid::from(table_shapes),
        DatumWithOid::from(inserted),
        DatumWithOid::from(updated),
        DatumWithOid::from(deleted),
    ];
    let stored = Spi::connect_mut(|client| match target {
        Target::New { statement, reverts } => {
            // SAFETY: plain read of a backend global.
            let role = unsafe { pg_sys::GetSessionUserId() };
            let head = [DatumWithOid::from(role), DatumWithOid::from(statement), DatumWithOid::from(reverts)];
            args.splice(0..0, head);
            let rows = client.update(&plans.new_change, None, &args)?;
            rows.first().get_one::<i64>()
        }
        Target::Existing(id) => {
            args.insert(0, DatumWithOid::from(id));
            client.update(&plans.add_to_change, None, &args)?;
            Ok(Some(id))
        }
    });
    PLANS.set(Some(plans));
    match stored {
        Ok(Some(id)) => id,
        Ok(None) => crate::reasons::internal_failure("recording the change", "the insert returned no id"),
        Err(e) => crate::reasons::internal_failure("recording the change", &e.to_string()),
    }
}
