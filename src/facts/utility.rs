//! Facts of a utility statement, from its parse node (`PlannedStmt->utilityStmt`).

use crate::nodes::{cstr, int_value, is_a, list_ptrs, string_value};
use interdict_core::facts::{Modifier, TableChange, TypeRef, UtilityAction, UtilityFacts};
use interdict_core::guarded::FileTarget;
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag::*;

/// # Safety
/// `node` is a valid utility statement node.
pub unsafe fn utility_facts(node: *mut pg_sys::Node, guarded: bool) -> UtilityFacts {
    // `utility.c: CreateCommandTag` names the statement as Postgres' command tags do.
    let tag = pg_sys::CreateCommandTag(node);
    UtilityFacts {
        node: crate::facts::names::node_type(node),
        tag: cstr(pg_sys::GetCommandTagName(tag)).unwrap_or_default(),
        tag_index: tag as usize,
        action: if guarded && is_a(node, T_AlterTableStmt) {
            alter_table(node as *mut pg_sys::AlterTableStmt)
        } else {
            action(node)
        },
        guard_schema: guarded && acts_on_guard_schema(node),
        guard_object: crate::facts::guard_objects::named_guard_object(node),
        scratch_only: guarded && names_only_scratch(node),
        triggers_off: pg_sys::SessionReplicationRole != pg_sys::SESSION_REPLICATION_ROLE_ORIGIN as i32,
    }
}

/// The utility statement this one runs in its turn, if any: `EXPLAIN ANALYZE` of `CREATE TABLE … AS`,
/// `SELECT … INTO`, `CREATE MATERIALIZED VIEW` or `… AS EXECUTE` runs it (`explain.c:
/// ExplainOneUtility` creates the relation through the INTO receiver). Plain `EXPLAIN` only plans.
///
/// # Safety
/// `node` is a valid utility statement node.
pub unsafe fn executed_utility(node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    match analyzed_query(node) {
        Some(query) if (*query).commandType == pg_sys::CmdType::CMD_UTILITY => (*query).utilityStmt,
        _ => std::ptr::null_mut(),
    }
}

/// The plannable query `EXPLAIN ANALYZE` runs (a `DELETE`, an `INSERT`, …), if this is one: the
/// executor's hooks judge it as it runs; `interdict.simulate()` in readonly, which runs nothing,
/// plans and judges it.
///
/// # Safety
/// `node` is a valid utility statement node.
pub unsafe fn executed_query(node: *mut pg_sys::Node) -> Option<*mut pg_sys::Query> {
    analyzed_query(node).filter(|q| (**q).commandType != pg_sys::CmdType::CMD_UTILITY)
}

/// The query of an `EXPLAIN` with `ANALYZE`.
unsafe fn analyzed_query(node: *mut pg_sys::Node) -> Option<*mut pg_sys::Query> {
    if !is_a(node, T_ExplainStmt) {
        return None;
    }
    let explain = node as *mut pg_sys::ExplainStmt;
    let query = (*explain).query as *mut pg_sys::Query;
    let analyze = list_ptrs::<pg_sys::DefElem>((*explain).options)
        .filter(|d| cstr((**d).defname).as_deref() == Some("analyze"))
        .last()
        .is_some_and(|d| option_is_true((*d).arg));
    (analyze && is_a(query as *mut pg_sys::Node, T_Query)).then_some(query)
}

/// A boolean option's value as `define.c: defGetBoolean` reads it (no value: true).
unsafe fn option_is_true(arg: *mut pg_sys::Node) -> bool {
    if arg.is_null() {
        return true;
    }
    #[cfg(not(any(feature = "pg13", feature = "pg14")))]
    if is_a(arg, T_Boolean) {
        return (*(arg as *mut pg_sys::Boolean)).boolval;
    }
    if let Some(i) = int_value(arg) {
        return i != 0;
    }
    string_value(arg).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "on" | "t" | "yes" | "y" | "1"))
}

/// The relations a statement names, for the guard-schema check: `ALTER TABLE`, `ALTER … RENAME`,
/// `ALTER … SET SCHEMA`, `CREATE TRIGGER/RULE/INDEX`, `TRUNCATE`.
unsafe fn named_relations(node: *mut pg_sys::Node) -> Vec<*mut pg_sys::RangeVar> {
    match (*node).type_ {
        T_AlterTableStmt => vec![(*(node as *mut pg_sys::AlterTableStmt)).relation],
        T_RenameStmt => vec![(*(node as *mut pg_sys::RenameStmt)).relation],
        // `ALTER TABLE … SET SCHEMA`: a policy's rule on the table's name applies (the table leaves it)
        T_AlterObjectSchemaStmt => vec![(*(node as *mut pg_sys::AlterObjectSchemaStmt)).relation],
        T_CreateTrigStmt => vec![(*(node as *mut pg_sys::CreateTrigStmt)).relation],
        T_RuleStmt => vec![(*(node as *mut pg_sys::RuleStmt)).relation],
        T_IndexStmt => vec![(*(node as *mut pg_sys::IndexStmt)).relation],
        T_TruncateStmt => list_ptrs((*(node as *mut pg_sys::TruncateStmt)).relations).collect(),
        _ => Vec::new(),
    }
}

/// Tables the statement changes and reads by name, `schema.name`, for a policy's table rules:
/// the relations it names (changed), and `COPY`'s table (changed by `FROM`, read by `TO`).
///
/// # Safety
/// `node` is a valid utility statement node, inside a transaction.
pub unsafe fn utility_tables(node: *mut pg_sys::Node) -> (Vec<String>, Vec<String>) {
    let names = |rvs: Vec<*mut pg_sys::RangeVar>| -> Vec<String> {
        rvs.into_iter().filter_map(|rv| resolve(rv)).flat_map(|relid| crate::nodes::names_with_ancestors(relid)).collect()
    };
    if is_a(node, T_CopyStmt) {
        let copy = node as *mut pg_sys::CopyStmt;
        let table = names(vec![(*copy).relation]);
        return if (*copy).is_from { (table, Vec::new()) } else { (Vec::new(), table) };
    }
    (names(named_relations(node)), Vec::new())
}

/// The relations a utility statement names that exist now (for its approval id).
///
/// # Safety
/// `node` is a valid utility statement node, inside a transaction.
pub unsafe fn named_relids(node: *mut pg_sys::Node) -> Vec<pg_sys::Oid> {
    let mut rvs = named_relations(node);
    if is_a(node, T_CopyStmt) {
        rvs.push((*(node as *mut pg_sys::CopyStmt)).relation);
    }
    rvs.into_iter().filter_map(|rv| resolve(rv)).collect()
}

/// Whether every relation a TRUNCATE, DROP or ALTER TABLE names is one of this session's temporary
/// relations (and it names at least one).
unsafe fn names_only_scratch(node: *mut pg_sys::Node) -> bool {
    let mut relids: Vec<Option<pg_sys::Oid>> = named_relations(node).into_iter().map(|rv| resolve(rv)).collect();
    if is_a(node, T_DropStmt) {
        let drop = node as *mut pg_sys::DropStmt;
        use pg_sys::ObjectType::*;
        if matches!((*drop).removeType, OBJECT_TABLE | OBJECT_VIEW | OBJECT_INDEX | OBJECT_SEQUENCE | OBJECT_MATVIEW) {
            relids.extend(list_ptrs::<pg_sys::List>((*drop).objects).map(|names| resolve(pg_sys::makeRangeVarFromNameList(names))));
        }
    }
    !relids.is_empty() && relids.iter().all(|r| r.is_some_and(crate::nodes::is_session_temp))
}

unsafe fn acts_on_guard_schema(node: *mut pg_sys::Node) -> bool {
    let schema = crate::facts::guard_objects::interdict_namespace();
    let mut relations = named_relations(node);
    if is_a(node, T_LockStmt) {
        relations.extend(list_ptrs::<pg_sys::RangeVar>((*(node as *mut pg_sys::LockStmt)).relations)); // a lock holds every guarded write
    }
    schema != pg_sys::InvalidOid && relations.into_iter().filter_map(|rv| resolve(rv)).any(|relid| pg_sys::get_rel_namespace(relid) == schema)
}

/// Where `COPY … TO 'file'` writes ([`server_place`]), if it writes a server file.
///
/// # Safety
/// `node` is a valid utility statement node.
pub unsafe fn copy_to_server_file(node: *mut pg_sys::Node, places: &FilePlaces) -> Option<FileTarget> {
    if !is_a(node, T_CopyStmt) || (*(node as *mut pg_sys::CopyStmt)).is_from || (*(node as *mut pg_sys::CopyStmt)).is_program {
        return None;
    }
    Some(server_place(&cstr((*(node as *mut pg_sys::CopyStmt)).filename)?, places))
}

/// The settings that place server files: `interdict.policy_file`, `interdict.file_directories`.
pub struct FilePlaces {
    pub policy_file: Option<String>,
    pub named: Vec<String>,
}

/// Where a file the server writes by name is ([`FileTarget`]): among the server's own places — its
/// data directory (a relative name is the data directory's: the server's working directory), what it
/// links to (tablespaces, a WAL directory elsewhere), the directories of its configuration files (`postgresql.conf`,
/// `pg_hba.conf`, `pg_ident.conf`), the guard's policy file (`interdict.policy_file`) and its
/// directory — in a directory `interdict.file_directories` names, or elsewhere.
/// Paths are compared with symbolic links resolved, as far as they exist.
pub fn server_place(file: &str, places: &FilePlaces) -> FileTarget {
    server_own_place(file, places.policy_file.as_deref()).unwrap_or_else(|target| {
        let mut named = places.named.iter().filter_map(|d| resolved_in_data(d));
        match target {
            Some(target) if named.any(|dir| target.starts_with(dir)) => FileTarget::Named,
            Some(target) => FileTarget::Elsewhere(target.display().to_string()),
            None => FileTarget::Elsewhere(format!("{file} (through directories that do not exist)")),
        }
    })
}

/// `path` (a relative one in the data directory) with symbolic links resolved as far as it exists,
/// the rest after it; `None` if the rest climbs (`..`) through what does not exist.
fn resolved_in_data(path: &str) -> Option<std::path::PathBuf> {
    use std::path::{Component, Path, PathBuf};
    // SAFETY: DataDir is set at the server's start and not changed after.
    let data = PathBuf::from(unsafe { cstr(pg_sys::DataDir) }?);
    let mut existing = data.join(path);
    let mut rest = Vec::new();
    let mut links = 0;
    while !existing.exists() {
        // A symbolic link to what does not exist yet: writing it creates its target.
        if let Ok(target) = std::fs::read_link(&existing) {
            links += 1;
            if links > 40 {
                return None;
            }
            existing = existing.parent().map_or(target.clone(), |dir| dir.join(&target));
            continue;
        }
        rest.push(existing.file_name()?.to_os_string());
        existing.pop();
    }
    let mut out = existing.canonicalize().ok()?;
    for part in rest.iter().rev() {
        if Path::new(part).components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

/// `Ok(place)` if `file` is among the server's own places, else `Err(file resolved)`.
fn server_own_place(file: &str, policy_file: Option<&str>) -> Result<FileTarget, Option<std::path::PathBuf>> {
    use std::path::Path;
    let Some(target) = resolved_in_data(file) else { return Err(None) };
    // SAFETY: DataDir and the configuration files' names are set at the server's start (and reloads).
    let mut places: Vec<(String, String)> = vec![("the data directory".into(), unsafe { cstr(pg_sys::DataDir) }.unwrap_or_default())];
    for (what, setting) in unsafe { [("postgresql.conf", pg_sys::ConfigFileName), ("pg_hba.conf", pg_sys::HbaFileName), ("pg_ident.conf", pg_sys::IdentFileName)] } {
        if let Some(dir) = unsafe { cstr(setting) }.and_then(|f| Path::new(&f).parent().map(|d| d.display().to_string())) {
            places.push((format!("the directory of {what}"), dir));
        }
    }
    // What the data directory links to lies outside it: each tablespace (`pg_tblspc/<oid>`), the WAL
    // (`pg_wal`, made with `initdb --waldir`), any other link a DBA made there.
    let data = unsafe { cstr(pg_sys::DataDir) }.unwrap_or_default();
    for dir in [Path::new(&data).to_path_buf(), Path::new(&data).join("pg_tblspc")] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                places.push(("a directory the data directory links to".into(), entry.path().display().to_string()));
            }
        }
    }
    if let Some(policy) = policy_file {
        places.push(("interdict.policy_file".into(), policy.to_string()));
        if let Some(dir) = Path::new(policy).parent().map(|d| d.display().to_string()) {
            places.push(("the directory of interdict.policy_file".into(), dir));
        }
    }
    match places.into_iter().find(|(_, place)| resolved_in_data(place).is_some_and(|p| target.starts_with(p))) {
        Some((what, _)) => Ok(FileTarget::ServerOwn(what)),
        None => Err(Some(target)),
    }
}

/// The relations an `ALTER … RENAME` or `ALTER … SET SCHEMA` gives another name, as (`schema.name`
/// now, after), for a policy's table rules: a schema renamed renames each relation in it, and
/// `schema.*` (what a rule on the schema finds of relations made there later).
///
/// # Safety
/// `node` is a valid utility statement node; inside a transaction.
pub unsafe fn renamed_relations(node: *mut pg_sys::Node) -> Vec<(String, String)> {
    use pg_sys::ObjectType::*;
    let relation_kind = |kind| matches!(kind, OBJECT_TABLE | OBJECT_VIEW | OBJECT_MATVIEW | OBJECT_FOREIGN_TABLE | OBJECT_SEQUENCE | OBJECT_INDEX);
    let moved = |rv: *mut pg_sys::RangeVar, schema: Option<String>, name: Option<String>| -> Vec<(String, String)> {
        let Some(relid) = resolve(rv) else { return Vec::new() };
        let (Some(now), Some(relname)) = (crate::nodes::relation_name(relid), cstr(pg_sys::get_rel_name(relid))) else { return Vec::new() };
        let schema = schema.or_else(|| cstr(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid)))).unwrap_or_default();
        vec![(now, format!("{schema}.{}", name.unwrap_or(relname)))]
    };
    if is_a(node, T_RenameStmt) {
        let stmt = &*(node as *mut pg_sys::RenameStmt);
        let Some(new) = cstr(stmt.newname) else { return Vec::new() };
        if relation_kind(stmt.renameType) {
            return moved(stmt.relation, None, Some(new));
        }
        if stmt.renameType == OBJECT_SCHEMA {
            let Some(old) = cstr(stmt.subname) else { return Vec::new() };
            let namespace = pg_sys::get_namespace_oid(stmt.subname, true);
            let mut renamed: Vec<(String, String)> = crate::nodes::relations_in(namespace)
                .into_iter()
                .filter_map(|relid| cstr(pg_sys::get_rel_name(relid)))
                .map(|name| (format!("{old}.{name}"), format!("{new}.{name}")))
                .collect();
            renamed.push((format!("{old}.*"), format!("{new}.*")));
            return renamed;
        }
    }
    if is_a(node, T_AlterObjectSchemaStmt) {
        let stmt = &*(node as *mut pg_sys::AlterObjectSchemaStmt);
        if relation_kind(stmt.objectType) {
            return moved(stmt.relation, cstr(stmt.newschema), None);
        }
    }
    Vec::new()
}

/// A RangeVar's relation, if it exists (no lock: only its schema is read).
pub unsafe fn resolve(rv: *mut pg_sys::RangeVar) -> Option<pg_sys::Oid> {
    if rv.is_null() {
        return None;
    }
    let relid = pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut());
    (relid != pg_sys::InvalidOid).then_some(relid)
}

/// `ALTER TABLE` subcommands, as guarded mode judges them (`utility_table::ALTER_TABLE`); a few say
/// more than their kind: a column's type change, a dropped constraint, an identity's options.
unsafe fn alter_table(stmt: *mut pg_sys::AlterTableStmt) -> UtilityAction {
    use pg_sys::AlterTableType as AT;
    let relid = resolve((*stmt).relation);
    let changes = list_ptrs::<pg_sys::AlterTableCmd>((*stmt).cmds)
        .map(|cmd| {
            let target = cstr((*cmd).name).unwrap_or_default();
            match (*cmd).subtype {
                AT::AT_AlterColumnType => column_type(relid, cmd, target),
                AT::AT_DropConstraint => TableChange::DropConstraint { key: is_key_constraint(relid, (*cmd).name), name: target },
                AT::AT_SetIdentity if rewinds_sequence((*cmd).def as *mut pg_sys::List) => TableChange::RewindsSequence { column: target },
                #[cfg(feature = "pg18")]
                AT::AT_AlterConstraint if stops_enforcing((*cmd).def) => {
                    TableChange::Subcommand { name: interdict_core::utility_table::NOT_ENFORCED.to_string(), target }
                }
                subtype => TableChange::Subcommand { name: crate::facts::names::alter_table_type(subtype).to_string(), target },
            }
        })
        .collect();
    UtilityAction::AlterTable { changes }
}

extern "C-unwind" {
    /// `pg_constraint.c` (pgrx does not bind it).
    fn get_relation_constraint_oid(relid: pg_sys::Oid, conname: *const std::ffi::c_char, missing_ok: bool) -> pg_sys::Oid;
}

/// One attribute of a catalog row found by its OID through a syscache (pgrx binds not every
/// catalog's struct).
unsafe fn catalog_attr(cache: pg_sys::SysCacheIdentifier::Type, oid: pg_sys::Oid, attnum: i16) -> Option<pg_sys::Datum> {
    let tup = pg_sys::SearchSysCache1(cache as i32, pg_sys::Datum::from(oid));
    if tup.is_null() {
        return None;
    }
    let mut isnull = false;
    let value = pg_sys::SysCacheGetAttr(cache as i32, tup, attnum, &mut isnull);
    pg_sys::ReleaseSysCache(tup);
    (!isnull).then_some(value)
}

/// Whether the table's constraint `name` is a primary, unique, exclusion or foreign key (a missing
/// one counts as a key: Postgres reports it missing once an operator approves, and nothing is lost).
unsafe fn is_key_constraint(relid: Option<pg_sys::Oid>, name: *const std::ffi::c_char) -> bool {
    let Some(relid) = relid else { return true };
    let oid = get_relation_constraint_oid(relid, name, true);
    if oid == pg_sys::InvalidOid {
        return true;
    }
    // pg_constraint.contype is attribute 4 (`pg_constraint.h`).
    let contype = catalog_attr(pg_sys::SysCacheIdentifier::CONSTROID, oid, 4).map_or(0, |d| d.value() as u8);
    contype == 0 || matches!(contype, b'p' | b'u' | b'x' | b'f')
}

/// `ALTER COLUMN … TYPE`: the column's current type against the one asked for, and whether a `USING`
/// expression computes new values (anything but the column itself, or a cast of it). A type that
/// cannot be read (missing column, unknown type) counts as a lossy change: Postgres reports the real
/// error once an operator approves, and nothing was lost by asking.
unsafe fn column_type(relid: Option<pg_sys::Oid>, cmd: *mut pg_sys::AlterTableCmd, column: String) -> TableChange {
    let unknown = || TypeRef::new("?", Modifier::None);
    let def = (*cmd).def as *mut pg_sys::ColumnDef;
    let (mut from, mut to) = (unknown(), unknown());
    if let Some(relid) = relid {
        let attnum = pg_sys::get_attnum(relid, (*cmd).name);
        if attnum > 0 {
            let (mut typid, mut typmod, mut coll) = (pg_sys::InvalidOid, -1, pg_sys::InvalidOid);
            pg_sys::get_atttypetypmodcoll(relid, attnum, &mut typid, &mut typmod, &mut coll);
            from = type_ref(typid, typmod);
        }
    }
    let mut rewrites = false;
    if is_a(def as *mut pg_sys::Node, T_ColumnDef) {
        let target = lookup_type((*def).typeName);
        if let Some((typid, typmod)) = target {
            to = type_ref(typid, typmod);
        }
        rewrites = !is_plain_column(strip_casts((*def).raw_default, target), &column);
    }
    TableChange::ColumnType { column, from, to, rewrites }
}

/// A type name as the statement's search path resolves it now: its OID and modifier.
unsafe fn lookup_type(name: *mut pg_sys::TypeName) -> Option<(pg_sys::Oid, i32)> {
    if name.is_null() {
        return None;
    }
    let mut typmod = -1;
    let tup = pg_sys::LookupTypeName(std::ptr::null_mut(), name, &mut typmod, true);
    if tup.is_null() {
        return None;
    }
    let typid = (*(pg_sys::GETSTRUCT(tup) as *mut pg_sys::FormData_pg_type)).oid;
    pg_sys::ReleaseSysCache(tup);
    Some((typid, typmod))
}

/// A type and its modifier, decoded: lengths (`varchar`, `bpchar`, `bit`, `varbit` store
/// `n + 4`, or `n` for bits), numeric's precision and scale (`numeric.c: make_numeric_typmod`),
/// printed as Postgres prints them (`format_type_with_typemod`).
unsafe fn type_ref(typid: pg_sys::Oid, typmod: i32) -> TypeRef {
    let name = type_name(typid).unwrap_or_default();
    // An array's modifier is its element type's.
    let element = pg_sys::get_element_type(typid);
    let of = if element == pg_sys::InvalidOid { typid } else { element };
    let is = |oids: &[pg_sys::Oid]| oids.contains(&of);
    let m = typmod;
    let modifier = if m < 0 {
        Modifier::None
    } else if is(&[pg_sys::NUMERICOID]) && m >= 4 {
        // `make_numeric_typmod`: the scale is 11 bits, signed (negative from 15)
        Modifier::Numeric { precision: (((m - 4) >> 16) & 0xffff) as u32, scale: ((((m - 4) & 0x7ff) ^ 1024) - 1024) }
    } else if is(&[pg_sys::VARCHAROID, pg_sys::BPCHAROID]) && m >= 4 {
        Modifier::Length((m - 4) as u32)
    } else if is(&[pg_sys::BITOID, pg_sys::VARBITOID]) {
        Modifier::Length(m as u32)
    } else if is(&[pg_sys::TIMESTAMPOID, pg_sys::TIMESTAMPTZOID, pg_sys::TIMEOID, pg_sys::TIMETZOID]) {
        Modifier::Other(m as u32) // a precision
    } else if is(&[pg_sys::INTERVALOID]) && (m >> 16) & 0x7fff == 0x7fff {
        Modifier::Other((m & 0xffff) as u32) // every field kept (`INTERVAL_FULL_RANGE`): a precision
    } else {
        Modifier::Opaque(m) // interval's field restrictions, an extension type's modifier
    };
    let display = crate::nodes::cstr(pg_sys::format_type_with_typemod(typid, typmod)).unwrap_or_else(|| name.clone());
    TypeRef { name, modifier, display }
}

/// A raw expression without the casts around it that are to the new type itself (`USING x::int`
/// into `int` converts as no `USING` would); a cast to anything else (a shorter `varchar`, a
/// domain) stays, and computes new values.
unsafe fn strip_casts(mut node: *mut pg_sys::Node, target: Option<(pg_sys::Oid, i32)>) -> *mut pg_sys::Node {
    while is_a(node, T_TypeCast) && target.is_some() && lookup_type((*(node as *mut pg_sys::TypeCast)).typeName) == target {
        node = (*(node as *mut pg_sys::TypeCast)).arg;
    }
    node
}

/// No `USING` at all, or a reference to the column itself (`USING col`, `USING t.col`).
unsafe fn is_plain_column(node: *mut pg_sys::Node, column: &str) -> bool {
    if node.is_null() {
        return true;
    }
    if !is_a(node, T_ColumnRef) {
        return false;
    }
    let fields: Vec<*mut pg_sys::Node> = list_ptrs((*(node as *mut pg_sys::ColumnRef)).fields).collect();
    fields.last().and_then(|f| string_value(*f)).is_some_and(|name| name == column)
}

/// `pg_type.typname` of a base type of `pg_catalog` (what the decisions' lists name); any other
/// type, a domain over one included, by its schema's OID too (`2200.text`), which no list names:
/// a type of the same name elsewhere is not the builtin.
unsafe fn type_name(typid: pg_sys::Oid) -> Option<String> {
    let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::TYPEOID as i32, pg_sys::Datum::from(typid));
    if tup.is_null() {
        return None;
    }
    let form = pg_sys::GETSTRUCT(tup) as *mut pg_sys::FormData_pg_type;
    let builtin = u32::from((*form).typnamespace) == pg_sys::PG_CATALOG_NAMESPACE && (*form).typtype as u8 != pg_sys::TYPTYPE_DOMAIN;
    let name = cstr((*form).typname.data.as_ptr()).map(|n| if builtin { n } else { format!("{}.{n}", u32::from((*form).typnamespace)) });
    pg_sys::ReleaseSysCache(tup);
    name
}

unsafe fn action(node: *mut pg_sys::Node) -> UtilityAction {
    match (*node).type_ {
        T_CopyStmt => {
            let copy = &*(node as *mut pg_sys::CopyStmt);
            UtilityAction::Copy { from: copy.is_from, file: !copy.filename.is_null(), program: copy.is_program }
        }
        T_LockStmt => {
            let lock = &*(node as *mut pg_sys::LockStmt);
            UtilityAction::Lock { stronger_than_access_share: lock.mode > pg_sys::AccessShareLock as i32 }
        }
        T_TransactionStmt => transaction_mode((*(node as *mut pg_sys::TransactionStmt)).options),
        T_VariableSetStmt => set_variable(node as *mut pg_sys::VariableSetStmt),
        T_AlterSystemStmt => alter_setting((*(node as *mut pg_sys::AlterSystemStmt)).setstmt),
        T_AlterRoleSetStmt => alter_setting((*(node as *mut pg_sys::AlterRoleSetStmt)).setstmt),
        T_AlterDatabaseSetStmt => alter_setting((*(node as *mut pg_sys::AlterDatabaseSetStmt)).setstmt),
        T_DropStmt => {
            let drop = &*(node as *mut pg_sys::DropStmt);
            if drop.removeType != pg_sys::ObjectType::OBJECT_EXTENSION {
                let keys = drop.removeType == pg_sys::ObjectType::OBJECT_INDEX && list_ptrs::<pg_sys::List>(drop.objects).any(|n| is_key_index(n));
                let kind = if keys { interdict_core::utility_table::UNIQUE_INDEX } else { crate::facts::names::object_type(drop.removeType) };
                return UtilityAction::Drop { kind: kind.to_string(), cascade: drop.behavior == pg_sys::DropBehavior::DROP_CASCADE };
            }
            UtilityAction::Extension { names: list_ptrs(drop.objects).filter_map(|n| string_value(n)).collect() }
        }
        T_AlterEnumStmt if !(*(node as *mut pg_sys::AlterEnumStmt)).oldVal.is_null() => {
            UtilityAction::Rename { kind: interdict_core::guarded::ENUM_VALUE.to_string() }
        }
        T_RenameStmt => UtilityAction::Rename { kind: crate::facts::names::object_type((*(node as *mut pg_sys::RenameStmt)).renameType).to_string() },
        T_DefineStmt => UtilityAction::Define { kind: crate::facts::names::object_type((*(node as *mut pg_sys::DefineStmt)).kind).to_string() },
        T_CreateFunctionStmt => code((*(node as *mut pg_sys::CreateFunctionStmt)).options, "sql"),
        T_DoStmt => code((*(node as *mut pg_sys::DoStmt)).args, "plpgsql"),
        T_CreateExtensionStmt => {
            let name = cstr((*(node as *mut pg_sys::CreateExtensionStmt)).extname).unwrap_or_default();
            UtilityAction::CreateExtension { allowed: crate::settings::extension_allowed(&name), name }
        }
        T_AlterExtensionStmt => extension((*(node as *mut pg_sys::AlterExtensionStmt)).extname),
        T_AlterExtensionContentsStmt => extension((*(node as *mut pg_sys::AlterExtensionContentsStmt)).extname),
        T_AlterObjectSchemaStmt => {
            let alter = &*(node as *mut pg_sys::AlterObjectSchemaStmt);
            if alter.objectType != pg_sys::ObjectType::OBJECT_EXTENSION {
                return UtilityAction::Other;
            }
            UtilityAction::Extension { names: string_value(alter.object).into_iter().collect() }
        }
        T_LoadStmt => UtilityAction::Load,
        T_CreateTrigStmt => UtilityAction::Trigger { others_table: others_table((*(node as *mut pg_sys::CreateTrigStmt)).relation) },
        T_AlterSeqStmt => UtilityAction::AlterSequence { rewinds: rewinds_sequence((*(node as *mut pg_sys::AlterSeqStmt)).options) },
        _ => UtilityAction::Other,
    }
}

/// `ALTER CONSTRAINT … NOT ENFORCED` (18): the key's triggers are dropped.
#[cfg(feature = "pg18")]
unsafe fn stops_enforcing(def: *mut pg_sys::Node) -> bool {
    if def.is_null() || !is_a(def, pg_sys::NodeTag::T_ATAlterConstraint) {
        return false;
    }
    let alter = &*(def as *mut pg_sys::ATAlterConstraint);
    alter.alterEnforceability && !alter.is_enforced
}

/// Whether a qualified name (as `DROP INDEX` lists it) is a unique, primary-key, exclusion or
/// replica-identity index.
unsafe fn is_key_index(names: *mut pg_sys::List) -> bool {
    let Some(relid) = resolve(pg_sys::makeRangeVarFromNameList(names)) else { return false };
    let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::INDEXRELID as i32, relid.into());
    if tuple.is_null() {
        return false;
    }
    let index = &*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_index);
    let key = index.indisunique || index.indisprimary || index.indisexclusion || index.indisreplident;
    pg_sys::ReleaseSysCache(tuple);
    key
}

/// Whether a table is another role's: its owner is neither the current user nor a role it is a
/// member of (a superuser's rights do not count: the question is whose sessions run the table's code).
unsafe fn others_table(relation: *mut pg_sys::RangeVar) -> bool {
    // A missing table: Postgres reports it itself.
    let Some(owner) = resolve(relation).and_then(|relid| crate::nodes::pg_class(relid, |c| c.relowner)) else { return false };
    let me = pg_sys::GetUserId();
    owner != me && !pg_sys::is_member_of_role_nosuper(me, owner)
}

/// Whether sequence options can make the sequence hand out values again (`RESTART`, `CYCLE`, a
/// negative `INCREMENT`): rows inserted later may then collide with rows in use, and undo cannot
/// take the sequence back.
unsafe fn rewinds_sequence(options: *mut pg_sys::List) -> bool {
    list_ptrs::<pg_sys::DefElem>(options).filter(|d| is_a(*d as *mut pg_sys::Node, T_DefElem)).any(|d| {
        match cstr((*d).defname).as_deref() {
            Some("restart") => true,
            Some("cycle") => option_is_true((*d).arg),
            Some("increment") => numeric_option((*d).arg).is_some_and(|v| v < 0.0),
            _ => false,
        }
    })
}

/// A numeric option's value (`Integer` or `Float` node, as the grammar makes them).
unsafe fn numeric_option(arg: *mut pg_sys::Node) -> Option<f64> {
    if let Some(i) = int_value(arg) {
        return Some(i as f64);
    }
    if is_a(arg, T_Float) {
        #[cfg(any(feature = "pg13", feature = "pg14"))]
        let text = cstr((*(arg as *mut pg_sys::Value)).val.str_);
        #[cfg(not(any(feature = "pg13", feature = "pg14")))]
        let text = cstr((*(arg as *mut pg_sys::Float)).fval);
        return text.and_then(|t| t.parse().ok());
    }
    None
}

/// `CREATE FUNCTION`'s or `DO`'s language (the `language` option, else the statement's default) and
/// whether it is trusted (`pg_language.lanpltrusted`; C and internal never are). A language that
/// does not exist is not trusted: Postgres reports it once the statement would run.
unsafe fn code(options: *mut pg_sys::List, default: &str) -> UtilityAction {
    let language = list_ptrs::<pg_sys::DefElem>(options)
        .filter(|d| is_a(*d as *mut pg_sys::Node, T_DefElem) && cstr((**d).defname).as_deref() == Some("language"))
        .find_map(|d| string_value((*d).arg))
        .unwrap_or_else(|| default.to_string())
        .to_ascii_lowercase();
    let name = std::ffi::CString::new(language.clone()).unwrap_or_default();
    let oid = pg_sys::get_language_oid(name.as_ptr(), true);
    // pg_language.lanpltrusted is attribute 5 (`pg_language.h`).
    let trusted = oid != pg_sys::InvalidOid && catalog_attr(pg_sys::SysCacheIdentifier::LANGOID, oid, 5).is_some_and(|d| d.value() != 0);
    UtilityAction::Code { language, trusted }
}

unsafe fn extension(name: *mut std::ffi::c_char) -> UtilityAction {
    UtilityAction::Extension { names: cstr(name).into_iter().collect() }
}

/// `READ WRITE` in a transaction's options: `DefElem("transaction_read_only", 0)` (gram.y).
unsafe fn transaction_mode(options: *mut pg_sys::List) -> UtilityAction {
    let read_write = list_ptrs::<pg_sys::DefElem>(options).any(|d| {
        is_a(d as *mut pg_sys::Node, T_DefElem)
            && cstr((*d).defname).as_deref() == Some("transaction_read_only")
            && int_value((*d).arg) == Some(0)
    });
    if read_write {
        UtilityAction::TransactionMode { read_write: true }
    } else {
        UtilityAction::Other
    }
}

unsafe fn set_variable(stmt: *mut pg_sys::VariableSetStmt) -> UtilityAction {
    use pg_sys::VariableSetKind::*;
    let name = cstr((*stmt).name).unwrap_or_default().to_ascii_lowercase();
    match (*stmt).kind {
        VAR_SET_VALUE => UtilityAction::SetVariable { value: cstr(pg_sys::ExtractSetVariableArgs(stmt)), name },
        VAR_SET_DEFAULT | VAR_RESET => UtilityAction::SetVariable { name, value: None },
        // SET TRANSACTION … / SET SESSION CHARACTERISTICS AS TRANSACTION …: the same DefElems as BEGIN.
        VAR_SET_MULTI => transaction_mode((*stmt).args),
        _ => UtilityAction::Other,
    }
}

unsafe fn alter_setting(setstmt: *mut pg_sys::VariableSetStmt) -> UtilityAction {
    if setstmt.is_null() || (*setstmt).kind == pg_sys::VariableSetKind::VAR_RESET_ALL {
        return UtilityAction::AlterSetting { name: None };
    }
    UtilityAction::AlterSetting { name: cstr((*setstmt).name).map(|n| n.to_ascii_lowercase()) }
}
