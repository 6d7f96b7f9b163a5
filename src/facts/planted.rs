//! Code an agent session leaves where other sessions run it, unguarded: a function of the agent's
//! in an index's expression or predicate (autovacuum's `ANALYZE`, any session's writes and
//! `REINDEX` evaluate it), a table of the agent's inheriting from or partitioning another role's
//! table (the agent's triggers on it fire for the other role's statements on the parent). Read
//! from the catalog after the statement (with the guard's own SQL), like `temporary.rs`. (Another
//! role's function replaced or altered is refused as Postgres does it, in the object-access hook.)

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;

/// Whether role `owner` is the session's role, or one it is a member of (superuser rights not
/// counting: a superuser agent's code is still the agent's).
pub fn the_agents(owner: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups inside a transaction.
    unsafe {
        let me = pg_sys::GetSessionUserId();
        owner == me || pg_sys::is_member_of_role_nosuper(me, owner)
    }
}

/// Functions the indexes of `relid` call in their expressions or predicates (`pg_depend`), that
/// are not Postgres' own: (index and function, the function's owner).
const INDEX_FUNCTIONS: &str = "
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0) OPERATOR(pg_catalog.||) ' calls function '
       OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure::pg_catalog.text, p.proowner
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                           AND d.objid OPERATOR(pg_catalog.=) i.indexrelid
JOIN pg_catalog.pg_proc p ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                         AND d.refobjid OPERATOR(pg_catalog.=) p.oid
WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND p.oid OPERATOR(pg_catalog.>=) $2";

/// An index of `relid` that calls a function of the agent's, described as (index and function,
/// where it runs).
pub fn agent_function_in_index(relid: pg_sys::Oid) -> Option<(String, String)> {
    let args = [DatumWithOid::from(relid), DatumWithOid::from(pg_sys::Oid::from(pg_sys::FirstNormalObjectId))];
    let (found, _) = rows("reading the functions indexes call", INDEX_FUNCTIONS, &args).into_iter().find(|(_, owner)| the_agents(*owner))?;
    Some((found, "autovacuum's ANALYZE and every session writing or reindexing the table".into()))
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
    crate::guard_sql::as_guard(doing, || {
        pgrx::Spi::connect(|client| {
            let mut out = Vec::new();
            for row in client.select(sql, None, args)? {
                if let (Some(what), Some(owner)) = (row.get::<String>(1)?, row.get::<pg_sys::Oid>(2)?) {
                    out.push((what, owner));
                }
            }
            Ok::<_, pgrx::spi::Error>(out)
        })
        .unwrap_or_default()
    })
}
