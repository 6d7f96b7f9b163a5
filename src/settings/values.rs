//! How each setting's value type reads and prints (the parsing itself lives in the core types).

use super::{all_tags, command_tags, Value};
use interdict_core::commands::{Allowed, Blocked};
use interdict_core::lock::Tighten;
use interdict_core::{Ceiling, CommandSet, DryRun, LogStatement, Millis, Mode, RowLimit};

impl Value for Mode {
    fn parse(text: &str) -> Result<Self, String> {
        Mode::parse(text)
    }
    fn strictest() -> Self {
        Mode::Readonly
    }
    fn render(&self) -> String {
        self.as_str().into()
    }
    fn as_mode(&self) -> Option<Mode> {
        Some(*self)
    }
}

impl Value for Blocked {
    fn parse(text: &str) -> Result<Self, String> {
        CommandSet::parse(text, &command_tags()).map(Blocked)
    }
    fn strictest() -> Self {
        Blocked(all_tags())
    }
    fn render(&self) -> String {
        self.0.render(&command_tags())
    }
}

impl Value for Allowed {
    fn parse(text: &str) -> Result<Self, String> {
        CommandSet::parse(text, &command_tags()).map(Allowed)
    }
    fn strictest() -> Self {
        Allowed(CommandSet::EMPTY)
    }
    fn render(&self) -> String {
        self.0.render(&command_tags())
    }
}

impl Value for RowLimit {
    fn parse(text: &str) -> Result<Self, String> {
        RowLimit::parse(text)
    }
    fn strictest() -> Self {
        RowLimit(0)
    }
    fn render(&self) -> String {
        self.0.to_string()
    }
}

impl Value for Millis {
    fn parse(text: &str) -> Result<Self, String> {
        Millis::parse(text)
    }
    fn strictest() -> Self {
        Millis(1)
    }
    fn render(&self) -> String {
        Millis::render(self)
    }
}

impl Value for DryRun {
    fn parse(text: &str) -> Result<Self, String> {
        DryRun::parse(text)
    }
    fn strictest() -> Self {
        DryRun(false)
    }
    fn render(&self) -> String {
        if self.0 { "on".into() } else { "off".into() }
    }
}

impl Value for LogStatement {
    fn parse(text: &str) -> Result<Self, String> {
        LogStatement::parse(text)
    }
    fn strictest() -> Self {
        LogStatement::Full
    }
    fn render(&self) -> String {
        self.as_str().into()
    }
}

/// The four timeout ceilings: each its own setting, so each its own type for the lock.
macro_rules! ceiling_type {
    ($($name:ident),*) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub Ceiling);
        impl Tighten for $name {
            fn tighter(&self, other: &Self) -> Self {
                $name(self.0.tighter(&other.0))
            }
        }
        impl Value for $name {
            fn parse(text: &str) -> Result<Self, String> {
                Ceiling::parse(text).map($name)
            }
            fn strictest() -> Self {
                $name(Ceiling(1000))
            }
            fn render(&self) -> String {
                self.0.render()
            }
        }
    )*};
}
ceiling_type!(StatementCeiling, LockCeiling, IdleCeiling, TransactionCeiling);
