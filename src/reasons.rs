//! Raising a refusal as a Postgres error. The table itself lives in `interdict_core::reasons`; this
//! file only turns a [`Refusal`] into `ereport(ERROR, errcode, errmsg, errdetail, errhint)`.

use interdict_core::{ReasonCode, Refusal};
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgLogLevel;
use pgrx::pg_sys;

/// The SQLSTATE of a reason, encoded as Postgres encodes it (`MAKE_SQLSTATE`).
pub fn sqlstate_code(code: ReasonCode) -> i32 {
    code.reason().sqlstate.bytes().enumerate().map(|(i, b)| ((b as i32 - '0' as i32) & 0x3F) << (6 * i)).sum()
}

/// What happens to every refusal before it is reported: a request an operator may approve is
/// noted for `interdict.pending()`, then the refusal is counted and audited.
pub fn note(refusal: &Refusal) {
    crate::pending::note(refusal);
    crate::stats::refused(refusal);
    crate::audit::refused(refusal);
}

/// Raises the refusal as an ERROR (after [`note`]); never returns.
pub fn raise(refusal: &Refusal) -> ! {
    report(refusal, PgLogLevel::ERROR)
}

fn report(refusal: &Refusal, level: PgLogLevel) -> ! {
    note(refusal);
    ErrorReport::new(PgSqlErrorCode::from(sqlstate_code(refusal.code)), refusal.message(), "interdict")
        .set_detail(refusal.detail())
        .set_hint(refusal.hint())
        .report(level);
    unreachable!("ereport({level:?}) returned")
}

/// Reports a refusal from a check hook through `GUC_check_*`, which `guc.c` turns into the error.
/// It never reaches [`raise`], so it is noted (counted, audited) here.
pub unsafe fn reject(refusal: Refusal) -> bool {
    note(&refusal);
    let pstr = |s: String| crate::nodes::palloc_text(&s);
    pg_sys::GUC_check_errcode(sqlstate_code(refusal.code));
    pg_sys::GUC_check_errmsg_string = pstr(refusal.message());
    pg_sys::GUC_check_errdetail_string = pstr(refusal.detail());
    pg_sys::GUC_check_errhint_string = pstr(refusal.hint().to_string());
    false
}

/// Ends the connection with the refusal (FATAL): for a connection that must not start at all.
pub fn fatal(refusal: &Refusal) -> ! {
    report(refusal, PgLogLevel::FATAL)
}

/// The five-character SQLSTATE of an encoded error code (`UNPACK_SQLSTATE`).
pub fn sqlstate_text(code: i32) -> String {
    (0..5).map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char).collect()
}

/// Raises `internal.failure`: a step of the guard's own failed (`what`), for this reason (`error`).
pub fn internal_failure(what: &str, error: &str) -> ! {
    let refusal = Refusal::new(ReasonCode::InternalFailure, crate::settings::mode(), what.to_string()).fact("error", error.to_string());
    raise(&refusal)
}

/// An error from the guard's own Rust code that did not come through this file (a panic, which pgrx
/// reports as `XX000` from a `.rs` file): it gets `internal.failure`'s DETAIL and HINT, so that
/// every error the extension raises carries a reason code.
///
/// # Safety
/// `edata` is the error being reported (from `hooks/emit_log.rs`).
pub unsafe fn annotate_internal(edata: *mut pg_sys::ErrorData) {
    let internal = (*edata).sqlerrcode == PgSqlErrorCode::ERRCODE_INTERNAL_ERROR as i32;
    let file = crate::nodes::cstr((*edata).filename).unwrap_or_default();
    if !internal || !(*edata).detail.is_null() || !file.ends_with(".rs") {
        return;
    }
    let message = crate::nodes::cstr((*edata).message).unwrap_or_default();
    let refusal = Refusal::new(ReasonCode::InternalFailure, crate::settings::mode(), "a step of the guard's")
        .fact("error", message)
        .fact("at", format!("{file}:{}", (*edata).lineno));
    (*edata).detail = crate::nodes::palloc_text(&refusal.detail());
    (*edata).hint = crate::nodes::palloc_text(refusal.hint());
}
