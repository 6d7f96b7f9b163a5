//! An agent's share of the server log. `RAISE LOG` in a loop, warnings, errors carrying a huge
//! statement: any session can write the server log as fast as it can send, and a full disk stops
//! the cluster (WAL writes fail), whatever the session's mode. So an agent's messages to the server
//! log draw on a bucket of [`LOG_BURST`] bytes refilled at [`LOG_RATE`] bytes a second; past it a
//! message is not written (the client still gets what it would), and the next audit line written
//! says how many were not (`log_lines_dropped`).
//!
//! With shared memory the bucket is the role's ([`LogBook`], one per role that logged lately):
//! reconnecting, a second connection or a parallel worker draws on the same bucket. Without it
//! each process has its own [`Bucket`].

/// Bytes an agent may write to the server log at once.
pub const LOG_BURST: f64 = 1_048_576.0;
/// Bytes a second the bucket refills by.
pub const LOG_RATE: f64 = 16_384.0;

/// One bucket: bytes left, when they were counted (microseconds, any epoch; `None`: never), and
/// messages not written since the last audit line that was.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    bytes: f64,
    at: Option<i64>,
    dropped: u64,
}

impl Bucket {
    pub const FULL: Bucket = Bucket {
        bytes: LOG_BURST,
        at: None,
        dropped: 0,
    };

    /// The bytes left at `now`, refilled since the last draw.
    fn refilled(&self, now: i64) -> f64 {
        match self.at {
            Some(at) => (self.bytes + (now - at).max(0) as f64 / 1e6 * LOG_RATE).min(LOG_BURST),
            None => self.bytes,
        }
    }

    /// Whether a message of `bytes` is written at `now` (drawn from the bucket); one that is not is
    /// counted. `ours`: one of the guard's audit lines, which carries the count of those before it.
    pub fn draw(&mut self, now: i64, bytes: usize, ours: bool) -> bool {
        self.bytes = self.refilled(now);
        self.at = Some(now);
        if bytes as f64 > self.bytes {
            self.dropped += 1;
            return false;
        }
        self.bytes -= bytes as f64;
        if ours {
            self.dropped = 0;
        }
        true
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Roles the book keeps a bucket for at once.
pub const LOG_ROLES: usize = 64;

/// The roles' buckets (shared memory): a role's sessions find theirs by its OID. A role not in the
/// book takes a free slot, else the slot whose bucket is fullest (a full bucket is what a new one
/// would be: evicting it loosens nothing).
#[derive(Clone, Copy)]
pub struct LogBook {
    slots: [(u32, Bucket); LOG_ROLES],
}

impl LogBook {
    pub const EMPTY: LogBook = LogBook {
        slots: [(0, Bucket::FULL); LOG_ROLES],
    };

    fn slot(&mut self, role: u32, now: i64) -> &mut Bucket {
        let i = match self.slots.iter().position(|(r, _)| *r == role) {
            Some(i) => i,
            None => {
                let i = (0..LOG_ROLES)
                    .max_by(|&a, &b| {
                        let fill = |i: usize| {
                            if self.slots[i].0 == 0 {
                                f64::INFINITY
                            } else {
                                self.slots[i].1.refilled(now)
                            }
                        };
                        fill(a).total_cmp(&fill(b)).then(b.cmp(&a))
                    })
                    .unwrap_or(0);
                self.slots[i] = (role, Bucket::FULL);
                i
            }
        };
        &mut self.slots[i].1
    }

    /// [`Bucket::draw`] on `role`'s bucket.
    pub fn draw(&mut self, role: u32, now: i64, bytes: usize, ours: bool) -> bool {
        self.slot(role, now).draw(now, bytes, ours)
    }

    /// Messages of `role` not written since its last audit line that was.
    pub fn dropped(&self, role: u32) -> u64 {
        self.slots
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(0, |(_, b)| b.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    #[test]
    fn a_bucket_refills_at_the_rate_up_to_the_burst() {
        let mut b = Bucket::FULL;
        assert!(b.draw(0, LOG_BURST as usize, false));
        assert!(!b.draw(0, 1, false), "empty");
        assert_eq!(b.dropped(), 1);
        assert!(
            b.draw(SECOND, LOG_RATE as usize, false),
            "a second refills LOG_RATE bytes"
        );
        assert!(!b.draw(SECOND, 1, false));
        assert!(
            b.draw(SECOND * 1000, LOG_BURST as usize, true),
            "refilled to the burst, not beyond"
        );
        assert!(!b.draw(SECOND * 1000, 1, false));
        assert_eq!(
            b.dropped(),
            1,
            "the audit line that was written reset the count; one dropped since"
        );
    }

    #[test]
    fn a_roles_sessions_share_one_bucket() {
        let mut book = LogBook::EMPTY;
        assert!(book.draw(10, 0, LOG_BURST as usize - 100, false));
        assert!(
            !book.draw(10, 0, 200, false),
            "a second session of role 10 finds the bucket drained"
        );
        assert!(book.draw(11, 0, 200, false), "another role has its own");
        assert_eq!(book.dropped(10), 1);
        assert_eq!(book.dropped(11), 0);
    }

    #[test]
    fn many_roles_evict_the_fullest_bucket_never_a_drained_one() {
        let mut book = LogBook::EMPTY;
        assert!(book.draw(1, 0, LOG_BURST as usize, false));
        for role in 2..=(LOG_ROLES as u32 + 10) {
            assert!(book.draw(role, 0, 1, false));
        }
        assert!(
            !book.draw(1, 0, 1, false),
            "role 1's drained bucket was kept"
        );
        assert_eq!(book.dropped(1), 1);
    }
}
