//! The lock every agent setting obeys: within a session a setting can be tightened, never loosened.
//!
//! Postgres applies a setting's values from several sources, each overriding the ones below it
//! (`guc.c: set_config_option`). The values a DBA configures (server file, `ALTER DATABASE/ROLE … SET`)
//! follow that precedence among themselves. Values the client controls (startup options, `PGOPTIONS`,
//! `SET`, `set_config`, a function's `SET` clause) may only tighten the DBA's result. Once the session's
//! first statement runs the setting is locked: from then on it only tightens. Restores that bypass the
//! check hook (`RESET`, rollback, function exit, `DISCARD ALL`) cannot loosen it either, because the
//! effective value lives here, not in the GUC variable.

/// A value with an order of strictness.
pub trait Tighten: Clone + PartialEq {
    /// The stricter combination of two values.
    fn tighter(&self, other: &Self) -> Self;

    /// Whether `self` is at least as strict as `other`.
    fn covers(&self, other: &Self) -> bool {
        self.tighter(other) == *self
    }
}

impl Tighten for crate::Mode {
    fn tighter(&self, other: &Self) -> Self {
        crate::Mode::tighter(*self, *other)
    }
}

/// Where a value came from, as far as the lock cares (a projection of Postgres' `GucSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Built-in default.
    Default,
    /// Server configuration: postgresql.conf, `ALTER SYSTEM`, command line, environment.
    Server,
    /// `ALTER ROLE ALL SET`.
    Global,
    /// `ALTER DATABASE … SET`.
    Database,
    /// `ALTER ROLE … SET`.
    Role,
    /// `ALTER ROLE … IN DATABASE … SET`.
    RoleInDatabase,
    /// Connection startup options (`options=-c …`, `PGOPTIONS`): chosen by the client.
    Client,
    /// `SET`, `set_config()`, a function's `SET` clause: chosen by the session.
    Session,
    /// Validation only (`ALTER ROLE … SET` checks a value it will store, not use).
    Test,
}

impl Source {
    /// Sources a DBA controls, from lowest to highest precedence.
    const DBA: [Source; 5] = [Source::Server, Source::Global, Source::Database, Source::Role, Source::RoleInDatabase];

    fn dba_rank(self) -> Option<usize> {
        Source::DBA.iter().position(|s| *s == self)
    }
}

/// A refused attempt to loosen a locked setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoosenAttempt<T> {
    pub effective: T,
    pub attempted: T,
}

/// A setting's effective value and the lock around it.
#[derive(Debug, Clone)]
pub struct Locked<T> {
    effective: T,
    /// The built-in default: the floor when no DBA set a value (so a client cannot start looser).
    default: T,
    dba: [Option<T>; 5],
    locked: bool,
}

impl<T: Tighten> Locked<T> {
    pub const fn new(default: T) -> Self
    where
        T: Copy,
    {
        Locked { effective: default, default, dba: [None, None, None, None, None], locked: false }
    }

    /// The value in force.
    pub fn effective(&self) -> &T {
        &self.effective
    }

    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The check hook's question: may `value`, coming from `source`, be accepted?
    /// DBA-source values are remembered (even when a higher source overrides them) so the lock can
    /// use them as the floor.
    pub fn check(&mut self, value: &T, source: Source) -> Result<(), LoosenAttempt<T>> {
        if let Some(rank) = source.dba_rank() {
            self.dba[rank] = Some(value.clone());
            return Ok(());
        }
        if source == Source::Test || !self.locked || value.covers(&self.effective) {
            return Ok(());
        }
        Err(LoosenAttempt { effective: self.effective.clone(), attempted: value.clone() })
    }

    /// Records a DBA-source value learnt elsewhere (the catalog, when the library was loaded after
    /// the role's settings were applied).
    pub fn record_dba(&mut self, source: Source, value: T) {
        if let Some(rank) = source.dba_rank() {
            self.dba[rank] = Some(value);
        }
    }

    /// The assign hook: the GUC variable took `value` (also on `RESET`, rollback and function exit).
    pub fn assign(&mut self, value: &T) {
        self.effective = if self.locked { self.effective.tighter(value) } else { value.clone() };
    }

    /// The DBA's value: the one from the highest-precedence DBA source seen.
    pub fn dba_floor(&self) -> Option<&T> {
        self.dba.iter().rev().flatten().next()
    }

    /// Tightens the value in force by `value` (a policy's limit): tighter wins, now and after.
    pub fn tighten(&mut self, value: &T) {
        self.effective = self.effective.tighter(value);
        self.default = self.default.tighter(value);
        self.dba.iter_mut().flatten().for_each(|d| *d = d.tighter(value));
    }

    /// Locks the setting at session start: the effective value becomes at least the DBA's.
    pub fn lock(&mut self) {
        let floor = self.dba_floor().unwrap_or(&self.default);
        self.effective = self.effective.tighter(floor);
        self.locked = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    #[test]
    fn client_option_cannot_lower_a_role_setting() {
        // Startup order: server file, client options, then role settings (lower precedence, still checked).
        let mut m = Locked::new(Mode::Off);
        m.check(&Mode::Off, Source::Client).unwrap();
        m.assign(&Mode::Off);
        m.check(&Mode::Readonly, Source::Role).unwrap(); // overridden by the client in the GUC itself
        m.lock();
        assert_eq!(*m.effective(), Mode::Readonly);
    }

    #[test]
    fn dba_precedence_is_kept_among_dba_sources() {
        let mut m = Locked::new(Mode::Off);
        m.check(&Mode::Readonly, Source::Database).unwrap();
        m.check(&Mode::Guarded, Source::RoleInDatabase).unwrap();
        m.check(&Mode::Readonly, Source::Server).unwrap();
        m.assign(&Mode::Guarded);
        m.lock();
        assert_eq!(*m.effective(), Mode::Guarded);
    }

    #[test]
    fn after_lock_only_tightening_is_accepted() {
        let mut m = Locked::new(Mode::Off);
        m.assign(&Mode::Guarded);
        m.lock();
        assert_eq!(
            m.check(&Mode::Off, Source::Session),
            Err(LoosenAttempt { effective: Mode::Guarded, attempted: Mode::Off })
        );
        assert!(m.check(&Mode::Off, Source::Client).is_err());
        assert!(m.check(&Mode::Guarded, Source::Session).is_ok());
        assert!(m.check(&Mode::Readonly, Source::Session).is_ok());
        assert!(m.check(&Mode::Off, Source::Test).is_ok(), "validation of ALTER ROLE values is not a change");
    }

    #[test]
    fn restores_that_skip_the_check_cannot_loosen() {
        let mut m = Locked::new(Mode::Off);
        m.assign(&Mode::Guarded);
        m.lock();
        m.assign(&Mode::Readonly); // SET interdict.mode = readonly
        m.assign(&Mode::Guarded); // ROLLBACK restores the old GUC value
        m.assign(&Mode::Off); // RESET / DISCARD ALL restore the reset value
        assert_eq!(*m.effective(), Mode::Readonly);
    }

    #[test]
    fn before_lock_the_guc_value_is_followed() {
        let mut m = Locked::new(Mode::Off);
        m.assign(&Mode::Readonly);
        m.assign(&Mode::Guarded);
        assert_eq!(*m.effective(), Mode::Guarded);
        assert!(!m.is_locked());
    }

    #[test]
    fn catalog_floor_counts_like_a_checked_value() {
        let mut m = Locked::new(Mode::Off);
        m.assign(&Mode::Off);
        m.record_dba(Source::Role, Mode::Readonly);
        m.record_dba(Source::Client, Mode::Off); // not a DBA source: ignored
        m.lock();
        assert_eq!(*m.effective(), Mode::Readonly);
    }

    #[test]
    fn client_cannot_start_looser_than_the_default() {
        use crate::RowLimit;
        let mut m = Locked::new(RowLimit::DEFAULT);
        m.check(&RowLimit(1_000_000), Source::Client).unwrap();
        m.assign(&RowLimit(1_000_000));
        m.lock();
        assert_eq!(*m.effective(), RowLimit::DEFAULT, "no DBA value: the built-in default is the floor");
        let mut dba = Locked::new(RowLimit::DEFAULT);
        dba.check(&RowLimit(50_000), Source::Role).unwrap();
        dba.assign(&RowLimit(50_000));
        dba.lock();
        assert_eq!(*dba.effective(), RowLimit(50_000), "a DBA may raise it per role");
    }
}
