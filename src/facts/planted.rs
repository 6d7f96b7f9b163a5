//! Code an agent session leaves where other sessions run it, unguarded: a function of the agent's
//! in an index's or extended statistics' expression (autovacuum's `ANALYZE`, any session's writes
//! and `REINDEX` evaluate it), or in another role's relation's `CHECK`, default, view or policy; a
//! table of the agent's inheriting from or partitioning another role's table (the agent's triggers
//! on it fire for the other role's statements on the parent). Read
//! from the catalog after the statement (with the guard's own SQL), like `temporary.rs`. (Another
//! role's function replaced or altered is refused as Postgres does it, in the object-access hook.)

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::{SpiError, SpiHeapTupleData};

/// Whether role `owner` is the session's role, or one it is a member of (superuser rights not
/// counting: a superuser agent's code is still the agent's).
pub fn the_agents(owner: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups inside a transaction.
    unsafe {
        let me = pg_sys::GetSessionUserId();
        owner == me || pg_sys::is_member_of_role_nosuper(me, owner)
    }
}

/// Functions of roles' own (not Postgres') that the code a relation carries calls (`pg_depend`):
/// its indexes' and extended statistics' expressions and predicates, which autovacuum's `ANALYZE`
/// and every session's writes and `REINDEX` evaluate whoever owns them (an `EXCLUDE` constraint's
/// index too), and its `CHECK`s, defaults, generated columns, rules (a view's query) and row
/// policies, which run in every session that writes or reads it: (what calls what, the function's
/// owner, evaluated by maintenance, the relation's owner).
const RELATION_FUNCTIONS: &str = "
WITH code (classid, objid, maintenance) AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, indexrelid, true FROM pg_catalog.pg_index WHERE indrelid OPERATOR(pg_catalog.=) $1
    UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, oid, true FROM pg_catalog.pg_statistic_ext WHERE stxrelid OPERATOR(pg_catalog.=) $1
    UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, oid, false FROM pg_catalog.pg_constraint WHERE conrelid OPERATOR(pg_catalog.=) $1
    UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, oid, false FROM pg_catalog.pg_attrdef WHERE adrelid OPERATOR(pg_catalog.=) $1
    UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, oid, false FROM pg_catalog.pg_rewrite WHERE ev_class OPERATOR(pg_catalog.=) $1
    UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, oid, false FROM pg_catalog.pg_policy WHERE polrelid OPERATOR(pg_catalog.=) $1)
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0) OPERATOR(pg_catalog.||) ' calls function '
       OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure::pg_catalog.text, p.proowner, c.maintenance,
       (SELECT r.relowner FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) $1)
FROM code c
JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) c.classid AND d.objid OPERATOR(pg_catalog.=) c.objid
JOIN pg_catalog.pg_proc p ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                         AND d.refobjid OPERATOR(pg_catalog.=) p.oid
WHERE p.oid OPERATOR(pg_catalog.>=) $2";

/// Code of the agent's that relation `relid` now carries where other sessions run it: a function
/// of the agent's in an index's or extended statistics' expression (autovacuum runs it, on any
/// table), or in a `CHECK`, default, view query or policy of another role's relation. Described as
/// (what calls what, where it runs). (The agent's own tables' `CHECK`s and defaults run in other
/// sessions only as readonly code: `agent_code.rs`.)
pub fn agent_code_on(relid: pg_sys::Oid) -> Option<(String, String)> {
    let args = [DatumWithOid::from(relid), DatumWithOid::from(pg_sys::Oid::from(pg_sys::FirstNormalObjectId))];
    let found = guard_rows("reading the functions a relation's code calls", RELATION_FUNCTIONS, &args, |row| {
        Ok(match (row.get::<String>(1)?, row.get::<pg_sys::Oid>(2)?, row.get::<bool>(3)?, row.get::<pg_sys::Oid>(4)?) {
            (Some(what), Some(owner), Some(maintenance), Some(relowner)) => Some((what, owner, maintenance, relowner)),
            _ => None,
        })
    });
    found.into_iter().filter(|(_, owner, ..)| the_agents(*owner)).find_map(|(what, _, maintenance, relowner)| {
        if maintenance {
            Some((what, "autovacuum's ANALYZE and every session writing or reindexing the table".to_string()))
        } else {
            (!the_agents(relowner)).then(|| (what, "every session writing or reading another role's relation".to_string()))
        }
    })
}

/// The parents of `relid` (`pg_inherits`: inheritance or a partitioned table), with their owners.
const PARENTS: &str = "
SELECT i.inhparent::pg_catalog.regclass::pg_catalog.text, c.relowner
FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhparent
WHERE i.inhrelid OPERATOR(pg_catalog.=) $1";

/// A parent of `relid` that another role owns, described as (table, parent).
pub fn others_parent(relid: pg_sys::Oid) -> Option<(String, String)> {
    let parents = rows("reading a table's parents", PARENTS, &[DatumWithOid::from(relid)]);
    let (parent, _) = parents.into_iter().find(|(_, owner)| !the_agents(*owner))?;
    // SAFETY: a catalog lookup inside a transaction.
    let table = unsafe { crate::nodes::relation_name(relid) }.unwrap_or_default();
    Some((format!("table {table}"), format!("another role's table {parent}")))
}

/// Rows of (text, owner) from the guard's own query `sql`.
fn rows(doing: &str, sql: &str, args: &[DatumWithOid]) -> Vec<(String, pg_sys::Oid)> {
    guard_rows(doing, sql, args, |row| Ok(row.get::<String>(1)?.zip(row.get::<pg_sys::Oid>(2)?)))
}

/// What the guard's own query `sql` returns, each row as `read` reads it (`None`: skipped).
fn guard_rows<T>(doing: &str, sql: &str, args: &[DatumWithOid], read: impl Fn(&SpiHeapTupleData) -> Result<Option<T>, SpiError>) -> Vec<T> {
    crate::guard_sql::as_guard(doing, || {
        pgrx::Spi::connect(|client| {
            let mut out = Vec::new();
            for row in client.select(sql, None, args)? {
                out.extend(read(&row)?);
            }
            Ok::<_, SpiError>(out)
        })
        .unwrap_or_default()
    })
}

/// Names other sessions would resolve to the agent's object instead of what they mean: a function
/// or operator named as one of `pg_catalog`'s (Postgres picks the best-fitting argument types
/// across the search path: `public.count(int4)` answers `count(id)` before `pg_catalog.count("any")`),
/// a schema named after another role (`"$user"` in every search path finds it first).
const SHADOWS: &str = "
SELECT pg_catalog.pg_describe_object($1, $2, 0), 'pg_catalog.' OPERATOR(pg_catalog.||) p.proname
  FROM pg_catalog.pg_proc p
 WHERE $1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid OPERATOR(pg_catalog.=) $2
   AND p.pronamespace OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace
   AND EXISTS (SELECT FROM pg_catalog.pg_proc q WHERE q.proname OPERATOR(pg_catalog.=) p.proname
                  AND q.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace)
UNION ALL
SELECT pg_catalog.pg_describe_object($1, $2, 0), 'pg_catalog.' OPERATOR(pg_catalog.||) o.oprname
  FROM pg_catalog.pg_operator o
 WHERE $1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass AND o.oid OPERATOR(pg_catalog.=) $2
   AND o.oprnamespace OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace
   AND EXISTS (SELECT FROM pg_catalog.pg_operator q WHERE q.oprname OPERATOR(pg_catalog.=) o.oprname
                  AND q.oprnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace)
UNION ALL
SELECT pg_catalog.pg_describe_object($1, $2, 0), 'the schema \"$user\" names for role ' OPERATOR(pg_catalog.||) n.nspname
  FROM pg_catalog.pg_namespace n
 WHERE $1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass AND n.oid OPERATOR(pg_catalog.=) $2
   AND EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) n.nspname
                  AND r.oid OPERATOR(pg_catalog.<>) $3)";

/// What object `object_id` of catalog `class_id` would shadow for other sessions, if anything:
/// (the object, what it shadows).
pub fn shadows(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> Option<(String, String)> {
    if ![pg_sys::ProcedureRelationId, pg_sys::OperatorRelationId, pg_sys::NamespaceRelationId].contains(&class_id) {
        return None;
    }
    // SAFETY: a plain read of a backend global.
    let me = unsafe { pg_sys::GetSessionUserId() };
    let args = [DatumWithOid::from(class_id), DatumWithOid::from(object_id), DatumWithOid::from(me)];
    guard_rows("reading what a new name shadows", SHADOWS, &args, |row| Ok(row.get::<String>(1)?.zip(row.get::<String>(2)?))).into_iter().next()
}
