//! Facts of a planned statement, from `QueryDesc->plannedstmt`.

use crate::nodes::{list_ints, list_ptrs, relation_name};
use interdict_core::facts::{Operation, PlanFacts};
use pgrx::pg_sys;

/// # Safety
/// `query_desc` is the executor's valid `QueryDesc`, inside a transaction.
pub unsafe fn plan_facts(query_desc: *mut pg_sys::QueryDesc, eflags: i32) -> PlanFacts {
    let pstmt = (*query_desc).plannedstmt;
    let operation = operation((*pstmt).commandType);
    // `PlanRowMark`s below ROW_MARK_REFERENCE lock rows (`plannodes.h: RowMarkRequiresRowShareLock`);
    // REFERENCE/COPY marks only identify rows for an UPDATE/DELETE join.
    let locking_mark = list_ptrs::<pg_sys::PlanRowMark>((*pstmt).rowMarks)
        .find(|m| (**m).markType <= pg_sys::RowMarkType::ROW_MARK_KEYSHARE);
    let row_lock = locking_mark.is_some();
    // Names only for what may be refused: reads pay no catalog lookup.
    let rti = if operation != Operation::Select {
        list_ints((*pstmt).resultRelations).next()
    } else {
        locking_mark.map(|m| (*m).rti as i32)
    };
    let relation = rti.and_then(|rti| {
        let rte = list_ptrs::<pg_sys::RangeTblEntry>((*pstmt).rtable).nth((rti - 1) as usize)?;
        relation_name((*rte).relid)
    });
    PlanFacts {
        operation,
        modifying_cte: (*pstmt).hasModifyingCTE,
        row_lock,
        explain_only: eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 != 0,
        relation,
    }
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
