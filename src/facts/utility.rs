//! Facts of a utility statement, from its parse node (`PlannedStmt->utilityStmt`).

use crate::nodes::{cstr, int_value, is_a, list_ptrs, string_value};
use interdict_core::facts::{UtilityAction, UtilityFacts};
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag::*;

/// # Safety
/// `node` is a valid utility statement node.
pub unsafe fn utility_facts(node: *mut pg_sys::Node) -> UtilityFacts {
    // `utility.c: CreateCommandTag` names the statement as Postgres' command tags do.
    let tag = pg_sys::CreateCommandTag(node);
    UtilityFacts {
        tag: cstr(pg_sys::GetCommandTagName(tag)).unwrap_or_default(),
        tag_index: tag as usize,
        action: action(node),
    }
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
                return UtilityAction::Other;
            }
            UtilityAction::Extension { names: list_ptrs(drop.objects).filter_map(|n| string_value(n)).collect() }
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
        _ => UtilityAction::Other,
    }
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
