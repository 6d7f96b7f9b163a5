//! Requests waiting for an operator: each refusal an operator could approve is noted here, so
//! that `interdict.pending()` can list them. A refused statement's transaction is aborted, so the
//! book lives in shared memory (with `shared_preload_libraries`), not in a table; it holds the
//! latest [`CAPACITY`] distinct requests, one entry per approval id, the oldest replaced first.

use crate::fixed::FixedText;

/// Requests kept at most.
pub const CAPACITY: usize = 64;
/// Bytes of statement text kept per request.
pub const STATEMENT_BYTES: usize = 1024;
/// Bytes of agent identity (`interdict.agent`) kept per request.
pub const AGENT_BYTES: usize = 64;

/// One refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRequest {
    pub approval_id: FixedText<32>,
    pub database: u32,
    pub role: u32,
    pub agent: FixedText<AGENT_BYTES>,
    /// Index of the reason in [`crate::reasons::REASONS`].
    pub reason: u16,
    /// Rows the statement had reached when refused (0 for structural refusals).
    pub rows_reached: u64,
    pub statement: FixedText<STATEMENT_BYTES>,
    /// When it was first and last refused (Postgres timestamps, microseconds since 2000).
    pub first_at: i64,
    pub last_at: i64,
    /// How many times it was refused.
    pub times: u32,
}

/// The book of requests.
#[derive(Debug, Clone, Copy)]
pub struct PendingBook {
    entries: [Option<PendingRequest>; CAPACITY],
}

impl PendingBook {
    pub const EMPTY: PendingBook = PendingBook { entries: [None; CAPACITY] };

    /// Notes a refusal: the same request again (same approval id) updates its entry; a new one takes
    /// a free entry, else the one refused longest ago.
    pub fn record(&mut self, request: PendingRequest) {
        let id = request.approval_id;
        if let Some(e) = self.entries.iter_mut().flatten().find(|e| e.approval_id == id) {
            e.last_at = request.last_at;
            e.times = e.times.saturating_add(1);
            e.rows_reached = request.rows_reached;
            e.reason = request.reason;
            return;
        }
        let slot = match self.entries.iter().position(Option::is_none) {
            Some(free) => free,
            None => (0..CAPACITY).min_by_key(|i| self.entries[*i].map_or(i64::MIN, |e| e.last_at)).unwrap_or(0),
        };
        self.entries[slot] = Some(PendingRequest { times: 1, first_at: request.last_at, ..request });
    }

    /// Forgets a request (it was decided and used, or denied).
    pub fn forget(&mut self, approval_id: &str) {
        for e in self.entries.iter_mut() {
            if e.is_some_and(|r| r.approval_id.as_str() == approval_id) {
                *e = None;
            }
        }
    }

    /// Every request, the most recently refused first.
    pub fn list(&self) -> Vec<PendingRequest> {
        let mut all: Vec<PendingRequest> = self.entries.iter().flatten().copied().collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.last_at));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str, at: i64) -> PendingRequest {
        PendingRequest {
            approval_id: FixedText::new(id),
            database: 1,
            role: 10,
            agent: FixedText::EMPTY,
            reason: 0,
            rows_reached: 5,
            statement: FixedText::new("DELETE FROM t"),
            first_at: 0,
            last_at: at,
            times: 0,
        }
    }

    #[test]
    fn the_same_request_again_updates_its_entry() {
        let mut book = PendingBook::EMPTY;
        book.record(request("a", 10));
        book.record(PendingRequest { rows_reached: 7, ..request("a", 20) });
        book.record(request("b", 15));
        let list = book.list();
        assert_eq!(list.iter().map(|e| e.approval_id.as_str()).collect::<Vec<_>>(), ["a", "b"], "most recent first");
        assert_eq!((list[0].first_at, list[0].last_at, list[0].times, list[0].rows_reached), (10, 20, 2, 7));
        book.forget("a");
        assert_eq!(book.list().len(), 1);
    }

    #[test]
    fn a_full_book_replaces_the_oldest() {
        let mut book = PendingBook::EMPTY;
        for i in 0..CAPACITY as i64 {
            book.record(request(&format!("r{i}"), 100 + i));
        }
        book.record(request("new", 1000));
        let ids: Vec<String> = book.list().iter().map(|e| e.approval_id.as_str().to_string()).collect();
        assert_eq!(ids.len(), CAPACITY);
        assert!(ids.contains(&"new".to_string()) && !ids.contains(&"r0".to_string()), "r0 was the oldest");
        assert!(ids.contains(&"r1".to_string()));
    }
}
