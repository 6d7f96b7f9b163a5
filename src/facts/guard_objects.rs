//! The guard's own objects, by identity: the `interdict` extension, every object that belongs to it
//! (`pg_depend` deptype `e`: its schema, tables, functions, sequences, types, event triggers) and
//! everything in its schema. Agent sessions change none of them, by any command
//! (`extension.protected`). Asked twice, both from Postgres' own records:
//! - before a utility statement runs, for the objects it names (`get_object_address`, as the
//!   statements themselves resolve them), so that the refusal comes before any work;
//! - from the object-access hook, as Postgres creates, alters, drops or truncates an object
//!   (`OAT_POST_CREATE`, `OAT_POST_ALTER`, `OAT_DROP`, `OAT_TRUNCATE`), which catches whatever route a
//!   statement takes (`CREATE OR REPLACE`, `DROP … CASCADE` reaching a member, …).

use crate::nodes::{cstr, is_a, list_ptrs};
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag::*;

/// The extension's OID and schema's OID, if it is created in this database (looked up once per
/// transaction: `pg_extension` has no syscache).
unsafe fn extension() -> Option<(pg_sys::Oid, pg_sys::Oid)> {
    let xid = pg_sys::GetCurrentTransactionIdIfAny();
    let lxid = crate::nodes::local_transaction_id();
    if let Some((at, found)) = EXTENSION.get() {
        if at == (u32::from(xid), lxid) {
            return found;
        }
    }
    let ext = pg_sys::get_extension_oid(c"interdict".as_ptr(), true);
    let found = (ext != pg_sys::InvalidOid).then(|| (ext, interdict_namespace()));
    EXTENSION.set(Some(((u32::from(xid), lxid), found)));
    found
}

/// The schema named `interdict` (`InvalidOid` if there is none), where the guard's relations are
/// created: looked up by name once and kept until `pg_namespace` changes (a syscache callback
/// forgets it; the catalog lookup saw no fresher state between invalidations either), since every
/// guarded write asks.
///
/// # Safety
/// Inside a transaction (a catalog lookup).
pub unsafe fn interdict_namespace() -> pg_sys::Oid {
    if let Some(oid) = NAMESPACE.get() {
        return oid;
    }
    if !NAMESPACE_WATCHED.get() {
        NAMESPACE_WATCHED.set(true);
        pg_sys::CacheRegisterSyscacheCallback(pg_sys::SysCacheIdentifier::NAMESPACEOID as i32, Some(namespaces_changed), pg_sys::Datum::from(0usize));
    }
    let oid = pg_sys::get_namespace_oid(c"interdict".as_ptr(), true);
    NAMESPACE.set(Some(oid));
    oid
}

static NAMESPACE: crate::cell::BackendCell<Option<pg_sys::Oid>> = crate::cell::BackendCell::new(None);
static NAMESPACE_WATCHED: crate::cell::BackendCell<bool> = crate::cell::BackendCell::new(false);

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn namespaces_changed(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    NAMESPACE.set(None);
}

/// The guard's schema (`interdict`), if the extension is created in this database.
///
/// # Safety
/// Inside a transaction (catalog lookups).
pub unsafe fn guard_schema() -> Option<pg_sys::Oid> {
    extension().map(|(_, schema)| schema).filter(|&s| s != pg_sys::InvalidOid)
}

/// The last lookup, keyed by the transaction it was made in.
static EXTENSION: crate::cell::BackendCell<Option<((u32, u32), Option<(pg_sys::Oid, pg_sys::Oid)>)>> = crate::cell::BackendCell::new(None);

/// Whether an object is the extension, one of its members, or in its schema.
///
/// # Safety
/// Inside a transaction (catalog lookups).
pub unsafe fn is_guard_object(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> bool {
    let Some((ext, schema)) = extension() else { return false };
    if object_id == pg_sys::InvalidOid {
        return false;
    }
    if class_id == pg_sys::ExtensionRelationId && object_id == ext {
        return true;
    }
    if pg_sys::getExtensionOfObject(class_id, object_id) == ext {
        return true;
    }
    if class_id == pg_sys::NamespaceRelationId {
        return object_id == schema;
    }
    let address = pg_sys::ObjectAddress { classId: class_id, objectId: object_id, objectSubId: 0 };
    schema != pg_sys::InvalidOid && namespace_of(&address) == Some(schema)
}

/// A relation of the guard's that object `object_id` of catalog `class_id` now depends on
/// (`pg_depend`: a foreign key referencing `interdict.changes`, a view or statistics over it), if
/// any: such an object would keep the guard from purging its records (a foreign key pins each row)
/// or the extension from being dropped.
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn guard_relation_depended_on(class_id: pg_sys::Oid, object_id: pg_sys::Oid) -> Option<pg_sys::Oid> {
    crate::nodes::dependencies(class_id, object_id)
        .into_iter()
        .filter(|&(class, relid, _)| class == pg_sys::RelationRelationId && is_guard_relation(relid))
        .map(|(_, relid, _)| relid)
        .next()
}

/// Whether a relation is one of the guard's, asked for every sequence an agent's `nextval()` names:
/// the common answer ("not in the guard's schema") comes from two syscache lookups (the relation's
/// namespace, the schema by name), without `is_guard_object`'s scans of `pg_extension` and
/// `pg_depend` (about 15,000 instructions each, per transaction: `benches/RESULTS.md`). The guard's
/// relations are all created in its schema, and an agent session cannot move one out of it
/// (`OAT_POST_ALTER` on a guard object is refused).
///
/// # Safety
/// Inside a transaction (catalog lookups).
pub unsafe fn is_guard_relation(relid: pg_sys::Oid) -> bool {
    let schema = interdict_namespace();
    schema != pg_sys::InvalidOid && pg_sys::get_rel_namespace(relid) == schema && is_guard_object(pg_sys::RelationRelationId, relid)
}

/// The schema an object lives in (`objectaddress.c: get_object_namespace`), for the catalogs that
/// have one.
unsafe fn namespace_of(address: &pg_sys::ObjectAddress) -> Option<pg_sys::Oid> {
    let catalogs = [
        pg_sys::RelationRelationId,
        pg_sys::ProcedureRelationId,
        pg_sys::TypeRelationId,
        pg_sys::OperatorRelationId,
        pg_sys::CollationRelationId,
    ];
    if !catalogs.contains(&address.classId) {
        return None;
    }
    pgrx::PgTryBuilder::new(|| Some(pg_sys::get_object_namespace(address)))
        .catch_others(|_| None)
        .execute()
        .filter(|n| *n != pg_sys::InvalidOid)
}

/// The guard's object a utility statement names, if it names one (as `schema.name` or a kind).
///
/// # Safety
/// `node` is a valid utility statement node, inside a transaction.
pub unsafe fn named_guard_object(node: *mut pg_sys::Node) -> Option<String> {
    let names_objects = matches!(
        (*node).type_,
        T_DropStmt | T_RenameStmt | T_AlterObjectSchemaStmt | T_AlterOwnerStmt | T_CommentStmt | T_SecLabelStmt
            | T_AlterFunctionStmt | T_AlterEventTrigStmt | T_AlterSeqStmt | T_GrantStmt
            | T_CreateFunctionStmt | T_CreateStmt | T_ViewStmt | T_CreateSeqStmt
    );
    if !names_objects {
        return None; // most utility statements (BEGIN, SET, …) name none: no catalog lookup
    }
    extension()?;
    let named: Vec<(pg_sys::ObjectType::Type, *mut pg_sys::Node)> = match (*node).type_ {
        // `dropcmds.c: RemoveObjects` resolves every kind through `get_object_address`.
        T_DropStmt => {
            let d = node as *mut pg_sys::DropStmt;
            list_ptrs::<pg_sys::Node>((*d).objects).map(|o| ((*d).removeType, o)).collect()
        }
        // `alter.c` resolves these kinds through `get_object_address`; types, domains and shared
        // objects it names otherwise, and those are left to the object-access hook.
        T_RenameStmt => {
            let r = node as *mut pg_sys::RenameStmt;
            generic_or_relation((*r).renameType, (*r).relation, (*r).object)
        }
        T_AlterObjectSchemaStmt => {
            let a = node as *mut pg_sys::AlterObjectSchemaStmt;
            generic_or_relation((*a).objectType, (*a).relation, (*a).object)
        }
        T_AlterOwnerStmt => {
            let a = node as *mut pg_sys::AlterOwnerStmt;
            generic_or_relation((*a).objectType, (*a).relation, (*a).object)
        }
        T_CommentStmt => vec![((*(node as *mut pg_sys::CommentStmt)).objtype, (*(node as *mut pg_sys::CommentStmt)).object)],
        T_SecLabelStmt => vec![((*(node as *mut pg_sys::SecLabelStmt)).objtype, (*(node as *mut pg_sys::SecLabelStmt)).object)],
        T_AlterFunctionStmt => {
            let a = node as *mut pg_sys::AlterFunctionStmt;
            vec![((*a).objtype, (*a).func as *mut pg_sys::Node)]
        }
        T_AlterEventTrigStmt => {
            let name = (*(node as *mut pg_sys::AlterEventTrigStmt)).trigname;
            let oid = pg_sys::get_event_trigger_oid(name, true);
            return is_guard_object(pg_sys::EventTriggerRelationId, oid).then(|| format!("event trigger {}", cstr(name).unwrap_or_default()));
        }
        T_AlterSeqStmt => {
            let rv = (*(node as *mut pg_sys::AlterSeqStmt)).sequence;
            return relation_guard_object(rv);
        }
        // Creating (or replacing) in the guard's schema.
        T_CreateFunctionStmt => {
            // As `namespace.c: QualifiedNameGetCreationNamespace` finds it, without its privilege
            // check (the guard answers first): the named schema, else the search path's first.
            let (mut schema, mut name): (*mut std::ffi::c_char, *mut std::ffi::c_char) = (std::ptr::null_mut(), std::ptr::null_mut());
            pg_sys::DeconstructQualifiedName((*(node as *mut pg_sys::CreateFunctionStmt)).funcname, &mut schema, &mut name);
            let namespace = if schema.is_null() {
                let path = pg_sys::fetch_search_path(false);
                let first = crate::nodes::list_oids(path).next().unwrap_or(pg_sys::InvalidOid);
                pg_sys::list_free(path);
                first
            } else {
                pg_sys::get_namespace_oid(schema, true)
            };
            return is_guard_object(pg_sys::NamespaceRelationId, namespace).then(|| format!("schema (function {})", cstr(name).unwrap_or_default()));
        }
        T_CreateStmt => return created_in_guard_schema((*(node as *mut pg_sys::CreateStmt)).relation),
        T_ViewStmt => return created_in_guard_schema((*(node as *mut pg_sys::ViewStmt)).view),
        T_CreateSeqStmt => return created_in_guard_schema((*(node as *mut pg_sys::CreateSeqStmt)).sequence),
        T_GrantStmt => {
            use pg_sys::ObjectType::*;
            let g = node as *mut pg_sys::GrantStmt;
            // Tables and sequences are RangeVars, routines ObjectWithArgs, schemas names (`aclchk.c`).
            let readable = matches!((*g).objtype, OBJECT_TABLE | OBJECT_SEQUENCE | OBJECT_FUNCTION | OBJECT_PROCEDURE | OBJECT_ROUTINE | OBJECT_SCHEMA);
            if (*g).targtype != pg_sys::GrantTargetType::ACL_TARGET_OBJECT || !readable {
                return None;
            }
            list_ptrs::<pg_sys::Node>((*g).objects).map(|o| ((*g).objtype, o)).collect()
        }
        _ => return None,
    };
    named.into_iter().find_map(|(kind, object)| {
        use pg_sys::ObjectType::*;
        // Shared objects belong to no extension; a statement that names none here (a role's rename
        // names it elsewhere) gives `get_object_address` nothing it could read.
        if object.is_null() || matches!(kind, OBJECT_ROLE | OBJECT_DATABASE | OBJECT_TABLESPACE) {
            return None;
        }
        if is_a(object, T_RangeVar) {
            return relation_guard_object(object as *mut pg_sys::RangeVar);
        }
        let (address, relid) = resolve(kind, object)?;
        (is_guard_object(address.classId, address.objectId) || is_guard_object(pg_sys::RelationRelationId, relid))
            .then(|| crate::facts::names::object_type(kind).to_ascii_lowercase().replace('_', " "))
    })
}

/// A statement's target: a relation (`relation` set), or an object of a kind `alter.c` resolves
/// with `get_object_address` from the same node (schemas by name too).
unsafe fn generic_or_relation(kind: pg_sys::ObjectType::Type, relation: *mut pg_sys::RangeVar, object: *mut pg_sys::Node) -> Vec<(pg_sys::ObjectType::Type, *mut pg_sys::Node)> {
    use pg_sys::ObjectType::*;
    if !relation.is_null() {
        return vec![(kind, relation as *mut pg_sys::Node)];
    }
    let generic = matches!(
        kind,
        OBJECT_AGGREGATE | OBJECT_COLLATION | OBJECT_CONVERSION | OBJECT_EVENT_TRIGGER | OBJECT_FDW | OBJECT_FOREIGN_SERVER
            | OBJECT_FUNCTION | OBJECT_OPCLASS | OBJECT_OPFAMILY | OBJECT_OPERATOR | OBJECT_LANGUAGE | OBJECT_PROCEDURE
            | OBJECT_ROUTINE | OBJECT_STATISTIC_EXT | OBJECT_TSCONFIGURATION | OBJECT_TSDICTIONARY | OBJECT_TSPARSER
            | OBJECT_TSTEMPLATE | OBJECT_PUBLICATION | OBJECT_SUBSCRIPTION | OBJECT_SCHEMA
    );
    if generic { vec![(kind, object)] } else { Vec::new() }
}

/// A relation about to be created in the guard's schema (named with it: only then can it land there,
/// as the search path cannot reach a schema an agent may not create in).
unsafe fn created_in_guard_schema(rv: *mut pg_sys::RangeVar) -> Option<String> {
    if rv.is_null() || (*rv).schemaname.is_null() {
        return None;
    }
    let namespace = pg_sys::get_namespace_oid((*rv).schemaname, true);
    is_guard_object(pg_sys::NamespaceRelationId, namespace).then(|| format!("schema (creating {})", cstr((*rv).relname).unwrap_or_default()))
}

unsafe fn relation_guard_object(rv: *mut pg_sys::RangeVar) -> Option<String> {
    if rv.is_null() {
        return None;
    }
    let relid = pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as i32, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut());
    is_guard_object(pg_sys::RelationRelationId, relid).then(|| crate::nodes::relation_name(relid).unwrap_or_default())
}

/// An object named in a statement, as the statement itself resolves it (`get_object_address`, which
/// takes the lock the command takes anyway; missing objects are for the command to report).
/// Also returns the relation an object belongs to (a trigger's, a rule's, a column's), if any.
unsafe fn resolve(kind: pg_sys::ObjectType::Type, object: *mut pg_sys::Node) -> Option<(pg_sys::ObjectAddress, pg_sys::Oid)> {
    pgrx::PgTryBuilder::new(|| {
        let mut relation: pg_sys::Relation = std::ptr::null_mut();
        let address = pg_sys::get_object_address(kind, object, &mut relation, pg_sys::AccessShareLock as pg_sys::LOCKMODE, true);
        let mut relid = pg_sys::InvalidOid;
        if !relation.is_null() {
            relid = (*relation).rd_id;
            pg_sys::relation_close(relation, pg_sys::NoLock as pg_sys::LOCKMODE);
        }
        Some((address, relid))
    })
    .catch_others(|_| None)
    .execute()
}

/// What is wrong with an extension a guarded session's statement just created (`OAT_POST_CREATE`,
/// before its script runs, while the hooks still judge — `CASCADE`'s required ones are each made so)
/// or moved (`OAT_POST_ALTER`: `ALTER EXTENSION … SET SCHEMA` takes its objects along):
/// not named by `interdict.allowed_extensions` (`guarded.untrusted_code`), or made in Postgres' own
/// schemas (`system.protected`: its objects would shadow or join the catalog's) or in the guard's
/// (`extension.protected`).
///
/// # Safety
/// Inside a transaction (a catalog scan).
pub unsafe fn extension_refusal(extension: pg_sys::Oid) -> Option<(interdict_core::ReasonCode, String)> {
    use interdict_core::ReasonCode::*;
    let class = pg_sys::ExtensionRelationId;
    let at = |name: &std::ffi::CStr| usize::try_from(pg_sys::get_attnum(class, name.as_ptr())).ok().and_then(|a| a.checked_sub(1));
    let (values, nulls) = crate::nodes::row_now(class, extension, None)?;
    let (name_at, namespace_at) = (at(c"extname")?, at(c"extnamespace")?);
    if nulls[name_at] || nulls[namespace_at] {
        return None;
    }
    let name = crate::nodes::cstr(values[name_at].cast_mut_ptr::<std::ffi::c_char>())?;
    let namespace = pg_sys::Oid::from(values[namespace_at].value() as u32);
    let schema = crate::nodes::cstr(pg_sys::get_namespace_name(namespace)).unwrap_or_default();
    if !crate::settings::extension_allowed(&name) {
        return Some((GuardedUntrustedCode, format!("CREATE EXTENSION {name} (required by the extension created, CASCADE)")));
    }
    if [pg_sys::PG_CATALOG_NAMESPACE, pg_sys::PG_TOAST_NAMESPACE].contains(&u32::from(namespace)) || schema == "information_schema" {
        return Some((SystemProtected, format!("CREATE EXTENSION {name} in schema {schema}, Postgres' own")));
    }
    if namespace == interdict_namespace() {
        return Some((ExtensionProtected, format!("CREATE EXTENSION {name} in the guard's schema {schema}")));
    }
    None
}
