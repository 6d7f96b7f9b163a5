//! The book of refused requests waiting for an operator (`interdict.pending()`), a sink every
//! approvable refusal is noted in as it is raised. Kept in shared memory (see `shmem.rs`): a
//! refused statement's transaction aborts, so it cannot be a table row.

use interdict_core::fixed::FixedText;
use interdict_core::pending::PendingRequest;
use interdict_core::Refusal;
use pgrx::pg_sys;

/// Notes a refusal an operator may approve (with shared memory only).
pub fn note(refusal: &Refusal) {
    if !refusal.approvable() || !crate::shmem::attached() {
        return;
    }
    let Some(id) = refusal.fact_value("approval_id") else { return };
    let (text, _) = crate::statement::statement_text();
    // SAFETY: plain reads of backend globals.
    let (database, role, now) = unsafe { (u32::from(pg_sys::MyDatabaseId), u32::from(pg_sys::GetSessionUserId()), pg_sys::GetCurrentTimestamp()) };
    crate::shmem::note_pending(PendingRequest {
        approval_id: FixedText::new(id),
        database,
        role,
        agent: FixedText::new(&crate::settings::agent()),
        reason: refusal.code as u16,
        rows_reached: refusal.fact_value("rows_reached").and_then(|r| r.parse().ok()).unwrap_or(0),
        statement: FixedText::new_marked(interdict_core::approval::normalize(&text)),
        first_at: now,
        last_at: now,
        times: 1,
    });
}
