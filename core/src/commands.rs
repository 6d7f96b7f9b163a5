//! Sets of Postgres command tags (`VACUUM`, `CREATE INDEX`, …), as named by `cmdtaglist.h`.
//!
//! The valid tags come from the server at run time (`GetCommandTagName` for every `CommandTag`),
//! so the list is always the one of the Postgres version in use; a set is a bitmap over their indices.

use crate::lock::Tighten;

/// How many command tags a set can hold; Postgres 13–18 have fewer than 200.
pub const MAX_TAGS: usize = 256;

/// A set of command tags, by `CommandTag` index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandSet {
    bits: [u64; MAX_TAGS / 64],
}

impl CommandSet {
    pub const EMPTY: CommandSet = CommandSet { bits: [0; MAX_TAGS / 64] };

    pub fn contains(&self, tag_index: usize) -> bool {
        tag_index < MAX_TAGS && self.bits[tag_index / 64] & (1 << (tag_index % 64)) != 0
    }

    pub fn insert(&mut self, tag_index: usize) {
        assert!(tag_index < MAX_TAGS, "command tag index {tag_index} out of range");
        self.bits[tag_index / 64] |= 1 << (tag_index % 64);
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|b| *b == 0)
    }

    pub fn union(&self, other: &CommandSet) -> CommandSet {
        let mut out = *self;
        out.bits.iter_mut().zip(other.bits).for_each(|(a, b)| *a |= b);
        out
    }

    pub fn intersection(&self, other: &CommandSet) -> CommandSet {
        let mut out = *self;
        out.bits.iter_mut().zip(other.bits).for_each(|(a, b)| *a &= b);
        out
    }

    /// Parses a comma-separated list of tags. Case, spacing and double quotes around an entry do not
    /// matter; an empty string is the empty set; an empty entry or an unknown tag is an error that
    /// names it and lists the valid tags.
    pub fn parse(input: &str, valid_tags: &[&str]) -> Result<CommandSet, String> {
        let mut set = CommandSet::EMPTY;
        if input.trim().is_empty() {
            return Ok(set);
        }
        for (position, raw) in input.split(',').enumerate() {
            let entry = normalize(raw);
            if entry.is_empty() {
                return Err(format!("entry {} of the list is empty", position + 1));
            }
            match valid_tags.iter().position(|t| *t == entry) {
                Some(index) => set.insert(index),
                None => {
                    return Err(format!(
                        "\"{}\" is not a command tag; valid tags are: {}",
                        raw.trim(),
                        valid_tags.join(", ")
                    ))
                }
            }
        }
        Ok(set)
    }

    /// The canonical text: tag names in tag order, comma-separated.
    pub fn render(&self, valid_tags: &[&str]) -> String {
        let names: Vec<&str> =
            valid_tags.iter().enumerate().filter(|(i, _)| self.contains(*i)).map(|(_, t)| *t).collect();
        names.join(", ")
    }
}

fn normalize(raw: &str) -> String {
    let unquoted = raw.trim().trim_matches('"');
    unquoted.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase()
}

/// `interdict.blocked_commands`: tightening means blocking more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Blocked(pub CommandSet);

impl Tighten for Blocked {
    fn tighter(&self, other: &Self) -> Self {
        Blocked(self.0.union(&other.0))
    }
}

/// `interdict.readonly_allow`: tightening means allowing less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allowed(pub CommandSet);

impl Tighten for Allowed {
    fn tighter(&self, other: &Self) -> Self {
        Allowed(self.0.intersection(&other.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGS: &[&str] = &["ANALYZE", "CHECKPOINT", "CREATE INDEX", "VACUUM"];

    #[test]
    fn parses_any_case_and_spacing() {
        let set = CommandSet::parse(" vacuum ,create   index,\"Analyze\"", TAGS).unwrap();
        assert!(set.contains(0) && set.contains(2) && set.contains(3));
        assert!(!set.contains(1));
        assert_eq!(set.render(TAGS), "ANALYZE, CREATE INDEX, VACUUM");
    }

    #[test]
    fn empty_string_is_the_empty_set() {
        assert!(CommandSet::parse("  ", TAGS).unwrap().is_empty());
    }

    #[test]
    fn unknown_tag_is_named_with_the_valid_list() {
        assert_eq!(
            CommandSet::parse("VACUUM, VACCUM", TAGS).unwrap_err(),
            "\"VACCUM\" is not a command tag; valid tags are: ANALYZE, CHECKPOINT, CREATE INDEX, VACUUM"
        );
    }

    #[test]
    fn empty_entry_is_an_error() {
        assert_eq!(CommandSet::parse("VACUUM,,ANALYZE", TAGS).unwrap_err(), "entry 2 of the list is empty");
        assert!(CommandSet::parse("VACUUM,", TAGS).is_err());
    }

    #[test]
    fn blocked_tightens_by_union_and_allowed_by_intersection() {
        let a = CommandSet::parse("VACUUM", TAGS).unwrap();
        let b = CommandSet::parse("ANALYZE, VACUUM", TAGS).unwrap();
        assert!(Blocked(b).covers(&Blocked(a)));
        assert!(!Blocked(a).covers(&Blocked(b)));
        assert!(Allowed(a).covers(&Allowed(b)));
        assert!(!Allowed(b).covers(&Allowed(a)));
    }

    #[test]
    fn out_of_range_index_is_not_contained() {
        assert!(!CommandSet::EMPTY.contains(MAX_TAGS + 3));
    }
}
