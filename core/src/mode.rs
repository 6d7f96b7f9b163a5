//! The session modes. Their order is the order of strictness: a session may move up it, never down.

use std::fmt;

/// How strictly the guard treats a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Mode {
    /// No guard: the session behaves as if Interdict were not loaded.
    #[default]
    Off,
    /// Writes are allowed, each checked before it can do damage.
    Guarded,
    /// Nothing the session runs changes the database or the server.
    Readonly,
}

impl Mode {
    /// Every mode, in order of strictness.
    pub const ALL: [Mode; 3] = [Mode::Off, Mode::Guarded, Mode::Readonly];

    /// The name used in `interdict.mode` and in error details.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Guarded => "guarded",
            Mode::Readonly => "readonly",
        }
    }

    /// Parses a setting value; case and surrounding spaces do not matter.
    pub fn parse(value: &str) -> Result<Mode, String> {
        let wanted = value.trim().to_ascii_lowercase();
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown mode \"{}\"; valid modes are: {}",
                    value.trim(),
                    Mode::ALL.map(Mode::as_str).join(", ")
                )
            })
    }

    /// The stricter of two modes.
    pub fn tighter(self, other: Mode) -> Mode {
        self.max(other)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_any_case_and_spacing() {
        assert_eq!(Mode::parse(" ReadOnly "), Ok(Mode::Readonly));
        assert_eq!(Mode::parse("GUARDED"), Ok(Mode::Guarded));
        assert_eq!(Mode::parse("off"), Ok(Mode::Off));
    }

    #[test]
    fn unknown_mode_lists_the_valid_ones() {
        let err = Mode::parse("bogus").unwrap_err();
        assert_eq!(err, "unknown mode \"bogus\"; valid modes are: off, guarded, readonly");
        assert!(Mode::parse("").is_err());
    }

    #[test]
    fn readonly_is_the_strictest() {
        assert_eq!(Mode::Guarded.tighter(Mode::Readonly), Mode::Readonly);
        assert_eq!(Mode::Readonly.tighter(Mode::Off), Mode::Readonly);
        assert_eq!(Mode::Off.tighter(Mode::Guarded), Mode::Guarded);
    }
}
