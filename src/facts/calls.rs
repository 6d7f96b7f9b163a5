//! Calls in a plan's expressions, with their arguments: for decisions that depend on a constant
//! argument (`lo_open(oid, INV_WRITE)`). Walked only when the function-execute hook meets such a
//! function, with the plan being started (see `hooks/executor.rs`), so other statements pay nothing.

use crate::nodes::{is_a, list_ptrs};
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag::*;
use std::ffi::c_void;

/// `libpq/libpq-fs.h`: the large-object open mode that allows writing.
const INV_WRITE: i64 = 0x0002_0000;

/// The walker callback's type (`nodeFuncs.h: tree_walker_callback`).
type Walker = unsafe extern "C-unwind" fn(node: *mut pg_sys::Node, context: *mut c_void) -> bool;

extern "C-unwind" {
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
    #[link_name = "expression_tree_walker"]
    fn walk_expression(node: *mut pg_sys::Node, walker: Walker, context: *mut c_void) -> bool;
    #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
    #[link_name = "expression_tree_walker_impl"]
    fn walk_expression(node: *mut pg_sys::Node, walker: Walker, context: *mut c_void) -> bool;
}

/// Whether the plan calls `lo_open` with a constant mode that includes `INV_WRITE`.
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn opens_large_object_for_write(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    let mut found = false;
    let plans = std::iter::once((*pstmt).planTree).chain(list_ptrs::<pg_sys::Plan>((*pstmt).subplans));
    for plan in plans {
        each_expression(plan, &mut |expr| {
            if !found {
                // A tree the walker does not know is no reason to refuse: the writes themselves are.
                found = pgrx::PgTryBuilder::new(|| pg_sys::ffi::pg_guard_ffi_boundary(|| walk(expr, lo_open_for_write)))
                    .catch_others(|_| false)
                    .execute();
            }
        });
    }
    found
}

unsafe fn walk(node: *mut pg_sys::Node, walker: Walker) -> bool {
    !node.is_null() && walker(node, std::ptr::null_mut())
}

/// `expression_tree_walker`'s callback: true (stop) at a `lo_open(…, constant with INV_WRITE)`.
unsafe extern "C-unwind" fn lo_open_for_write(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    if is_a(node, T_FuncExpr) {
        let f = node as *mut pg_sys::FuncExpr;
        if u32::from((*f).funcid) == pg_sys::F_LO_OPEN {
            let mode = list_ptrs::<pg_sys::Node>((*f).args).nth(1).unwrap_or(std::ptr::null_mut());
            if is_a(mode, T_Const) && !(*(mode as *mut pg_sys::Const)).constisnull {
                let value = (*(mode as *mut pg_sys::Const)).constvalue.value() as i32 as i64;
                if value & INV_WRITE != 0 {
                    return true;
                }
            }
        }
    }
    walk_expression(node, lo_open_for_write, context)
}

/// Calls `f` with each expression tree a plan node holds (and its children's, recursively).
unsafe fn each_expression(plan: *mut pg_sys::Plan, f: &mut dyn FnMut(*mut pg_sys::Node)) {
    if plan.is_null() {
        return;
    }
    f((*plan).targetlist as *mut pg_sys::Node);
    f((*plan).qual as *mut pg_sys::Node);
    let node = plan as *mut pg_sys::Node;
    let mut children = vec![(*plan).lefttree, (*plan).righttree];
    match (*node).type_ {
        T_Result => f((*(plan as *mut pg_sys::Result)).resconstantqual),
        T_FunctionScan => f((*(plan as *mut pg_sys::FunctionScan)).functions as *mut pg_sys::Node),
        T_ValuesScan => f((*(plan as *mut pg_sys::ValuesScan)).values_lists as *mut pg_sys::Node),
        T_ProjectSet => {}
        T_NestLoop | T_MergeJoin | T_HashJoin => f((*(plan as *mut pg_sys::Join)).joinqual as *mut pg_sys::Node),
        T_ModifyTable => {
            let mt = plan as *mut pg_sys::ModifyTable;
            f((*mt).returningLists as *mut pg_sys::Node);
            f((*mt).onConflictSet as *mut pg_sys::Node);
            f((*mt).onConflictWhere);
        }
        T_Append => children.extend(list_ptrs::<pg_sys::Plan>((*(plan as *mut pg_sys::Append)).appendplans)),
        T_MergeAppend => children.extend(list_ptrs::<pg_sys::Plan>((*(plan as *mut pg_sys::MergeAppend)).mergeplans)),
        T_SubqueryScan => children.push((*(plan as *mut pg_sys::SubqueryScan)).subplan),
        T_BitmapAnd => children.extend(list_ptrs::<pg_sys::Plan>((*(plan as *mut pg_sys::BitmapAnd)).bitmapplans)),
        T_BitmapOr => children.extend(list_ptrs::<pg_sys::Plan>((*(plan as *mut pg_sys::BitmapOr)).bitmapplans)),
        T_CustomScan => children.extend(list_ptrs::<pg_sys::Plan>((*(plan as *mut pg_sys::CustomScan)).custom_plans)),
        _ => {}
    }
    for child in children {
        each_expression(child, f);
    }
}
