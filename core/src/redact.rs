//! Statement text for the audit trail (`interdict.log_statement = redacted`): every literal
//! replaced by `?`, comments dropped, the rest (keywords, identifiers, operators, `$1`
//! parameters) kept, so a line says what a statement did without the values it carried.
//! Follows the lexical rules of Postgres' scanner (`scan.l`): `'…'` with `''`, `E'…'` with
//! backslash escapes, `B'…'`, `X'…'`, `N'…'`, `U&'…'`, dollar quotes `$tag$…$tag$`, numbers
//! (including `1.5e3`, `0x1F`, `1_000`), `"quoted identifiers"` (kept), `--` and nested `/* */`.

use crate::sha256::sha256;

/// `text` with every literal replaced by `?` and comments removed.
pub fn redact(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Whether the previous token was part of an identifier/keyword (so `x1` keeps its digit).
    let mut in_word = false;
    while i < b.len() {
        let c = b[i];
        // Comments.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            in_word = false;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            in_word = false;
            continue;
        }
        // String constants, with their prefixes.
        let prefix = if in_word {
            0
        } else if matches!(c, b'e' | b'E' | b'b' | b'B' | b'x' | b'X' | b'n' | b'N') && b.get(i + 1) == Some(&b'\'') {
            1
        } else if matches!(c, b'u' | b'U') && b.get(i + 1) == Some(&b'&') && b.get(i + 2) == Some(&b'\'') {
            2
        } else {
            0
        };
        if c == b'\'' || prefix > 0 {
            let backslashes = matches!(c, b'e' | b'E');
            i += prefix;
            i = skip_quoted(b, i, backslashes);
            // Adjacent string constants separated by a newline continue the same literal.
            out.push('?');
            in_word = false;
            continue;
        }
        // Quoted identifiers: kept as they are.
        if c == b'"' {
            let end = skip_until_quote(b, i + 1, b'"');
            out.push_str(&text[i..end]);
            i = end;
            in_word = true;
            continue;
        }
        // Dollar quotes; `$1` parameters are kept.
        if c == b'$' && !in_word {
            if let Some(end) = dollar_quote_end(b, i) {
                out.push('?');
                i = end;
                continue;
            }
        }
        // Numbers that start a token.
        if !in_word && (c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))) {
            i = skip_number(b, i);
            out.push('?');
            in_word = false;
            continue;
        }
        // Anything else: one character (a multi-byte one whole).
        let len = utf8_len(c);
        let end = (i + len).min(b.len());
        out.push_str(&text[i..end]);
        in_word = c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
        i = end;
    }
    out
}

/// A stable hash of a statement: the first 16 hex digits of the SHA-256 of its redacted text, so
/// the same statement with other values hashes alike.
pub fn statement_hash(text: &str) -> String {
    hash_redacted(&redact(text))
}

/// [`statement_hash`] of a statement [`redact`]ed already (the audit trail needs both).
pub fn hash_redacted(redacted: &str) -> String {
    let mut normalized = String::with_capacity(redacted.len());
    for word in redacted.split_whitespace() {
        if !normalized.is_empty() {
            normalized.push(' ');
        }
        normalized.push_str(word);
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    sha256(normalized.as_bytes())[..8].iter().flat_map(|b| [HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 15)] as char]).collect()
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// From the opening quote at `i`, past the closing one (`''` is a quote inside).
fn skip_quoted(b: &[u8], i: usize, backslashes: bool) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if backslashes => j += 2,
            b'\'' if b.get(j + 1) == Some(&b'\'') => j += 2,
            b'\'' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

fn skip_until_quote(b: &[u8], mut j: usize, quote: u8) -> usize {
    while j < b.len() {
        if b[j] == quote {
            if b.get(j + 1) == Some(&quote) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

/// If a dollar quote opens at `i` (`$$` or `$tag$`, the tag not starting with a digit), the index
/// past its closing delimiter.
fn dollar_quote_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    if b.get(j) != Some(&b'$') || b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let delimiter = &b[i..=j];
    let body = j + 1;
    let close = b[body..].windows(delimiter.len()).position(|w| w == delimiter);
    Some(close.map_or(b.len(), |p| body + p + delimiter.len()))
}

fn skip_number(b: &[u8], mut j: usize) -> usize {
    if b[j] == b'0' && matches!(b.get(j + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) {
        j += 2;
        while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b'_') {
            j += 1;
        }
        return j;
    }
    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'_' || b[j] == b'.') {
        j += 1;
    }
    if j < b.len() && matches!(b[j], b'e' | b'E') {
        let mut k = j + 1;
        if k < b.len() && matches!(b[k], b'+' | b'-') {
            k += 1;
        }
        if k < b.len() && b[k].is_ascii_digit() {
            j = k;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_hashes_are_stable_and_ignore_spacing() {
        // The value audit lines carried before: log consumers group by it.
        assert_eq!(hash_redacted("SELECT  *\n FROM t WHERE a = ?"), "45fbc19f0e8192e6");
        assert_eq!(hash_redacted("SELECT * FROM t WHERE a = ?"), "45fbc19f0e8192e6");
    }

    #[test]
    fn literals_become_placeholders() {
        assert_eq!(redact("SELECT * FROM t WHERE name = 'alice' AND id = 42"), "SELECT * FROM t WHERE name = ? AND id = ?");
        assert_eq!(redact("UPDATE t SET v = 'it''s' WHERE x > 1.5e3"), "UPDATE t SET v = ? WHERE x > ?");
        assert_eq!(redact(r"SELECT E'a\'b', B'0101', X'ff', N'n', U&'d\0061t'"), "SELECT ?, ?, ?, ?, ?");
        assert_eq!(redact("SELECT $$secret$$, $tag$a $$ b$tag$"), "SELECT ?, ?");
        assert_eq!(redact("SELECT 0x1F, 1_000, .5, -7"), "SELECT ?, ?, ?, -?");
    }

    #[test]
    fn identifiers_parameters_and_keywords_stay() {
        assert_eq!(redact(r#"SELECT "Weird 'col'", t1.c2 FROM s1.t1 WHERE c = $1"#), r#"SELECT "Weird 'col'", t1.c2 FROM s1.t1 WHERE c = $1"#);
        assert_eq!(redact("SELECT x1, e, b FROM t"), "SELECT x1, e, b FROM t", "letters that are prefixes elsewhere");
        assert_eq!(redact("SELECT café FROM t WHERE v = 'é'"), "SELECT café FROM t WHERE v = ?");
    }

    #[test]
    fn comments_are_dropped() {
        assert_eq!(redact("DELETE FROM t -- the password is hunter2\nWHERE id = 3"), "DELETE FROM t \nWHERE id = ?");
        assert_eq!(redact("SELECT /* outer /* inner 'x' */ still */ 1"), "SELECT   ?");
    }

    #[test]
    fn unterminated_input_does_not_leak() {
        assert_eq!(redact("SELECT 'never closed"), "SELECT ?");
        assert_eq!(redact("SELECT $q$ open"), "SELECT ?");
    }

    #[test]
    fn hashes_ignore_values_and_spacing() {
        assert_eq!(statement_hash("DELETE FROM t WHERE id = 1"), statement_hash("DELETE  FROM t WHERE id = 999"));
        assert_ne!(statement_hash("DELETE FROM t WHERE id = 1"), statement_hash("DELETE FROM u WHERE id = 1"));
        assert_eq!(statement_hash("x").len(), 16);
    }
}
