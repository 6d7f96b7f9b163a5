//! Counting what the guard does, for `interdict.stats()`: per database, session role and agent.
//! A counter is one relaxed atomic add on a slot looked up once per session (after its lock), so
//! statements pay next to nothing. With shared memory the counts are the cluster's and survive
//! aborted transactions (a refusal aborts its own); loaded per session, each backend counts for
//! itself and `stats()` says `session`.

use crate::cell::BackendCell;
use crate::settings;
use interdict_core::fixed::FixedText;
use interdict_core::stats::{Counter, Counters, SlotBook, SlotKey};
use interdict_core::{Mode, ReasonCode, Refusal};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys;
use serde_json::{json, Map, Value};

/// The backend's own counters and slot book, when there is no shared memory.
static LOCAL: Counters = Counters::new();
static LOCAL_BOOK: BackendCell<SlotBook> = BackendCell::new(SlotBook::EMPTY);
/// This session's slot, once its identity is fixed (after the lock).
static MY_SLOT: BackendCell<Option<usize>> = BackendCell::new(None);

fn counters() -> &'static Counters {
    crate::shmem::counters().unwrap_or(&LOCAL)
}

fn slot_of(key: SlotKey) -> usize {
    let slot = crate::shmem::with_slot_book(|b| b.slot_for(key)).unwrap_or_else(|| LOCAL_BOOK.with(|b| b.slot_for(key)));
    // SAFETY: a plain call.
    counters().started(unsafe { pg_sys::GetCurrentTimestamp() });
    slot
}

/// The slot of `role` in this database, with `agent`; `None` outside a database backend.
fn key(role: u32, agent: &str) -> Option<SlotKey> {
    // SAFETY: plain reads of process globals. A parallel worker's events are its leader's.
    let database = unsafe {
        if !pg_sys::IsUnderPostmaster || pg_sys::MyDatabaseId == pg_sys::InvalidOid || pg_sys::ParallelWorkerNumber >= 0 {
            return None;
        }
        u32::from(pg_sys::MyDatabaseId)
    };
    Some(SlotKey { database, role, agent: FixedText::new(agent) })
}

fn my_slot() -> Option<usize> {
    if let Some(slot) = MY_SLOT.get() {
        return Some(slot);
    }
    // SAFETY: a plain read of a backend global.
    let role = unsafe { u32::from(pg_sys::GetSessionUserId()) };
    let slot = slot_of(key(role, &settings::agent())?);
    if settings::is_locked() {
        MY_SLOT.set(Some(slot));
    }
    Some(slot)
}

/// Adds `n` to one of this session's counters.
pub fn bump(counter: Counter, n: u64) {
    if let Some(slot) = my_slot() {
        counters().add(slot, counter, n);
    }
}

/// Adds one to a counter of `role`'s requests (approvals are decided in an operator's session).
pub fn bump_for_role(role: u32, counter: Counter) {
    if let Some(k) = key(role, "") {
        counters().add(slot_of(k), counter, 1);
    }
}

/// A statement checked in an agent mode.
#[inline]
pub fn checked(mode: Mode) {
    bump(if mode == Mode::Guarded { Counter::StatementsGuarded } else { Counter::StatementsReadonly }, 1);
}

/// A refusal raised: by reason, held for approval, and the rows it kept from being written.
pub fn refused(refusal: &Refusal) {
    let Some(slot) = my_slot() else { return };
    let c = counters();
    c.add(slot, Counter::Refused, 1);
    c.refused(slot, refusal.code as usize);
    if refusal.approvable() && refusal.fact_value("approval_id").is_some() {
        c.add(slot, Counter::Held, 1);
    }
    if refusal.code == ReasonCode::UndoConflict {
        c.add(slot, Counter::RevertConflicts, 1);
    }
    if let Some(rows) = refusal.fact_value("rows_reached").and_then(|r| r.parse::<u64>().ok()) {
        c.add(slot, Counter::RowsProtected, rows);
        c.add(slot, Counter::LargestRefused, rows);
    }
}

/// One row of `interdict.stats()`.
pub type StatsRow = (Option<String>, Option<String>, String, pgrx::JsonB, pgrx::JsonB, TimestampWithTimeZone, String);

/// Every slot's counts (operators and superusers: every role's; others: their own role's).
pub fn rows() -> Result<Vec<StatsRow>, Refusal> {
    let book = crate::shmem::with_slot_book(|b| *b).unwrap_or_else(|| LOCAL_BOOK.get());
    let c = counters();
    // SAFETY: role checks inside a transaction.
    let (me, everyone) = unsafe { (u32::from(pg_sys::GetSessionUserId()), pg_sys::superuser() || crate::facts::roles::is_operator()) };
    let scope = if crate::shmem::attached() { "cluster" } else { "session" };
    let reset = TimestampWithTimeZone::try_from(c.reset_at())
        .map_err(|_| Refusal::new(ReasonCode::InternalFailure, settings::mode(), "listing stats").fact("error", "a reset time out of range"))?;
    Ok(book
        .in_use()
        .into_iter()
        .filter(|(_, key)| everyone || key.is_some_and(|k| k.role == me))
        .filter(|(slot, key)| key.is_some() || Counter::ALL.iter().any(|k| c.get(*slot, *k) > 0))
        .map(|(slot, key)| {
            let counts: Map<String, Value> = Counter::ALL.iter().map(|k| (k.name().to_string(), json!(c.get(slot, *k)))).collect();
            let by_reason: Map<String, Value> = c.by_reason(slot).into_iter().map(|(code, n)| (code.to_string(), json!(n))).collect();
            // SAFETY: catalog lookups inside a transaction; a dropped database or role has no name.
            let (database, role) = unsafe {
                match key {
                    Some(k) => (
                        crate::nodes::cstr(pg_sys::get_database_name(pg_sys::Oid::from(k.database))),
                        crate::nodes::cstr(pg_sys::GetUserNameFromId(pg_sys::Oid::from(k.role), true)),
                    ),
                    None => (None, None),
                }
            };
            let agent = key.map(|k| k.agent.as_str().to_string()).unwrap_or_default();
            (database, role, agent, pgrx::JsonB(Value::Object(counts)), pgrx::JsonB(Value::Object(by_reason)), reset, scope.to_string())
        })
        .collect())
}

/// `interdict.stats_reset()`: operators only.
pub fn reset() -> Result<(), Refusal> {
    if !crate::facts::roles::is_operator() {
        return Err(Refusal::new(ReasonCode::OperatorRequired, settings::mode(), "resetting interdict's statistics"));
    }
    // SAFETY: a plain call.
    counters().reset(unsafe { pg_sys::GetCurrentTimestamp() });
    Ok(())
}
