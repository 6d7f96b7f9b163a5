//! Shared memory, which exists only when the library is in `shared_preload_libraries`: the book of
//! refused requests waiting for an operator (`interdict.pending()`), the counters of
//! `interdict.stats()` and the agent roles' server-log buckets (`interdict_core::log_budget`). A refused statement's transaction aborts, so what must outlive it cannot be
//! a table row. Loaded per session (or with `LOAD`) there is no shared memory: the book is absent,
//! `pending()` says why (operators approve by the `approval_id` in the agent's error), and each
//! backend counts for itself.

use crate::cell::BackendCell;
use interdict_core::log_budget::LogBook;
use interdict_core::pending::{PendingBook, PendingRequest};
use interdict_core::stats::{Counters, SlotBook};
use pgrx::atomics::PgAtomic;
use pgrx::lwlock::PgLwLock;
use pgrx::prelude::*;
use pgrx::shmem::AssertPGRXSharedMemory;

// SAFETY: the name is ours alone (the `interdict.` prefix).
static PENDING: PgLwLock<AssertPGRXSharedMemory<PendingBook>> = unsafe { PgLwLock::new(c"interdict.pending") };

/// Whether this server gave us shared memory (set in the postmaster, inherited by every backend).
static ATTACHED: BackendCell<bool> = BackendCell::new(false);

/// Asks for shared memory, if the library is being preloaded by the postmaster. Called from `_PG_init`.
pub fn init() {
    // SAFETY: a plain read of a process global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    // SAFETY: a PendingBook is plain data (fixed arrays of integers and bytes): any process may read it.
    pgrx::pg_shmem_init!(PENDING = unsafe { AssertPGRXSharedMemory::new(PendingBook::EMPTY) });
    // SAFETY: the counters are atomics and the slot book plain data: any process may use them.
    pgrx::pg_shmem_init!(COUNTERS = unsafe { AssertPGRXSharedMemory::new(Counters::new()) });
    pgrx::pg_shmem_init!(SLOT_BOOK = unsafe { AssertPGRXSharedMemory::new(SlotBook::EMPTY) });
    // SAFETY: the log book is plain data (numbers).
    pgrx::pg_shmem_init!(LOG_BOOK = unsafe { AssertPGRXSharedMemory::new(LogBook::EMPTY) });
    ATTACHED.set(true);
}

/// Whether shared memory is there: the counters are cluster-wide and `pending()` works.
pub fn attached() -> bool {
    ATTACHED.get()
}

/// Notes a refused request an operator may approve (nothing without shared memory).
pub fn note_pending(request: PendingRequest) {
    if attached() {
        PENDING.exclusive().record(request);
    }
}

/// The requests in the book, most recent first; `None` without shared memory.
pub fn pending() -> Option<Vec<PendingRequest>> {
    attached().then(|| PENDING.share().list())
}

// SAFETY: the names are ours alone.
static COUNTERS: PgAtomic<AssertPGRXSharedMemory<Counters>> = unsafe { PgAtomic::new(c"interdict.counters") };
static SLOT_BOOK: PgLwLock<AssertPGRXSharedMemory<SlotBook>> = unsafe { PgLwLock::new(c"interdict.slots") };

/// The cluster's counters (`None` without shared memory).
pub fn counters() -> Option<&'static Counters> {
    attached().then(|| &**COUNTERS.get())
}

/// Runs `f` on the cluster's slot book, under its lock (`None` without shared memory).
pub fn with_slot_book<R>(f: impl FnOnce(&mut SlotBook) -> R) -> Option<R> {
    attached().then(|| f(&mut SLOT_BOOK.exclusive()))
}

// SAFETY: the name is ours alone.
static LOG_BOOK: PgLwLock<AssertPGRXSharedMemory<LogBook>> = unsafe { PgLwLock::new(c"interdict.log_book") };

/// Runs `f` on the agent roles' server-log buckets, under their lock (`None` without shared memory).
pub fn with_log_book<R>(f: impl FnOnce(&mut LogBook) -> R) -> Option<R> {
    attached().then(|| f(&mut LOG_BOOK.exclusive()))
}
