//! Who the session is, as far as the guard's decisions care.

use interdict_core::Mode;
use pgrx::pg_sys;

/// Whether this is an operator's session: a member of `interdict_operator` in no agent mode (an
/// agent never acts as an operator, whatever its privileges).
pub fn is_operator() -> bool {
    if crate::settings::mode() != Mode::Off {
        return false;
    }
    // SAFETY: role lookups inside a transaction.
    unsafe {
        let operator = pg_sys::get_role_oid(c"interdict_operator".as_ptr(), true);
        operator != pg_sys::InvalidOid && pg_sys::has_privs_of_role(pg_sys::GetUserId(), operator)
    }
}
