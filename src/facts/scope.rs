//! Whether an UPDATE or DELETE is scoped: does any condition in its plan restrict the rows of its
//! target? Read from the finished plan, after the planner folded constants, so `WHERE true`,
//! `WHERE 1 = 1` and `x OR true` arrive as no condition at all. A condition restricts the target when
//! it reads one of the target's columns and is not a tautology (`id = id` or `id IS NOT NULL` on a
//! NOT NULL column, an OR with such an arm). A constant-false condition restricts everything.
//! Conditions that read no target column (`EXISTS (SELECT 1 FROM other)`, `now() > …`) select all
//! rows or none, so they do not scope the write. `WHERE CURRENT OF cursor` changes exactly one row.

use crate::nodes::{is_a, list_ints, list_ptrs};
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag::*;

/// The statement's ModifyTable nodes: the main plan's and those of WITH clauses (subplans).
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn modify_tables(pstmt: *mut pg_sys::PlannedStmt) -> Vec<*mut pg_sys::ModifyTable> {
    std::iter::once((*pstmt).planTree)
        .chain(list_ptrs::<pg_sys::Plan>((*pstmt).subplans))
        .filter(|p| is_a(*p as *mut pg_sys::Node, T_ModifyTable))
        .map(|p| p as *mut pg_sys::ModifyTable)
        .collect()
}

/// Whether a MERGE has a `WHEN NOT MATCHED BY SOURCE` action (17+) that updates or deletes with no
/// condition of its own: it reaches every target row the source does not name (an empty source:
/// every row), as an UPDATE or DELETE with no WHERE does. Its other actions reach the rows its
/// join names.
///
/// # Safety
/// `mt` is a valid ModifyTable node.
pub unsafe fn merge_reaches_unnamed_rows(mt: *mut pg_sys::ModifyTable) -> bool {
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    {
        use pg_sys::CmdType::{CMD_DELETE, CMD_UPDATE};
        (*mt).operation == pg_sys::CmdType::CMD_MERGE
            && list_ptrs::<pg_sys::List>((*mt).mergeActionLists).flat_map(|actions| list_ptrs::<pg_sys::MergeAction>(actions)).any(|a| {
                (*a).matchKind == pg_sys::MergeMatchKind::MERGE_WHEN_NOT_MATCHED_BY_SOURCE
                    && matches!((*a).commandType, CMD_UPDATE | CMD_DELETE)
                    && (*a).qual.is_null()
            })
    }
    #[cfg(not(any(feature = "pg17", feature = "pg18")))]
    {
        let _ = mt;
        false // no NOT MATCHED BY SOURCE before 17
    }
}

/// Whether this UPDATE/DELETE has a condition that restricts its target's rows.
///
/// # Safety
/// `mt` is a ModifyTable node of `pstmt`; called inside a transaction (catalog lookups).
pub unsafe fn is_scoped(pstmt: *mut pg_sys::PlannedStmt, mt: *mut pg_sys::ModifyTable) -> bool {
    let mut targets: Vec<i32> = list_ints((*mt).resultRelations).collect();
    targets.push((*mt).nominalRelation as i32);
    let walk = Walk { pstmt, targets };
    walk.plan_restricts((*mt).plan.lefttree)
}

struct Walk {
    pstmt: *mut pg_sys::PlannedStmt,
    targets: Vec<i32>,
}

impl Walk {
    unsafe fn plan_restricts(&self, plan: *mut pg_sys::Plan) -> bool {
        if plan.is_null() {
            return false;
        }
        let node = plan as *mut pg_sys::Node;
        let scanrelid = match (*node).type_ {
            T_SeqScan | T_SampleScan | T_IndexScan | T_IndexOnlyScan | T_BitmapHeapScan | T_BitmapIndexScan
            | T_TidScan | T_SubqueryScan | T_FunctionScan | T_ValuesScan | T_ForeignScan
            | T_CustomScan => (*(plan as *mut pg_sys::Scan)).scanrelid as i32,
            _ => 0,
        };
        let mut quals = vec![(*plan).qual];
        match (*node).type_ {
            T_IndexScan => quals.push((*(plan as *mut pg_sys::IndexScan)).indexqualorig),
            T_BitmapIndexScan => quals.push((*(plan as *mut pg_sys::BitmapIndexScan)).indexqualorig),
            T_BitmapHeapScan => quals.push((*(plan as *mut pg_sys::BitmapHeapScan)).bitmapqualorig),
            T_TidScan => quals.push((*(plan as *mut pg_sys::TidScan)).tidquals),
            T_NestLoop | T_MergeJoin | T_HashJoin => quals.push((*(plan as *mut pg_sys::Join)).joinqual),
            T_Result => quals.push((*(plan as *mut pg_sys::Result)).resconstantqual as *mut pg_sys::List),
            _ => {}
        }
        match (*node).type_ {
            T_MergeJoin => quals.push((*(plan as *mut pg_sys::MergeJoin)).mergeclauses),
            T_HashJoin => quals.push((*(plan as *mut pg_sys::HashJoin)).hashclauses),
            _ => {}
        }
        if quals.iter().any(|q| self.list_restricts(*q, scanrelid)) {
            return true;
        }
        let children: Vec<*mut pg_sys::Plan> = match (*node).type_ {
            T_Append => list_ptrs((*(plan as *mut pg_sys::Append)).appendplans).collect(),
            T_MergeAppend => list_ptrs((*(plan as *mut pg_sys::MergeAppend)).mergeplans).collect(),
            T_BitmapAnd => list_ptrs((*(plan as *mut pg_sys::BitmapAnd)).bitmapplans).collect(),
            T_BitmapOr => list_ptrs((*(plan as *mut pg_sys::BitmapOr)).bitmapplans).collect(),
            T_SubqueryScan => vec![(*(plan as *mut pg_sys::SubqueryScan)).subplan],
            T_CustomScan => list_ptrs((*(plan as *mut pg_sys::CustomScan)).custom_plans).collect(),
            _ => vec![(*plan).lefttree, (*plan).righttree],
        };
        children.into_iter().any(|c| self.plan_restricts(c))
    }

    /// An implicitly ANDed list of conditions: restricts if any one does.
    unsafe fn list_restricts(&self, list: *mut pg_sys::List, scanrelid: i32) -> bool {
        if is_a(list as *mut pg_sys::Node, T_List) {
            list_ptrs::<pg_sys::Node>(list).any(|c| self.clause_restricts(c, scanrelid))
        } else {
            // resconstantqual may be a bare expression
            self.clause_restricts(list as *mut pg_sys::Node, scanrelid)
        }
    }

    unsafe fn clause_restricts(&self, clause: *mut pg_sys::Node, scanrelid: i32) -> bool {
        if clause.is_null() {
            return false;
        }
        if is_false_const(clause) {
            return true;
        }
        if is_a(clause, T_CurrentOfExpr) {
            // `WHERE CURRENT OF cursor`: exactly the row the cursor is on.
            let rti = (*(clause as *mut pg_sys::CurrentOfExpr)).cvarno as i32;
            return self.targets.contains(&rti) || (rti == scanrelid && scanrelid > 0);
        }
        if is_a(clause, T_BoolExpr) && (*(clause as *mut pg_sys::BoolExpr)).boolop == pg_sys::BoolExprType::AND_EXPR {
            return list_ptrs::<pg_sys::Node>((*(clause as *mut pg_sys::BoolExpr)).args).any(|c| self.clause_restricts(c, scanrelid));
        }
        self.reads_target(clause, scanrelid) && !self.is_tautology(clause, scanrelid)
    }

    /// The relation a Var reads, as a range-table index: scan-level Vars carry it in `varno`
    /// (`INDEX_VAR` means the scan's own relation), join-level Vars in `varnosyn`.
    unsafe fn var_rti(&self, var: *mut pg_sys::Var, scanrelid: i32) -> (i32, i16) {
        let varno = (*var).varno as i32;
        if varno == pg_sys::INDEX_VAR as i32 {
            (scanrelid, (*var).varattno)
        } else if varno == pg_sys::OUTER_VAR as i32 || varno == pg_sys::INNER_VAR as i32 {
            ((*var).varnosyn as i32, (*var).varattnosyn)
        } else {
            (varno, (*var).varattno)
        }
    }

    unsafe fn reads_target(&self, clause: *mut pg_sys::Node, scanrelid: i32) -> bool {
        let flags = (pg_sys::PVC_RECURSE_AGGREGATES | pg_sys::PVC_RECURSE_WINDOWFUNCS | pg_sys::PVC_RECURSE_PLACEHOLDERS) as i32;
        let vars = pg_sys::pull_var_clause(clause, flags);
        list_ptrs::<pg_sys::Node>(vars)
            .filter(|v| is_a(*v, T_Var))
            .any(|v| self.targets.contains(&self.var_rti(v as *mut pg_sys::Var, scanrelid).0))
    }

    /// Always true for every row of the target: `v = v`, `v <= v`, `v >= v` or `v IS NOT NULL` on a
    /// NOT NULL column, an OR with such an arm, an AND of them, or constant true.
    unsafe fn is_tautology(&self, clause: *mut pg_sys::Node, scanrelid: i32) -> bool {
        match (*clause).type_ {
            T_Const => {
                let c = clause as *mut pg_sys::Const;
                (*c).consttype == pg_sys::BOOLOID && !(*c).constisnull && (*c).constvalue.value() != 0
            }
            T_BoolExpr => {
                let b = clause as *mut pg_sys::BoolExpr;
                let mut args = list_ptrs::<pg_sys::Node>((*b).args);
                match (*b).boolop {
                    pg_sys::BoolExprType::OR_EXPR => args.any(|a| self.is_tautology(a, scanrelid)),
                    pg_sys::BoolExprType::AND_EXPR => args.all(|a| self.is_tautology(a, scanrelid)),
                    pg_sys::BoolExprType::NOT_EXPR => args.next().is_some_and(|a| is_self_distinct(a)),
                    _ => false,
                }
            }
            T_OpExpr => {
                let op = clause as *mut pg_sys::OpExpr;
                let args: Vec<*mut pg_sys::Node> = list_ptrs((*op).args).collect();
                let name = crate::nodes::cstr(pg_sys::get_opname((*op).opno)).unwrap_or_default();
                args.len() == 2
                    && matches!(name.as_str(), "=" | "<=" | ">=")
                    && pg_sys::equal(args[0] as *const _, args[1] as *const _)
                    && self.not_null_var(args[0], scanrelid)
            }
            T_NullTest => {
                let t = clause as *mut pg_sys::NullTest;
                (*t).nulltesttype == pg_sys::NullTestType::IS_NOT_NULL && self.not_null_var((*t).arg as *mut pg_sys::Node, scanrelid)
            }
            _ => false,
        }
    }

    /// A (possibly relabelled) Var on a NOT NULL column of a plain relation.
    unsafe fn not_null_var(&self, mut node: *mut pg_sys::Node, scanrelid: i32) -> bool {
        while is_a(node, T_RelabelType) {
            node = (*(node as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
        if !is_a(node, T_Var) {
            return false;
        }
        let (rti, attno) = self.var_rti(node as *mut pg_sys::Var, scanrelid);
        if rti <= 0 || attno <= 0 {
            return false;
        }
        let Some(rte) = list_ptrs::<pg_sys::RangeTblEntry>((*self.pstmt).rtable).nth((rti - 1) as usize) else {
            return false;
        };
        (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION && attnotnull((*rte).relid, attno)
    }
}

/// `pg_attribute.attnotnull` (lsyscache has no reader for it before PG17).
unsafe fn attnotnull(relid: pg_sys::Oid, attno: i16) -> bool {
    let tup = pg_sys::SearchSysCache2(
        pg_sys::SysCacheIdentifier::ATTNUM as i32,
        pg_sys::Datum::from(relid),
        pg_sys::Datum::from(attno as i32),
    );
    if tup.is_null() {
        return false;
    }
    let notnull = (*(pg_sys::GETSTRUCT(tup) as *mut pg_sys::FormData_pg_attribute)).attnotnull;
    pg_sys::ReleaseSysCache(tup);
    notnull
}

/// `x IS DISTINCT FROM x` for the same non-volatile `x`: false for every row, NULLs included, so
/// its negation (`x IS NOT DISTINCT FROM x`) is always true.
unsafe fn is_self_distinct(node: *mut pg_sys::Node) -> bool {
    if !is_a(node, T_DistinctExpr) {
        return false;
    }
    let args: Vec<*mut pg_sys::Node> = list_ptrs((*(node as *mut pg_sys::DistinctExpr)).args).collect();
    args.len() == 2 && pg_sys::equal(args[0] as *const _, args[1] as *const _) && !pg_sys::contain_volatile_functions(args[0])
}

unsafe fn is_false_const(node: *mut pg_sys::Node) -> bool {
    if !is_a(node, T_Const) {
        return false;
    }
    let c = node as *mut pg_sys::Const;
    (*c).consttype == pg_sys::BOOLOID && ((*c).constisnull || (*c).constvalue.value() == 0)
}
