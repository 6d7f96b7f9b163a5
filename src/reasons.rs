//! Raising a refusal as a Postgres error. The table itself lives in `interdict_core::reasons`; this
//! file only turns a [`Refusal`] into `ereport(ERROR, errcode, errmsg, errdetail, errhint)`.

use interdict_core::{ReasonCode, Refusal};
use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgLogLevel;

/// The SQLSTATE of a reason, encoded as Postgres encodes it (`MAKE_SQLSTATE`).
pub fn sqlstate_code(code: ReasonCode) -> i32 {
    code.reason().sqlstate.bytes().enumerate().map(|(i, b)| ((b as i32 - '0' as i32) & 0x3F) << (6 * i)).sum()
}

/// What happens to every refusal before it is reported: a request an operator may approve is
/// noted for `interdict.pending()`, then the refusal is counted and audited.
pub fn note(refusal: &Refusal) {
    crate::approvals::note_if_pending(refusal);
    crate::stats::refused(refusal);
    crate::audit::refused(refusal);
}

/// Raises the refusal as an ERROR (after [`note`]); never returns.
pub fn raise(refusal: &Refusal) -> ! {
    note(refusal);
    ErrorReport::new(PgSqlErrorCode::from(sqlstate_code(refusal.code)), refusal.message(), "interdict")
        .set_detail(refusal.detail())
        .set_hint(refusal.hint())
        .report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) returned")
}

/// Ends the connection with the refusal (FATAL): for a connection that must not start at all.
pub fn fatal(refusal: &Refusal) -> ! {
    note(refusal);
    ErrorReport::new(PgSqlErrorCode::from(sqlstate_code(refusal.code)), refusal.message(), "interdict")
        .set_detail(refusal.detail())
        .set_hint(refusal.hint())
        .report(PgLogLevel::FATAL);
    unreachable!("ereport(FATAL) returned")
}

/// The five-character SQLSTATE of an encoded error code (`UNPACK_SQLSTATE`).
pub fn sqlstate_text(code: i32) -> String {
    (0..5).map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char).collect()
}

/// Raises `internal.failure`: a step of the guard's own failed (`what`), for this reason (`error`).
pub fn internal_failure(what: &str, error: &str) -> ! {
    let refusal = Refusal::new(ReasonCode::InternalFailure, crate::gucs::mode(), what.to_string()).fact("error", error.to_string());
    raise(&refusal)
}
