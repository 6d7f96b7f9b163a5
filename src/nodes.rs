//! Small readers for Postgres node trees: lists, names and constants. Version differences in node
//! layouts (PG15 replaced `Value` with `String`/`Integer` nodes) stay in this file.

use pgrx::pg_sys;
use std::ffi::{c_char, CStr};

/// The pointers of a `List` (PG13+ lists are arrays of cells).
///
/// # Safety
/// `list` is NIL or a valid pointer list.
pub unsafe fn list_ptrs<T>(list: *mut pg_sys::List) -> impl Iterator<Item = *mut T> {
    let (cells, len) = if list.is_null() { (std::ptr::null_mut(), 0) } else { ((*list).elements, (*list).length as usize) };
    (0..len).map(move |i| (*cells.add(i)).ptr_value as *mut T)
}

/// The ints of an integer `List` (e.g. `PlannedStmt->resultRelations`).
///
/// # Safety
/// `list` is NIL or a valid integer list.
pub unsafe fn list_ints(list: *mut pg_sys::List) -> impl Iterator<Item = i32> {
    let (cells, len) = if list.is_null() { (std::ptr::null_mut(), 0) } else { ((*list).elements, (*list).length as usize) };
    (0..len).map(move |i| (*cells.add(i)).int_value)
}

/// A C string as an owned Rust string (`None` for NULL).
///
/// # Safety
/// `s` is NULL or a NUL-terminated string.
pub unsafe fn cstr(s: *const c_char) -> Option<String> {
    (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned())
}

/// A copy of `text` in the current memory context (`pstrdup`), NUL bytes dropped.
///
/// # Safety
/// Inside a memory context the caller means (an error's, a GUC check's).
pub unsafe fn palloc_text(text: &str) -> *mut c_char {
    let c = std::ffi::CString::new(text.replace('\0', "")).unwrap_or_default();
    pg_sys::pstrdup(c.as_ptr())
}

/// Whether `node` has the given tag.
///
/// # Safety
/// `node` is NULL or a valid node.
pub unsafe fn is_a(node: *mut pg_sys::Node, tag: pg_sys::NodeTag) -> bool {
    !node.is_null() && (*node).type_ == tag
}

/// The text of a `String` node (a `Value` with `T_String` before PG15).
///
/// # Safety
/// `node` is NULL or a valid node.
pub unsafe fn string_value(node: *mut pg_sys::Node) -> Option<String> {
    if !is_a(node, pg_sys::NodeTag::T_String) {
        return None;
    }
    #[cfg(any(feature = "pg13", feature = "pg14"))]
    let s = (*(node as *mut pg_sys::Value)).val.str_;
    #[cfg(not(any(feature = "pg13", feature = "pg14")))]
    let s = (*(node as *mut pg_sys::String)).sval;
    cstr(s)
}

/// The integer in an `A_Const` or `Integer` node (how the grammar spells `READ ONLY`/`READ WRITE`).
///
/// # Safety
/// `node` is NULL or a valid node.
pub unsafe fn int_value(node: *mut pg_sys::Node) -> Option<i64> {
    #[cfg(any(feature = "pg13", feature = "pg14"))]
    {
        if is_a(node, pg_sys::NodeTag::T_A_Const) {
            let v = &(*(node as *mut pg_sys::A_Const)).val;
            return (v.type_ == pg_sys::NodeTag::T_Integer).then(|| v.val.ival as i64);
        }
        if is_a(node, pg_sys::NodeTag::T_Integer) {
            return Some((*(node as *mut pg_sys::Value)).val.ival as i64);
        }
        None
    }
    #[cfg(not(any(feature = "pg13", feature = "pg14")))]
    {
        if is_a(node, pg_sys::NodeTag::T_A_Const) {
            let c = &*(node as *mut pg_sys::A_Const);
            return (!c.isnull && c.val.node.type_ == pg_sys::NodeTag::T_Integer).then(|| c.val.ival.ival as i64);
        }
        if is_a(node, pg_sys::NodeTag::T_Integer) {
            return Some((*(node as *mut pg_sys::Integer)).ival as i64);
        }
        None
    }
}

/// Postgres' description of an object (`function upper(text)`), for error facts; its OID if it has none.
///
/// # Safety
/// Called inside a transaction (catalog lookups).
pub unsafe fn describe_object(class_id: pg_sys::Oid, object_id: pg_sys::Oid, sub_id: i32) -> String {
    let address = pg_sys::ObjectAddress { classId: class_id, objectId: object_id, objectSubId: sub_id };
    #[cfg(feature = "pg13")]
    let text = pg_sys::getObjectDescription(&address);
    #[cfg(not(feature = "pg13"))]
    let text = pg_sys::getObjectDescription(&address, true);
    cstr(text).unwrap_or_else(|| u32::from(object_id).to_string())
}

/// A relation's `pg_class` row, read through the syscache: `read` of it, or `None` if it is gone.
///
/// # Safety
/// Called inside a transaction (a syscache lookup).
pub unsafe fn pg_class<T>(relid: pg_sys::Oid, read: impl FnOnce(&pg_sys::FormData_pg_class) -> T) -> Option<T> {
    let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::RELOID as i32, relid.into());
    if tuple.is_null() {
        return None;
    }
    let found = read(&*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_class));
    pg_sys::ReleaseSysCache(tuple);
    Some(found)
}

/// `schema.name` of a relation, for error facts.
///
/// # Safety
/// Called inside a transaction (catalog lookups).
pub unsafe fn relation_name(relid: pg_sys::Oid) -> Option<String> {
    let name = cstr(pg_sys::get_rel_name(relid))?;
    let schema = cstr(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid))).unwrap_or_default();
    Some(format!("{schema}.{name}"))
}

/// The OIDs of an OID `List` (e.g. `PlannedStmt->relationOids`).
///
/// # Safety
/// `list` is NIL or a valid OID list.
pub unsafe fn list_oids(list: *mut pg_sys::List) -> impl Iterator<Item = pg_sys::Oid> {
    let (cells, len) = if list.is_null() { (std::ptr::null_mut(), 0) } else { ((*list).elements, (*list).length as usize) };
    (0..len).map(move |i| (*cells.add(i)).oid_value)
}

/// `pg_inherits` (stable since 8.x: `pg_inherits.h`), which pgrx does not bind.
const INHERITS_RELATION_ID: u32 = 2611;
const INHERITS_RELID_SEQNO_INDEX_ID: u32 = 2680;

/// The topmost ancestor of a partition or inheritance child (its first parent at each step), or
/// the relation itself.
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn topmost_parent(relid: pg_sys::Oid) -> pg_sys::Oid {
    let mut current = relid;
    for _ in 0..64 {
        match first_parent(current) {
            Some(parent) if parent != current => current = parent,
            _ => break,
        }
    }
    current
}

/// A relation's name (`schema.name`), then each ancestor's (its partitioned table's or inheritance
/// parent's, the first parent at each step): what a policy's table rules find it by — a rule on a
/// partitioned table covers its partitions named directly.
///
/// # Safety
/// Inside a transaction (catalog lookups).
pub unsafe fn names_with_ancestors(relid: pg_sys::Oid) -> Vec<String> {
    let mut names = Vec::new();
    let mut current = relid;
    for _ in 0..64 {
        names.extend(relation_name(current));
        match first_parent(current) {
            Some(parent) if parent != current => current = parent,
            _ => break,
        }
    }
    names
}

unsafe fn first_parent(relid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let rel = pg_sys::table_open(pg_sys::Oid::from(INHERITS_RELATION_ID), lock);
    let mut key = std::mem::zeroed::<pg_sys::ScanKeyData>();
    pg_sys::ScanKeyInit(
        &mut key,
        1, // inhrelid
        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
        pg_sys::RegProcedure::from(pg_sys::F_OIDEQ),
        pg_sys::Datum::from(relid),
    );
    let scan = pg_sys::systable_beginscan(rel, pg_sys::Oid::from(INHERITS_RELID_SEQNO_INDEX_ID), true, std::ptr::null_mut(), 1, &mut key);
    let tuple = pg_sys::systable_getnext(scan);
    // FormData_pg_inherits begins (inhrelid oid, inhparent oid).
    let parent = (!tuple.is_null()).then(|| *(pg_sys::GETSTRUCT(tuple) as *const pg_sys::Oid).add(1));
    pg_sys::systable_endscan(scan);
    pg_sys::table_close(rel, lock);
    parent
}

/// The namespace of object `object_id` of catalog `class_id` as the running command left it, if
/// objects of that class live in namespaces.
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn namespace_now(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> Option<pg_sys::Oid> {
    if !pg_sys::is_objectclass_supported(class_id) {
        return None;
    }
    let attnum = pg_sys::get_object_attnum_namespace(class_id);
    let at = usize::try_from(attnum).ok()?.checked_sub(1)?;
    let (values, nulls) = row_now(class_id, object_id, None)?;
    (at < values.len() && !nulls[at]).then(|| pg_sys::Oid::from(values[at].value() as u32))
}

/// The row of object `object_id` in catalog `class_id` as the running command left it
/// (`SnapshotSelf`: a row this very command wrote, which the syscache does not see before the
/// command ends, at `OAT_POST_CREATE`), deformed from a copy in the current memory context: by
/// its `oid` through the catalog's oid index, or by its first column through `index`.
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn row_now(class_id: pg_sys::Oid, object_id: pg_sys::Oid, index: Option<pg_sys::Oid>) -> Option<(Vec<pg_sys::Datum>, Vec<bool>)> {
    let (index, key_attnum) = match index {
        Some(index) => (index, 1),
        None if pg_sys::is_objectclass_supported(class_id) => (pg_sys::get_object_oid_index(class_id), pg_sys::get_object_attnum_oid(class_id)),
        None => return None,
    };
    if index == pg_sys::InvalidOid || key_attnum <= 0 {
        return None;
    }
    rows_now(class_id, object_id, index, key_attnum, 1).into_iter().next()
}

/// The owner of object `object_id` of catalog `class_id` as the running command left it, for the
/// catalogs that record one (`None` for the others: a trigger, a constraint).
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn object_owner(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> Option<pg_sys::Oid> {
    if !pg_sys::is_objectclass_supported(class_id) {
        return None;
    }
    let at = usize::try_from(pg_sys::get_object_attnum_owner(class_id)).ok()?.checked_sub(1)?;
    let (values, nulls) = row_now(class_id, object_id, None)?;
    (at < values.len() && !nulls[at]).then(|| pg_sys::Oid::from(values[at].value() as u32))
}

/// What object `object_id` of catalog `class_id` depends on, as the running command left
/// `pg_depend`: (referenced catalog, referenced object, dependency type).
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn dependencies(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> Vec<(pg_sys::Oid, pg_sys::Oid, u8)> {
    const DEPEND: u32 = 2608; // pg_depend
    const DEPEND_DEPENDER_INDEX: u32 = 2673; // (classid, objid, objsubid)
    let depend = pg_sys::Oid::from(DEPEND);
    let column = |name: &std::ffi::CStr| usize::try_from(pg_sys::get_attnum(depend, name.as_ptr())).ok().and_then(|a| a.checked_sub(1));
    let (Some(refclassid), Some(refobjid), Some(deptype)) = (column(c"refclassid"), column(c"refobjid"), column(c"deptype")) else {
        return Vec::new();
    };
    let oid = |values: &[pg_sys::Datum], at: usize| pg_sys::Oid::from(values[at].value() as u32);
    let keys = [(pg_sys::get_attnum(depend, c"classid".as_ptr()), class_id), (pg_sys::get_attnum(depend, c"objid".as_ptr()), object_id)];
    rows_where(depend, pg_sys::Oid::from(DEPEND_DEPENDER_INDEX), &keys, usize::MAX)
        .iter()
        .map(|(values, _)| (oid(values, refclassid), oid(values, refobjid), values[deptype].value() as u8))
        .collect()
}

/// Whether object `object_id` of catalog `class_id` is an internal part of another object
/// (`pg_depend.deptype` 'i': a range type's constructors, which Postgres gives the bootstrap
/// superuser): Postgres drops it only with that object, whose own drop is judged.
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn is_internal_part(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> bool {
    dependencies(class_id, object_id).iter().any(|&(_, _, deptype)| deptype == b'i')
}

/// Up to `limit` rows of catalog `class_id` whose column `key_attnum` is `key`, through `index`
/// (whose first column it is), as the running command left them (see [`row_now`]).
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn rows_now(class_id: pg_sys::Oid, key: pg_sys::Oid, index: pg_sys::Oid, key_attnum: pg_sys::AttrNumber, limit: usize) -> Vec<(Vec<pg_sys::Datum>, Vec<bool>)> {
    rows_where(class_id, index, &[(key_attnum, key)], limit)
}

/// The relations in schema `namespace`, as the running command left `pg_class` (a scan of the whole
/// catalog: no index leads with `relnamespace`; for the rare statement that renames a schema).
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn relations_in(namespace: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let class = pg_sys::RelationRelationId;
    let Some(oid_at) = usize::try_from(pg_sys::get_attnum(class, c"oid".as_ptr())).ok().and_then(|a| a.checked_sub(1)) else { return Vec::new() };
    rows_where(class, pg_sys::InvalidOid, &[(pg_sys::get_attnum(class, c"relnamespace".as_ptr()), namespace)], usize::MAX)
        .iter()
        .map(|(values, _)| pg_sys::Oid::from(values[oid_at].value() as u32))
        .collect()
}

/// Up to `limit` rows of catalog `class_id` whose columns equal `keys` (column, OID), through
/// `index` (whose leading columns they are, in order; `InvalidOid`: the whole catalog is read), as
/// the running command left them.
///
/// # Safety
/// Inside a transaction (a catalog scan).
unsafe fn rows_where(class_id: pg_sys::Oid, index: pg_sys::Oid, keys: &[(pg_sys::AttrNumber, pg_sys::Oid)], limit: usize) -> Vec<(Vec<pg_sys::Datum>, Vec<bool>)> {
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let rel = pg_sys::table_open(class_id, lock);
    let mut scan_keys = vec![std::mem::zeroed::<pg_sys::ScanKeyData>(); keys.len()];
    for (scan_key, &(attnum, key)) in scan_keys.iter_mut().zip(keys) {
        pg_sys::ScanKeyInit(
            scan_key,
            attnum,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::RegProcedure::from(pg_sys::F_OIDEQ),
            pg_sys::Datum::from(key),
        );
    }
    let scan = pg_sys::systable_beginscan(rel, index, index != pg_sys::InvalidOid, &raw mut pg_sys::SnapshotSelfData, keys.len() as i32, scan_keys.as_mut_ptr());
    let mut copies = Vec::new();
    while copies.len() < limit {
        let tuple = pg_sys::systable_getnext(scan);
        if tuple.is_null() {
            break;
        }
        copies.push(pg_sys::heap_copytuple(tuple));
    }
    pg_sys::systable_endscan(scan);
    let natts = (*(*rel).rd_att).natts as usize;
    let rows = copies
        .into_iter()
        .map(|copy| {
            let (mut values, mut nulls) = (vec![pg_sys::Datum::from(0usize); natts], vec![true; natts]);
            pg_sys::heap_deform_tuple(copy, (*rel).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            (values, nulls)
        })
        .collect();
    pg_sys::table_close(rel, lock);
    rows
}

/// This backend's local transaction id (`PGPROC.lxid`; `vxid.lxid` from 17).
///
/// # Safety
/// In a backend (MyProc is set).
#[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16"))]
pub unsafe fn local_transaction_id() -> u32 {
    (*pg_sys::MyProc).lxid
}

#[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16")))]
pub unsafe fn local_transaction_id() -> u32 {
    (*pg_sys::MyProc).vxid.lxid
}

/// A tuple descriptor's attributes (`TupleDescAttr`): an array in the descriptor before 18; from 18
/// they follow its `CompactAttribute` array (`tupdesc.h: TupleDescAttrAddress`).
///
/// # Safety
/// `desc` is a valid tuple descriptor that outlives the slice.
#[cfg(not(feature = "pg18"))]
pub unsafe fn tuple_desc_attrs<'a>(desc: pg_sys::TupleDesc) -> &'a [pg_sys::FormData_pg_attribute] {
    (*desc).attrs.as_slice((*desc).natts as usize)
}

#[cfg(feature = "pg18")]
pub unsafe fn tuple_desc_attrs<'a>(desc: pg_sys::TupleDesc) -> &'a [pg_sys::FormData_pg_attribute] {
    let n = (*desc).natts as usize;
    let base = (desc as *const u8)
        .add(std::mem::offset_of!(pg_sys::TupleDescData, compact_attrs) + n * std::mem::size_of::<pg_sys::CompactAttribute>());
    std::slice::from_raw_parts(base as *const pg_sys::FormData_pg_attribute, n)
}

/// Whether a relation is one of this session's temporary tables (no other session's are reachable).
/// Writes to them are not counted toward the blast radius nor scope-checked: they are the agent's
/// own scratch and go with the session. Cascades and triggers into real tables run their own
/// ModifyTable nodes, which count.
pub fn is_session_temp(relid: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup inside a transaction.
    relid != pg_sys::InvalidOid && unsafe { pg_sys::get_rel_persistence(relid) } as u8 == pg_sys::RELPERSISTENCE_TEMP
}

/// Text in the database's encoding, handed back to Postgres as it was read: a Rust `String` must be
/// UTF-8, which the text of a database in another encoding (LATIN1, say) need not be.
pub struct DbText(pub Vec<u8>);

impl pgrx::IntoDatum for DbText {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // SAFETY: copies the bytes into a text datum in the current memory context.
        Some(unsafe { pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(self.0.as_ptr() as *const c_char, self.0.len() as i32)) })
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::TEXTOID
    }
}

// SAFETY: returns the datum `into_datum` makes, as `&[u8]`'s impl does.
unsafe impl pgrx::callconv::BoxRet for DbText {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        use pgrx::IntoDatum;
        match self.into_datum() {
            // SAFETY: a datum of the function's declared result type.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

pgrx::impl_sql_translatable!(DbText, "text");
