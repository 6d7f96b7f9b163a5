//! Calls in a plan's expressions, with their arguments: for decisions that depend on a constant
//! argument (`lo_open(oid, INV_WRITE)`). Walked only when the function-execute hook meets such a
//! function, with the plan being started (see `hooks/executor.rs`), so other statements pay nothing.

use crate::nodes::{is_a, list_ptrs};
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag::*;
use std::ffi::c_void;

/// `libpq/libpq-fs.h`: the large-object open mode that allows writing.
const INV_WRITE: i64 = 0x0002_0000;

/// Built-in functions by OID (`pg_proc.dat`; the same in 13–18, whose `fmgroids.h` names differ).
pub mod oids {
    pub const NEXTVAL: u32 = 1574;
    pub const SETVAL: u32 = 1576;
    pub const SETVAL3: u32 = 1765;
    pub const LO_OPEN: u32 = 952;
    pub const PG_BACKEND_PID: u32 = 2026;
    pub const PG_CANCEL_BACKEND: u32 = 2171;
    pub const PG_TERMINATE_BACKEND: u32 = 2096;
}

/// The walker callback's type (`nodeFuncs.h: tree_walker_callback`).
pub(crate) type Walker = unsafe extern "C-unwind" fn(node: *mut pg_sys::Node, context: *mut c_void) -> bool;

extern "C-unwind" {
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
    #[link_name = "expression_tree_walker"]
    pub(crate) fn walk_expression(node: *mut pg_sys::Node, walker: Walker, context: *mut c_void) -> bool;
    #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
    #[link_name = "expression_tree_walker_impl"]
    pub(crate) fn walk_expression(node: *mut pg_sys::Node, walker: Walker, context: *mut c_void) -> bool;
}

/// Whether the plan calls `lo_open` with a constant mode that includes `INV_WRITE`.
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn opens_large_object_for_write(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    // A tree the walker does not know is no reason to refuse: the writes themselves are.
    walk_plan(pstmt, lo_open_for_write, std::ptr::null_mut(), false)
}

/// Whether the plan is one `Result` node with no input, no one-time filter and no subplan or init
/// plan: a bare `SELECT f(…)` (or `PERFORM f(…)`), which evaluates nothing as it starts.
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn is_bare_result(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    let plan = (*pstmt).planTree;
    !plan.is_null()
        && is_a(plan as *mut pg_sys::Node, T_Result)
        && (*plan).lefttree.is_null()
        && (*plan).righttree.is_null()
        && (*plan).initPlan.is_null()
        && (*(plan as *mut pg_sys::Result)).resconstantqual.is_null()
        && (*plan).qual.is_null()
        && (*pstmt).subplans.is_null()
}

/// Walks every expression of the plan (its subplans' too) with `walker` and `context` until the
/// walker stops (returns true): whether it did. A tree the walker cannot read counts as `unread`.
unsafe fn walk_plan(pstmt: *mut pg_sys::PlannedStmt, walker: Walker, context: *mut c_void, unread: bool) -> bool {
    let mut stopped = false;
    let plans = std::iter::once((*pstmt).planTree).chain(list_ptrs::<pg_sys::Plan>((*pstmt).subplans));
    for plan in plans {
        each_expression(plan, &mut |expr| {
            if !stopped {
                stopped = pgrx::PgTryBuilder::new(|| pg_sys::ffi::pg_guard_ffi_boundary(|| walker(expr, context)))
                    .catch_others(|_| unread)
                    .execute();
            }
        });
    }
    stopped
}

/// If every call of `pg_cancel_backend`/`pg_terminate_backend` the plan shows is at this session's
/// own process (its first argument is `pg_backend_pid()` or a constant equal to it): how many of
/// them call `funcid`.
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn signals_only_own_backend(pstmt: *mut pg_sys::PlannedStmt, funcid: pg_sys::Oid) -> Option<usize> {
    let mut own = OwnSignals { funcid: u32::from(funcid), calls: 0 };
    let other = walk_plan(pstmt, signals_another_backend, &mut own as *mut OwnSignals as *mut c_void, true);
    (!other).then_some(own.calls)
}

struct OwnSignals {
    funcid: u32,
    calls: usize,
}

/// `expression_tree_walker`'s callback: true (stop) at a signalling call whose target is not
/// provably this session's process.
unsafe extern "C-unwind" fn signals_another_backend(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    if is_a(node, T_FuncExpr) {
        let f = node as *mut pg_sys::FuncExpr;
        let id = u32::from((*f).funcid);
        if id == oids::PG_CANCEL_BACKEND || id == oids::PG_TERMINATE_BACKEND {
            let target = list_ptrs::<pg_sys::Node>((*f).args).next().unwrap_or(std::ptr::null_mut());
            let own = (is_a(target, T_FuncExpr) && u32::from((*(target as *mut pg_sys::FuncExpr)).funcid) == oids::PG_BACKEND_PID)
                || (is_a(target, T_Const)
                    && !(*(target as *mut pg_sys::Const)).constisnull
                    && (*(target as *mut pg_sys::Const)).constvalue.value() as i32 == pg_sys::MyProcPid);
            if !own {
                return true;
            }
            let found = &mut *(context as *mut OwnSignals);
            if id == found.funcid {
                found.calls += 1;
            }
        }
    }
    walk_expression(node, signals_another_backend, context)
}

/// Whether the plan draws from a sequence without calling a function: an identity column's value
/// (`NextValueExpr`, which `nextval()` never sees).
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn draws_identity(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    walk_plan(pstmt, next_value, std::ptr::null_mut(), true)
}

/// `expression_tree_walker`'s callback: true (stop) at a `NextValueExpr`.
unsafe extern "C-unwind" fn next_value(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    !node.is_null() && (is_a(node, T_NextValueExpr) || walk_expression(node, next_value, context))
}

/// The plan's `nextval`/`setval` calls: (the function, the sequence its first argument names by a
/// constant, `'s'::regclass`, or `None` when it is not a constant).
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn sequence_calls(pstmt: *mut pg_sys::PlannedStmt) -> Vec<(u32, Option<pg_sys::Oid>)> {
    let mut found: Vec<(u32, Option<pg_sys::Oid>)> = Vec::new();
    walk_plan(pstmt, sequence_arguments, &mut found as *mut Vec<(u32, Option<pg_sys::Oid>)> as *mut c_void, false);
    found
}

/// `expression_tree_walker`'s callback: collects sequence functions' first arguments.
unsafe extern "C-unwind" fn sequence_arguments(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    if is_a(node, T_FuncExpr) {
        let f = node as *mut pg_sys::FuncExpr;
        let id = u32::from((*f).funcid);
        if id == oids::NEXTVAL || id == oids::SETVAL || id == oids::SETVAL3 {
            let arg = list_ptrs::<pg_sys::Node>((*f).args).next().unwrap_or(std::ptr::null_mut());
            let constant = is_a(arg, T_Const) && !(*(arg as *mut pg_sys::Const)).constisnull;
            let sequence = constant.then(|| pg_sys::Oid::from((*(arg as *mut pg_sys::Const)).constvalue.value() as u32));
            (*(context as *mut Vec<(u32, Option<pg_sys::Oid>)>)).push((id, sequence));
        }
    }
    walk_expression(node, sequence_arguments, context)
}

/// How many calls of `funcid` the plan shows, and the file names they pass at `positions` (text
/// constants; a NULL names no file), or `None` if one of them is not a constant, or if the plan
/// shows no call of `funcid` at all
/// (a PL/pgSQL simple expression, the fast-path protocol, a tree not walked here): a path the
/// statement does not spell out.
///
/// # Safety
/// `pstmt` is a valid planned statement.
pub unsafe fn path_arguments(pstmt: *mut pg_sys::PlannedStmt, funcid: pg_sys::Oid, positions: &[usize]) -> Option<(usize, Vec<String>)> {
    let mut found = PathArguments { funcid, positions: positions.to_vec(), calls: 0, paths: Vec::new(), unknown: false };
    // The walker never stops by itself: stopping is a tree it could not read.
    found.unknown |= walk_plan(pstmt, path_argument_calls, &mut found as *mut PathArguments as *mut c_void, true);
    (found.calls > 0 && !found.unknown).then_some((found.calls, found.paths))
}

struct PathArguments {
    funcid: pg_sys::Oid,
    positions: Vec<usize>,
    calls: usize,
    paths: Vec<String>,
    unknown: bool,
}

/// `expression_tree_walker`'s callback for [`path_arguments`].
unsafe extern "C-unwind" fn path_argument_calls(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    let found = &mut *(context as *mut PathArguments);
    if is_a(node, T_FuncExpr) && (*(node as *mut pg_sys::FuncExpr)).funcid == found.funcid {
        found.calls += 1;
        let args: Vec<*mut pg_sys::Node> = list_ptrs::<pg_sys::Node>((*(node as *mut pg_sys::FuncExpr)).args).collect();
        for &position in &found.positions {
            let Some(&arg) = args.get(position) else { continue };
            let constant = arg as *mut pg_sys::Const;
            if !is_a(arg, T_Const) || (*constant).consttype != pg_sys::TEXTOID {
                found.unknown = true;
            } else if !(*constant).constisnull {
                let text = pg_sys::text_to_cstring((*constant).constvalue.cast_mut_ptr());
                match crate::nodes::cstr(text) {
                    Some(path) => found.paths.push(path),
                    None => found.unknown = true,
                }
            }
        }
    }
    walk_expression(node, path_argument_calls, context)
}

/// `expression_tree_walker`'s callback: true (stop) at a `lo_open(…, constant with INV_WRITE)`.
unsafe extern "C-unwind" fn lo_open_for_write(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    if is_a(node, T_FuncExpr) {
        let f = node as *mut pg_sys::FuncExpr;
        if u32::from((*f).funcid) == oids::LO_OPEN {
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

/// Calls `f` with each expression tree a plan node holds (and its children's, recursively); empty
/// ones (most of a node's) are skipped here, so that callers pay their error guard only for a tree.
unsafe fn each_expression(plan: *mut pg_sys::Plan, f: &mut dyn FnMut(*mut pg_sys::Node)) {
    if plan.is_null() {
        return;
    }
    let f = &mut |node: *mut pg_sys::Node| {
        if !node.is_null() {
            f(node)
        }
    };
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
