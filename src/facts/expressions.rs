//! The functions an object's stored code calls, read from the catalog as Postgres stores it: a
//! view's query (`pg_rewrite`), a column default or generated expression (`pg_attrdef`), a `CHECK`
//! (a table's or a domain's, `pg_constraint`), a trigger's `WHEN` and its function, a function's
//! default arguments and SQL-standard body, an aggregate's support functions, an operator's and a
//! cast's function, a domain's default, an event trigger's function. Postgres evaluates these in
//! whichever session reaches the object — a DBA selecting from a view, writing a table, calling a
//! function with a defaulted argument — with that session's rights and outside any function of
//! the agent's (`agent_code.rs` judges those). Built-in functions appear in no `pg_depend` row
//! (they are pinned), so the stored trees themselves are walked (`check_functions_in_node`, as
//! `contain_mutable_functions` does).
//!
//! Objects are noted as Postgres creates or alters them in an agent session (the object-access
//! hook) and read when the statement ends.

use super::calls::{walk_expression, Walker};
use crate::cell::BackendCell;
use crate::nodes::is_a;
use pgrx::pg_sys;
use std::ffi::{c_void, CStr};

/// Objects created or altered by the running statement of an agent session: (class, object).
static NOTED: BackendCell<Vec<(pg_sys::Oid, pg_sys::Oid)>> = BackendCell::new(Vec::new());

/// Catalog OIDs (`pg_*.h`, stable since 9.x), which pgrx does not all bind.
mod catalog {
    pub const AGGREGATE: u32 = 2600;
    pub const AGGREGATE_FNOID_INDEX: u32 = 2650;
    pub const ATTRDEF: u32 = 2604;
    pub const ATTRDEF_ADRELID_ADNUM_INDEX: u32 = 2656;
    pub const CAST: u32 = 2605;
    pub const CONSTRAINT: u32 = 2606;
    pub const EVENT_TRIGGER: u32 = 3466;
    pub const OPERATOR: u32 = 2617;
    pub const PROC: u32 = 1255;
    pub const RANGE: u32 = 3541;
    pub const RANGE_TYPID_INDEX: u32 = 3542;
    pub const REWRITE: u32 = 2618;
    pub const TRIGGER: u32 = 2620;
    pub const TYPE: u32 = 1247;
}

/// An object Postgres created or altered in an agent session (`OAT_POST_CREATE`/`OAT_POST_ALTER`).
pub fn note(class_id: pg_sys::Oid, object_id: pg_sys::Oid) {
    NOTED.with(|n| {
        if !n.contains(&(class_id, object_id)) {
            n.push((class_id, object_id));
        }
    });
}

/// The objects noted since the last call.
pub fn take_noted() -> Vec<(pg_sys::Oid, pg_sys::Oid)> {
    NOTED.with(std::mem::take)
}

/// Which columns of which catalog hold code, by name (their numbers differ between versions):
/// expression trees, and single functions (`regproc` columns).
fn code_columns(class: u32) -> (&'static [&'static CStr], &'static [&'static CStr]) {
    match class {
        catalog::REWRITE => (&[c"ev_qual", c"ev_action"], &[]),
        catalog::ATTRDEF => (&[c"adbin"], &[]),
        catalog::CONSTRAINT => (&[c"conbin"], &[]),
        catalog::TRIGGER => (&[c"tgqual"], &[c"tgfoid"]),
        catalog::PROC => (&[c"proargdefaults", c"prosqlbody"], &[]),
        catalog::AGGREGATE => (
            &[],
            &[c"aggtransfn", c"aggfinalfn", c"aggcombinefn", c"aggserialfn", c"aggdeserialfn", c"aggmtransfn", c"aggminvtransfn", c"aggmfinalfn"],
        ),
        catalog::OPERATOR => (&[], &[c"oprcode"]),
        catalog::CAST => (&[], &[c"castfunc"]),
        catalog::TYPE => (&[c"typdefaultbin"], &[]),
        catalog::RANGE => (&[], &[c"rngsubdiff", c"rngcanonical"]),
        catalog::EVENT_TRIGGER => (&[], &[c"evtfoid"]),
        _ => (&[], &[]),
    }
}

/// The functions object `object_id` of catalog `class_id` calls in its stored code, as the
/// running command left it.
///
/// # Safety
/// Inside a transaction (catalog scans).
pub unsafe fn functions_called(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut out = Vec::new();
    read_code(class_id, object_id, None, &mut out);
    if u32::from(class_id) == catalog::PROC {
        // An aggregate's support functions are in its pg_aggregate row (keyed by the function).
        read_code(pg_sys::Oid::from(catalog::AGGREGATE), object_id, Some(pg_sys::Oid::from(catalog::AGGREGATE_FNOID_INDEX)), &mut out);
    }
    if u32::from(class_id) == catalog::TYPE {
        // A range type's subtype_diff (and canonical) function is in its pg_range row (keyed by the type).
        read_code(pg_sys::Oid::from(catalog::RANGE), object_id, Some(pg_sys::Oid::from(catalog::RANGE_TYPID_INDEX)), &mut out);
    }
    out.sort_unstable_by_key(|o| u32::from(*o));
    out.dedup();
    out
}

/// Reads the code columns of one row: by its `oid` (the catalog's oid index), or for `pg_aggregate`
/// by its first column through `index`.
unsafe fn read_code(class_id: pg_sys::Oid, object_id: pg_sys::Oid, index: Option<pg_sys::Oid>, out: &mut Vec<pg_sys::Oid>) {
    let (trees, functions) = code_columns(u32::from(class_id));
    if trees.is_empty() && functions.is_empty() {
        return;
    }
    let rows = match crate::nodes::row_now(class_id, object_id, index) {
        Some(row) => vec![row],
        // A column default's hook names the table and the column (`heap.c: StoreAttrDefault`):
        // every default of the table, by `adrelid`.
        None if u32::from(class_id) == catalog::ATTRDEF => crate::nodes::rows_now(
            class_id,
            object_id,
            pg_sys::Oid::from(catalog::ATTRDEF_ADRELID_ADNUM_INDEX),
            pg_sys::get_attnum(class_id, c"adrelid".as_ptr()),
            usize::MAX,
        ),
        None => return,
    };
    for (values, nulls) in rows {
        if !session_private_or_internal(class_id, &values, &nulls) {
            read_columns(class_id, &values, &nulls, trees, functions, out);
        }
    }
}

/// Whether a row's code runs in this session only (its object is in the session's temporary
/// schema, or on one of its temporary tables), or is Postgres' own (a foreign key's internal
/// triggers).
unsafe fn session_private_or_internal(class_id: pg_sys::Oid, values: &[pg_sys::Datum], nulls: &[bool]) -> bool {
    let column = |name: &CStr| {
        let at = usize::try_from(pg_sys::get_attnum(class_id, name.as_ptr())).ok()?.checked_sub(1)?;
        (at < values.len() && !nulls[at]).then(|| values[at])
    };
    let class = u32::from(class_id);
    if class == catalog::TRIGGER && column(c"tgisinternal").is_some_and(|d| d.value() != 0) {
        return true;
    }
    let relation = match class {
        catalog::TRIGGER => column(c"tgrelid"),
        catalog::REWRITE => column(c"ev_class"),
        catalog::ATTRDEF => column(c"adrelid"),
        catalog::CONSTRAINT => column(c"conrelid"),
        _ => None,
    };
    if let Some(rel) = relation.map(|d| pg_sys::Oid::from(d.value() as u32)).filter(|r| *r != pg_sys::InvalidOid) {
        return crate::nodes::is_session_temp(rel);
    }
    if pg_sys::is_objectclass_supported(class_id) {
        let attnum = pg_sys::get_object_attnum_namespace(class_id);
        let at = usize::try_from(attnum).ok().and_then(|a| a.checked_sub(1));
        if let Some(at) = at.filter(|at| *at < values.len() && !nulls[*at]) {
            return pg_sys::isTempNamespace(pg_sys::Oid::from(values[at].value() as u32));
        }
    }
    false
}

/// The functions the code columns (`trees`, `functions`) of one deformed row call, added to `out`.
unsafe fn read_columns(class_id: pg_sys::Oid, values: &[pg_sys::Datum], nulls: &[bool], trees: &[&CStr], functions: &[&CStr], out: &mut Vec<pg_sys::Oid>) {
    let column = |name: &CStr| {
        let attnum = pg_sys::get_attnum(class_id, name.as_ptr());
        let at = usize::try_from(attnum).ok()?.checked_sub(1)?;
        (at < values.len() && !nulls[at]).then(|| values[at])
    };
    for name in trees {
        if let Some(datum) = column(name) {
            let text = pg_sys::text_to_cstring(datum.cast_mut_ptr());
            let tree = pg_sys::stringToNode(text) as *mut pg_sys::Node;
            collect(tree, out);
        }
    }
    for name in functions {
        if let Some(datum) = column(name) {
            let f = pg_sys::Oid::from(datum.value() as u32);
            if f != pg_sys::InvalidOid {
                out.push(f);
            }
        }
    }
}

type Checker = unsafe extern "C-unwind" fn(func_id: pg_sys::Oid, context: *mut c_void) -> bool;

extern "C-unwind" {
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
    #[link_name = "query_tree_walker"]
    fn walk_query(query: *mut pg_sys::Query, walker: Walker, context: *mut c_void, flags: i32) -> bool;
    #[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
    #[link_name = "query_tree_walker_impl"]
    fn walk_query(query: *mut pg_sys::Query, walker: Walker, context: *mut c_void, flags: i32) -> bool;
    #[link_name = "check_functions_in_node"]
    fn functions_in_node(node: *mut pg_sys::Node, checker: Checker, context: *mut c_void) -> bool;
}

/// Every function `tree` calls (a list of queries, a query or an expression), added to `out`.
unsafe fn collect(tree: *mut pg_sys::Node, out: &mut Vec<pg_sys::Oid>) {
    if !tree.is_null() {
        pg_sys::ffi::pg_guard_ffi_boundary(|| walker(tree, out as *mut Vec<pg_sys::Oid> as *mut c_void));
    }
}

unsafe extern "C-unwind" fn walker(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    if is_a(node, pg_sys::NodeTag::T_Query) {
        return walk_query(node as *mut pg_sys::Query, walker, context, 0);
    }
    functions_in_node(node, checker, context);
    walk_expression(node, walker, context)
}

unsafe extern "C-unwind" fn checker(func_id: pg_sys::Oid, context: *mut c_void) -> bool {
    (*(context as *mut Vec<pg_sys::Oid>)).push(func_id);
    false
}

/// Whether object `object_id` of catalog `class` holds code that runs where no session judges it:
/// a domain's constraint (`pg_constraint.contypid` set: a domain's `CHECK` runs wherever a value
/// takes the type — an index expression's cast, which autovacuum evaluates), or a range type (its
/// `subtype_diff`: autovacuum's `ANALYZE` of any column of the type).
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn runs_anywhere(class: pg_sys::Oid, object_id: pg_sys::Oid) -> bool {
    is_domain_constraint(class, object_id) || (u32::from(class) == catalog::TYPE && pg_sys::get_typtype(object_id) == pg_sys::TYPTYPE_RANGE as std::ffi::c_char)
}

unsafe fn is_domain_constraint(class: pg_sys::Oid, object_id: pg_sys::Oid) -> bool {
    if u32::from(class) != catalog::CONSTRAINT {
        return false;
    }
    let Some((values, nulls)) = crate::nodes::row_now(class, object_id, None) else { return false };
    let attnum = pg_sys::get_attnum(class, c"contypid".as_ptr());
    usize::try_from(attnum).ok().and_then(|a| a.checked_sub(1)).is_some_and(|at| at < values.len() && !nulls[at] && values[at].value() != 0)
}
