//! `interdict.stats()`: what the guard did, counted per database, role and agent. The counters are
//! atomics (a statement adds to them without a lock); which slot belongs to which (database, role,
//! agent) is kept apart, under a lock, and looked up once per session. With shared memory the
//! block is the cluster's; loaded per session, each backend has its own.

use crate::fixed::FixedText;
use crate::reasons::REASONS;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Slots (distinct database, role and agent) counted apart; the rest share slot 0.
pub const SLOTS: usize = 128;
/// Agent names one role has slots for in one database; its further agents share one slot.
pub const AGENTS_PER_ROLE: usize = 8;
/// The agent name of a role's shared slot.
pub const OTHER_AGENTS: &str = "(other agents)";
/// Room for every reason code.
pub const MAX_REASONS: usize = 96;
/// Bytes of agent identity kept per slot.
pub const AGENT_BYTES: usize = 64;

macro_rules! counters {
    ($( $variant:ident => $name:literal, $doc:literal; )*) => {
        /// One counter of a slot.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Counter { $( #[doc = $doc] $variant, )* }

        impl Counter {
            pub const ALL: &'static [Counter] = &[ $( Counter::$variant, )* ];
            /// Its column name in `interdict.stats()`.
            pub fn name(self) -> &'static str {
                match self { $( Counter::$variant => $name, )* }
            }
            pub fn describe(self) -> &'static str {
                match self { $( Counter::$variant => $doc, )* }
            }
        }
    };
}

counters! {
    StatementsGuarded => "statements_guarded", "statements (and nested statements) checked in guarded mode";
    StatementsReadonly => "statements_readonly", "statements (and nested statements) checked in readonly mode";
    Refused => "refused", "refusals raised, every reason";
    Held => "held", "refusals an operator may approve (carrying an approval_id)";
    ApprovalsGranted => "approvals_granted", "interdict.approve() calls for this role's requests";
    ApprovalsDenied => "approvals_denied", "interdict.deny() calls for this role's requests";
    ApprovalsUsed => "approvals_used", "approved statements that went through";
    ApprovalsExpired => "approvals_expired", "reruns that found their approval expired";
    Simulations => "simulations", "interdict.simulate() calls";
    ChangesRecorded => "changes_recorded", "changes recorded for undo";
    Reverts => "reverts", "changes reverted";
    RevertConflicts => "revert_conflicts", "reverts refused because rows changed since (undo.conflict)";
    RowsProtected => "rows_protected", "rows refused writes had reached (blast radius)";
    LargestRefused => "largest_refused", "the most rows one refused write reached";
    DryRunWouldRefuse => "dry_run_would_refuse", "refusals a dry-run session logged instead of raising";
    CeilingCancels => "ceiling_cancels", "statements cancelled, or sessions ended, by a timeout in an agent mode";
}

/// The counters of one slot.
pub struct Slot {
    counts: [AtomicU64; Counter::ALL.len()],
    refused: [AtomicU64; MAX_REASONS],
}

/// Every slot's counters, and when they were last reset.
pub struct Counters {
    slots: [Slot; SLOTS],
    reset_at: AtomicI64,
}

impl Counters {
    pub const fn new() -> Counters {
        const SLOT: Slot = Slot { counts: [const { AtomicU64::new(0) }; Counter::ALL.len()], refused: [const { AtomicU64::new(0) }; MAX_REASONS] };
        Counters { slots: [SLOT; SLOTS], reset_at: AtomicI64::new(0) }
    }

    pub fn add(&self, slot: usize, counter: Counter, n: u64) {
        let c = &self.slots[slot % SLOTS].counts[counter as usize];
        if counter == Counter::LargestRefused {
            c.fetch_max(n, Ordering::Relaxed);
        } else {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn refused(&self, slot: usize, reason: usize) {
        if let Some(c) = self.slots[slot % SLOTS].refused.get(reason) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, slot: usize, counter: Counter) -> u64 {
        self.slots[slot % SLOTS].counts[counter as usize].load(Ordering::Relaxed)
    }

    /// Refusals per reason code of a slot, those above zero.
    pub fn by_reason(&self, slot: usize) -> Vec<(&'static str, u64)> {
        let s = &self.slots[slot % SLOTS];
        REASONS.iter().zip(&s.refused).map(|(r, c)| (r.code, c.load(Ordering::Relaxed))).filter(|(_, n)| *n > 0).collect()
    }

    /// Zeroes every counter; `now` becomes the reset time.
    pub fn reset(&self, now: i64) {
        for s in &self.slots {
            s.counts.iter().chain(&s.refused).for_each(|c| c.store(0, Ordering::Relaxed));
        }
        self.reset_at.store(now, Ordering::Relaxed);
    }

    /// When the counters were last reset (or first used: see [`Counters::started`]).
    pub fn reset_at(&self) -> i64 {
        self.reset_at.load(Ordering::Relaxed)
    }

    /// Records `now` as the start if nothing did yet.
    pub fn started(&self, now: i64) {
        let _ = self.reset_at.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

/// Who a slot counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotKey {
    pub database: u32,
    pub role: u32,
    pub agent: FixedText<AGENT_BYTES>,
}

/// Which slot counts for whom. Slot 0 is shared by whoever finds the others taken.
#[derive(Debug, Clone, Copy)]
pub struct SlotBook {
    keys: [Option<SlotKey>; SLOTS],
}

impl SlotBook {
    pub const EMPTY: SlotBook = SlotBook { keys: [None; SLOTS] };

    /// The slot of `key`, taking a free one the first time (slot 0 when none is free). A role's
    /// sessions name their agents themselves (`interdict.agent` at connect): past
    /// [`AGENTS_PER_ROLE`] names in a database, its further agents share one slot named
    /// [`OTHER_AGENTS`], so that no role can take every slot from the others.
    pub fn slot_for(&mut self, key: SlotKey) -> usize {
        if let Some(i) = self.keys.iter().position(|k| *k == Some(key)) {
            return i;
        }
        let same_role = |k: &&Option<SlotKey>| k.is_some_and(|k| (k.database, k.role) == (key.database, key.role));
        let other = FixedText::new(OTHER_AGENTS);
        let key = if key.agent != other && self.keys.iter().filter(same_role).count() >= AGENTS_PER_ROLE {
            let shared = SlotKey { agent: other, ..key };
            if let Some(i) = self.keys.iter().position(|k| *k == Some(shared)) {
                return i;
            }
            shared
        } else {
            key
        };
        match self.keys.iter().skip(1).position(Option::is_none) {
            Some(free) => {
                self.keys[free + 1] = Some(key);
                free + 1
            }
            None => 0,
        }
    }

    /// Every slot in use, with its key (`None` for the shared slot 0).
    pub fn in_use(&self) -> Vec<(usize, Option<SlotKey>)> {
        let mut out = vec![(0, None)];
        out.extend(self.keys.iter().enumerate().skip(1).filter_map(|(i, k)| k.map(|k| (i, Some(k)))));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: u32, agent: &str) -> SlotKey {
        SlotKey { database: 5, role, agent: FixedText::new(agent) }
    }

    /// sql/stats.sql's view has one column per counter, in the same order.
    #[test]
    fn the_view_has_every_counter() {
        let sql = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/stats.sql")).expect("sql/stats.sql");
        let columns: Vec<&str> = sql.lines().filter_map(|l| l.split("::bigint AS ").nth(1)).map(|c| c.trim_end_matches(',')).collect();
        let counters: Vec<&str> = Counter::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(columns, counters, "sql/stats.sql is out of step with the counters");
    }

    #[test]
    fn there_is_room_for_every_reason() {
        assert!(REASONS.len() <= MAX_REASONS, "raise MAX_REASONS");
    }

    #[test]
    fn a_key_keeps_its_slot_and_the_overflow_shares_slot_zero() {
        let mut book = SlotBook::EMPTY;
        let a = book.slot_for(key(10, "run-1"));
        assert_eq!(book.slot_for(key(10, "run-1")), a);
        assert_ne!(book.slot_for(key(10, "run-2")), a, "another agent counts apart");
        for r in 0..SLOTS as u32 {
            book.slot_for(key(100 + r, ""));
        }
        assert_eq!(book.slot_for(key(9999, "")), 0, "full: the shared slot");
        assert_eq!(book.in_use().len(), SLOTS);
    }

    #[test]
    fn a_role_naming_many_agents_cannot_take_every_slot() {
        let mut book = SlotBook::EMPTY;
        let firsts: Vec<usize> = (0..AGENTS_PER_ROLE).map(|i| book.slot_for(key(10, &format!("run-{i}")))).collect();
        assert!(firsts.iter().all(|&s| s != 0), "its first agents count apart");
        let shared = book.slot_for(key(10, "run-many"));
        assert_ne!(shared, 0);
        assert!(!firsts.contains(&shared));
        for i in 0..200 {
            assert_eq!(book.slot_for(key(10, &format!("more-{i}"))), shared, "past the cap: one shared slot");
        }
        assert_eq!(book.in_use().iter().filter(|(_, k)| k.is_some_and(|k| k.role == 10)).count(), AGENTS_PER_ROLE + 1);
        assert_ne!(book.slot_for(key(11, "run-0")), 0, "another role still finds a slot");
        assert_eq!(book.slot_for(key(10, "run-3")), firsts[3], "a named agent keeps its slot");
    }

    #[test]
    fn counters_add_keep_the_largest_and_reset() {
        let c = Counters::new();
        c.add(3, Counter::Refused, 1);
        c.add(3, Counter::Refused, 1);
        c.add(3, Counter::LargestRefused, 40);
        c.add(3, Counter::LargestRefused, 7);
        c.refused(3, 2);
        assert_eq!((c.get(3, Counter::Refused), c.get(3, Counter::LargestRefused)), (2, 40));
        assert_eq!(c.by_reason(3), vec![(REASONS[2].code, 1)]);
        c.started(100);
        c.started(200);
        assert_eq!(c.reset_at(), 100, "the first start stays");
        c.reset(300);
        assert_eq!((c.get(3, Counter::Refused), c.by_reason(3).len(), c.reset_at()), (0, 0, 300));
    }
}
