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
        positive_ms(text, &UNITS[..4])
            .map(Millis)
            .ok_or_else(|| format!("\"{}\" is not a duration: use a positive number of ms, s or min (e.g. 5s)", text.trim()))
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

/// Duration units, in milliseconds (a bare number is milliseconds, as for `statement_timeout`).
const UNITS: [(&str, u64); 5] = [("", 1), ("ms", 1), ("s", 1000), ("min", 60_000), ("h", 3_600_000)];

/// A positive duration in `units`, in milliseconds.
fn positive_ms(text: &str, units: &[(&str, u64)]) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let scale = units.iter().find(|(u, _)| *u == unit.trim()).map(|(_, s)| *s)?;
    number.parse::<u64>().ok().filter(|n| *n > 0).map(|n| n.saturating_mul(scale))
}

/// A DBA's ceiling on one of Postgres' timeouts in agent modes (`interdict.max_statement_timeout`,
/// `max_lock_timeout`, `max_idle_in_transaction_timeout`), in milliseconds; `0`: no ceiling.
/// Lower is tighter, and any ceiling is tighter than none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling(pub u64);

impl Ceiling {
    pub const STATEMENT_DEFAULT: Ceiling = Ceiling(30_000);
    pub const LOCK_DEFAULT: Ceiling = Ceiling(2_000);
    pub const IDLE_DEFAULT: Ceiling = Ceiling(60_000);
    /// `transaction_timeout` (PostgreSQL 17+): a whole transaction, so a few statements' worth.
    pub const TRANSACTION_DEFAULT: Ceiling = Ceiling(300_000);

    /// `30s`, `500ms`, `2min`, `1h`, a bare number of milliseconds, or `0`/`off` for none.
    pub fn parse(text: &str) -> Result<Ceiling, String> {
        let t = text.trim().to_ascii_lowercase();
        if t == "0" || t == "off" || t == "none" {
            return Ok(Ceiling(0));
        }
        positive_ms(&t, &UNITS)
            .filter(|ms| *ms <= i32::MAX as u64) // Postgres' timeouts are int milliseconds
            .map(Ceiling)
            .ok_or_else(|| format!("\"{}\" is not a timeout ceiling: use a duration such as 30s, 500ms, 2min or 1h, or 0 for none", text.trim()))
    }

    pub fn render(&self) -> String {
        match self.0 {
            0 => "0".into(),
            ms if ms % 60_000 == 0 => format!("{}min", ms / 60_000),
            ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
            ms => format!("{ms}ms"),
        }
    }

    /// Whether a timeout of `value_ms` (0: none) stays within the ceiling.
    pub fn allows(&self, value_ms: u64) -> bool {
        self.0 == 0 || (value_ms > 0 && value_ms <= self.0)
    }

    /// The timeout in force for `value_ms` under the ceiling.
    pub fn clamp(&self, value_ms: u64) -> u64 {
        if self.allows(value_ms) { value_ms } else { self.0 }
    }
}

impl Tighten for Ceiling {
    fn tighter(&self, other: &Self) -> Self {
        match (self.0, other.0) {
            (0, _) => *other,
            (_, 0) => *self,
            (a, b) => Ceiling(a.min(b)),
        }
    }
}

/// `interdict.dry_run`: guarded refusals logged and counted, not raised. A DBA turns it on for a
/// role; a session may turn it off (enforcing is tighter), never on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DryRun(pub bool);

impl DryRun {
    pub fn parse(text: &str) -> Result<DryRun, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Ok(DryRun(true)),
            "off" | "false" | "no" | "0" | "" => Ok(DryRun(false)),
            other => Err(format!("\"{other}\" is not a boolean: use on or off")),
        }
    }
}

impl Tighten for DryRun {
    fn tighter(&self, other: &Self) -> Self {
        DryRun(self.0 && other.0)
    }
}

/// `interdict.log_statement`: how audit lines carry statement text. The audit trail is what a DBA
/// reads after the fact, so a session may make it more complete (`none` < `redacted` < `full`),
/// never less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogStatement {
    None,
    Redacted,
    Full,
}

impl LogStatement {
    pub fn parse(text: &str) -> Result<LogStatement, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(LogStatement::None),
            "redacted" => Ok(LogStatement::Redacted),
            "full" => Ok(LogStatement::Full),
            _ => Err("valid values are: none, redacted, full".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogStatement::None => "none",
            LogStatement::Redacted => "redacted",
            LogStatement::Full => "full",
        }
    }
}

impl Tighten for LogStatement {
    fn tighter(&self, other: &Self) -> Self {
        *self.max(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_statement_only_grows() {
        assert_eq!(LogStatement::parse(" Full "), Ok(LogStatement::Full));
        assert!(LogStatement::parse("all").is_err());
        assert_eq!(LogStatement::None.tighter(&LogStatement::Redacted), LogStatement::Redacted);
        assert!(LogStatement::Full.covers(&LogStatement::Redacted));
        assert!(!LogStatement::None.covers(&LogStatement::Redacted));
    }

    #[test]
    fn ceilings() {
        assert_eq!(Ceiling::parse("30s"), Ok(Ceiling(30_000)));
        assert_eq!(Ceiling::parse("2 min"), Ok(Ceiling(120_000)));
        assert_eq!(Ceiling::parse("1h"), Ok(Ceiling(3_600_000)));
        assert_eq!(Ceiling::parse("250"), Ok(Ceiling(250)));
        assert_eq!(Ceiling::parse("off"), Ok(Ceiling(0)));
        for bad in ["-1s", "5d", "soon", "", "999999h"] {
            assert!(Ceiling::parse(bad).is_err(), "{bad}");
        }
        let c = Ceiling(30_000);
        assert!(c.allows(1000) && c.allows(30_000));
        assert!(!c.allows(0), "no timeout at all is above any ceiling");
        assert!(!c.allows(45_000));
        assert_eq!((c.clamp(0), c.clamp(45_000), c.clamp(5_000)), (30_000, 30_000, 5_000));
        assert!(Ceiling(0).allows(0), "no ceiling allows anything");
        assert_eq!(Ceiling(0).tighter(&c), c, "a ceiling is tighter than none");
        assert_eq!(c.tighter(&Ceiling(5_000)), Ceiling(5_000));
        assert!(!Ceiling(0).covers(&c), "removing a ceiling loosens it");
        assert_eq!((Ceiling(30_000).render(), Ceiling(120_000).render(), Ceiling(1500).render()), ("30s".into(), "2min".into(), "1500ms".into()));
    }

    #[test]
    fn dry_run_only_turns_off() {
        assert_eq!(DryRun::parse("on"), Ok(DryRun(true)));
        assert!(DryRun::parse("maybe").is_err());
        assert_eq!(DryRun(true).tighter(&DryRun(false)), DryRun(false));
        assert!(DryRun(false).covers(&DryRun(true)), "enforcing is tighter");
        assert!(!DryRun(true).covers(&DryRun(false)));
    }

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
