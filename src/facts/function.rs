//! Facts of a function about to be evaluated, from its `pg_proc` row.

use interdict_core::facts::FunctionFacts;
use pgrx::pg_sys;

/// `pg_language` OIDs of native implementations (fixed in `pg_language.dat`).
const INTERNAL_LANGUAGE: u32 = 12;
const C_LANGUAGE: u32 = 13;

/// # Safety
/// Called inside a transaction (syscache lookup).
pub unsafe fn function_facts(funcid: pg_sys::Oid) -> Option<FunctionFacts> {
    let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::PROCOID as i32, funcid.into());
    if tuple.is_null() {
        return None;
    }
    let proc = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_proc>(tuple);
    let name = pg_sys::name_data_to_str(&proc.proname).to_string();
    let native = [INTERNAL_LANGUAGE, C_LANGUAGE].contains(&u32::from(proc.prolang));
    let symbol = if native { symbol(tuple).filter(|s| *s != name) } else { None };
    let volatile = proc.provolatile as u8 == pg_sys::PROVOLATILE_VOLATILE;
    let guard = proc.pronamespace == crate::facts::guard_objects::interdict_namespace();
    let facts = FunctionFacts { name, native, symbol, volatile, guard };
    pg_sys::ReleaseSysCache(tuple);
    Some(facts)
}

/// A native function's `prosrc`: the builtin (internal) or the C symbol it runs.
unsafe fn symbol(tuple: pg_sys::HeapTuple) -> Option<String> {
    let mut null = true;
    let datum = pg_sys::SysCacheGetAttr(pg_sys::SysCacheIdentifier::PROCOID as i32, tuple, pg_sys::Anum_pg_proc_prosrc as pg_sys::AttrNumber, &mut null);
    if null {
        return None;
    }
    let text = pg_sys::text_to_cstring(datum.cast_mut_ptr());
    let symbol = crate::nodes::cstr(text);
    pg_sys::pfree(text.cast());
    symbol
}
