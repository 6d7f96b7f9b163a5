//! Fixed-size text for records that live in shared memory (no heap there): a string cut to at most
//! `N` bytes, at a character boundary.

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedText<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> FixedText<N> {
    pub const EMPTY: FixedText<N> = FixedText { len: 0, bytes: [0; N] };

    /// `text`, cut to at most `N` bytes (and 65535) at a character boundary.
    pub fn new(text: &str) -> FixedText<N> {
        let mut end = text.len().min(N).min(u16::MAX as usize);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; N];
        bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        FixedText { len: end as u16, bytes }
    }

    /// `text` cut as [`Self::new`] cuts it, ending in a marker that says how much went (a reader —
    /// an operator deciding on a request — must not take the head for the whole).
    pub fn new_marked(text: &str) -> FixedText<N> {
        if !Self::was_cut(text) {
            return Self::new(text);
        }
        let mut end = N.min(u16::MAX as usize).saturating_sub(40).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self::new(&format!("{} … [cut: {} more bytes]", &text[..end], text.len() - end))
    }

    pub fn as_str(&self) -> &str {
        // Only `new` writes the bytes, from a valid string cut at a boundary.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// Whether `text` was cut to fit.
    pub fn was_cut(text: &str) -> bool {
        text.len() > N.min(u16::MAX as usize)
    }
}

impl<const N: usize> std::fmt::Debug for FixedText<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(FixedText::<8>::new("short").as_str(), "short");
        assert_eq!(FixedText::<4>::new("abcdef").as_str(), "abcd");
        assert_eq!(FixedText::<4>::new("abcé").as_str(), "abc", "é is two bytes: cut before it");
        assert_eq!(FixedText::<4>::EMPTY.as_str(), "");
        assert!(FixedText::<4>::was_cut("abcde") && !FixedText::<4>::was_cut("abcd"));
    }

    #[test]
    fn a_cut_text_says_so() {
        assert_eq!(FixedText::<64>::new_marked("short").as_str(), "short");
        let cut = FixedText::<64>::new_marked(&"x".repeat(100));
        assert_eq!(cut.as_str(), format!("{} … [cut: 76 more bytes]", "x".repeat(24)));
    }
}
