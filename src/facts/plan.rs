//! Facts of a planned statement, from `QueryDesc->plannedstmt`.

use crate::facts::scope::{is_scoped, modify_tables};
use crate::nodes::{list_ints, list_ptrs, relation_name};
use interdict_core::facts::{Operation, PlanFacts};
use pgrx::pg_sys;

/// # Safety
/// `pstmt` is a valid planned statement, inside a transaction.
pub unsafe fn plan_facts(pstmt: *mut pg_sys::PlannedStmt, explain_only: bool, guarded: bool) -> PlanFacts {
    let operation = operation((*pstmt).commandType);
    // `PlanRowMark`s below ROW_MARK_REFERENCE lock rows (`plannodes.h: RowMarkRequiresRowShareLock`);
    // REFERENCE/COPY marks only identify rows for an UPDATE/DELETE join, unless a locking clause
    // asked for them (`strength`): a foreign table's FOR UPDATE is a COPY mark its FDW turns into a
    // lock on the remote server.
    let locking_mark = list_ptrs::<pg_sys::PlanRowMark>((*pstmt).rowMarks)
        .find(|m| (**m).markType <= pg_sys::RowMarkType::ROW_MARK_KEYSHARE || (**m).strength != pg_sys::LockClauseStrength::LCS_NONE);
    let row_lock = locking_mark.is_some();
    // Names only for what may be refused: reads pay no catalog lookup.
    let rti = if operation != Operation::Select {
        list_ints((*pstmt).resultRelations).next()
    } else {
        locking_mark.map(|m| (*m).rti as i32)
    };
    let mut facts = PlanFacts {
        operation,
        modifying_cte: (*pstmt).hasModifyingCTE,
        row_lock,
        explain_only,
        relation: None,
        unscoped: if guarded { unscoped_writes(pstmt) } else { Vec::new() },
        guard_schema_write: if guarded { guard_schema_write(pstmt) } else { None },
        triggers_off: pg_sys::SessionReplicationRole != pg_sys::SESSION_REPLICATION_ROLE_ORIGIN as i32,
    };
    // The name is only for an error: a guarded write that nothing refuses skips the catalog lookup.
    let may_refuse = !guarded || !facts.unscoped.is_empty() || facts.guard_schema_write.is_some() || facts.triggers_off;
    if may_refuse {
        facts.relation = rti.and_then(|rti| rti_relid(pstmt, rti)).and_then(|r| relation_name(r));
    }
    facts
}

/// UPDATEs and DELETEs no condition scopes (see `scope.rs`), as `DELETE on schema.table`. The
/// session's own temporary tables are its scratch: an unscoped write to one is no shared damage.
unsafe fn unscoped_writes(pstmt: *mut pg_sys::PlannedStmt) -> Vec<String> {
    if (*pstmt).commandType == pg_sys::CmdType::CMD_SELECT && !(*pstmt).hasModifyingCTE {
        return Vec::new();
    }
    modify_tables(pstmt)
        .into_iter()
        .filter(|mt| !rti_relid(pstmt, (**mt).nominalRelation as i32).is_some_and(crate::nodes::is_session_temp))
        .filter(|mt| match (**mt).operation {
            pg_sys::CmdType::CMD_UPDATE | pg_sys::CmdType::CMD_DELETE => !is_scoped(pstmt, *mt),
            _ => crate::facts::scope::merge_reaches_unnamed_rows(*mt),
        })
        .map(|mt| {
            let rel = rti_relid(pstmt, (*mt).nominalRelation as i32).and_then(|r| relation_name(r)).unwrap_or_default();
            format!("{} on {rel}", operation((*mt).operation).as_str())
        })
        .collect()
}

/// A relation of the `interdict` schema among the statement's result relations.
unsafe fn guard_schema_write(pstmt: *mut pg_sys::PlannedStmt) -> Option<String> {
    if (*pstmt).resultRelations.is_null() {
        return None; // reads: no catalog lookup
    }
    let schema = crate::facts::guard_objects::interdict_namespace();
    if schema == pg_sys::InvalidOid {
        return None;
    }
    list_ints((*pstmt).resultRelations)
        .filter_map(|rti| rti_relid(pstmt, rti))
        .find(|relid| pg_sys::get_rel_namespace(*relid) == schema)
        .and_then(|relid| relation_name(relid))
}

/// Tables the statement writes (its result relations, WITH clauses included) and every table it
/// reads, `schema.name`, each followed by its ancestors' names (`nodes::names_with_ancestors`), for a
/// policy's table rules.
///
/// # Safety
/// `pstmt` is a valid planned statement, inside a transaction.
pub unsafe fn plan_tables(pstmt: *mut pg_sys::PlannedStmt) -> (Vec<String>, Vec<String>) {
    let written = list_ints((*pstmt).resultRelations).filter_map(|rti| rti_relid(pstmt, rti)).flat_map(|r| crate::nodes::names_with_ancestors(r)).collect();
    let read = list_ptrs::<pg_sys::RangeTblEntry>((*pstmt).rtable)
        .filter(|rte| (**rte).rtekind == pg_sys::RTEKind::RTE_RELATION)
        .flat_map(|rte| crate::nodes::names_with_ancestors((*rte).relid))
        .collect();
    (written, read)
}

/// The relation OID behind a range-table index.
pub unsafe fn rti_relid(pstmt: *mut pg_sys::PlannedStmt, rti: i32) -> Option<pg_sys::Oid> {
    if rti <= 0 {
        return None;
    }
    let rte = list_ptrs::<pg_sys::RangeTblEntry>((*pstmt).rtable).nth((rti - 1) as usize)?;
    ((*rte).rtekind == pg_sys::RTEKind::RTE_RELATION).then(|| (*rte).relid)
}

fn operation(cmd: pg_sys::CmdType::Type) -> Operation {
    match cmd {
        pg_sys::CmdType::CMD_SELECT => Operation::Select,
        pg_sys::CmdType::CMD_INSERT => Operation::Insert,
        pg_sys::CmdType::CMD_UPDATE => Operation::Update,
        pg_sys::CmdType::CMD_DELETE => Operation::Delete,
        #[cfg(not(any(feature = "pg13", feature = "pg14")))]
        pg_sys::CmdType::CMD_MERGE => Operation::Merge,
        _ => Operation::Unknown,
    }
}
