//! Numeric agent settings: `interdict.max_rows` (the blast radius) and `interdict.simulate_timeout`.
//! Both obey the lock (see [`crate::lock`]): lower is tighter, so a session may lower them, never raise.

use crate::lock::Tighten;

/// `interdict.max_rows`: rows one statement may change (inserted, updated and deleted together,
/// cascades and trigger writes included) before it needs an operator's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLimit(pub u64);

impl RowLimit {
    pub const DEFAULT: RowLimit = RowLimit(1000);

    /// A non-negative whole number; `0` means every write needs an approval.
    pub fn parse(text: &str) -> Result<RowLimit, String> {
        let t = text.trim().replace('_', "");
        t.parse::<u64>().map(RowLimit).map_err(|_| {
            format!("\"{}\" is not a row count: use a whole number from 0 (every write needs approval) up", text.trim())
        })
    }
}

impl Tighten for RowLimit {
    fn tighter(&self, other: &Self) -> Self {
        RowLimit(self.0.min(other.0))
    }
}

/// `interdict.simulate_timeout`: how long `interdict.simulate()` may run a statement, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub u64);

impl Millis {
    pub const DEFAULT_SIMULATE: Millis = Millis(5000);

    /// A positive duration: `500`, `500ms`, `5s`, `2min` (a bare number is milliseconds, as for
    /// `statement_timeout`).
    pub fn parse(text: &str) -> Result<Millis, String> {
        let t = text.trim().to_ascii_lowercase();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(digits);
        let scale = match unit.trim() {
            "" | "ms" => 1,
            "s" => 1000,
            "min" => 60_000,
            _ => 0,
        };
        match number.parse::<u64>() {
            Ok(n) if scale > 0 && n > 0 => Ok(Millis(n.saturating_mul(scale))),
            _ => Err(format!("\"{}\" is not a duration: use a positive number of ms, s or min (e.g. 5s)", text.trim())),
        }
    }

    pub fn render(&self) -> String {
        if self.0 % 1000 == 0 { format!("{}s", self.0 / 1000) } else { format!("{}ms", self.0) }
    }
}

impl Tighten for Millis {
    fn tighter(&self, other: &Self) -> Self {
        Millis(self.0.min(other.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_limits() {
        assert_eq!(RowLimit::parse(" 500 "), Ok(RowLimit(500)));
        assert_eq!(RowLimit::parse("1_000"), Ok(RowLimit(1000)));
        assert_eq!(RowLimit::parse("0"), Ok(RowLimit(0)));
        for bad in ["-1", "", "ten", "1.5", "1e3"] {
            assert!(RowLimit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RowLimit(10).tighter(&RowLimit(1_000_000)), RowLimit(10));
        assert!(!RowLimit(1_000_000).covers(&RowLimit(10)), "raising the limit loosens it");
    }

    #[test]
    fn durations() {
        assert_eq!(Millis::parse("250"), Ok(Millis(250)));
        assert_eq!(Millis::parse("250ms"), Ok(Millis(250)));
        assert_eq!(Millis::parse("5s"), Ok(Millis(5000)));
        assert_eq!(Millis::parse("2 min"), Ok(Millis(120_000)));
        for bad in ["0", "-5s", "5h", "s", "fast"] {
            assert!(Millis::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Millis(5000).render(), "5s");
        assert_eq!(Millis(1500).render(), "1500ms");
    }
}
