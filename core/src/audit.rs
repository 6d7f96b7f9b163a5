//! Pieces of the audit trail's lines that need no server: the timestamp, numbers, JSON strings.

/// `2026-12-01T19:40:57.123Z` for microseconds since the Unix epoch (UTC, milliseconds).
pub fn iso8601(unix_micros: i64) -> String {
    let mut out = String::with_capacity(24);
    push_iso8601(&mut out, unix_micros);
    out
}

/// [`iso8601`] appended to `out`, digit by digit: every audit line carries one, and `format!`'s
/// machinery cost more than the rest of composing a line's fixed fields (`benches/RESULTS.md`).
pub fn push_iso8601(out: &mut String, unix_micros: i64) {
    let millis = unix_micros.div_euclid(1000);
    let secs = millis.div_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let fields: [(i64, usize, &str); 7] = [
        (year, 4, "-"),
        (month, 2, "-"),
        (day, 2, "T"),
        (day_secs / 3600, 2, ":"),
        (day_secs % 3600 / 60, 2, ":"),
        (day_secs % 60, 2, "."),
        (millis.rem_euclid(1000), 3, "Z"),
    ];
    for (value, width, after) in fields {
        push_padded(out, value, width);
        out.push_str(after);
    }
}

/// `value` in decimal, zero-padded to `width` digits (a negative year is written as is).
fn push_padded(out: &mut String, value: i64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = value.unsigned_abs();
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = at.min(digits.len() - width);
    if value < 0 {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// `value` in decimal, appended to `out` (without `to_string`'s allocation and formatter).
pub fn push_int(out: &mut String, value: i64) {
    push_padded(out, value, 1);
}

/// `s` as a JSON string (RFC 8259: quote, backslash and control characters escaped).
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_rfc_8259_requires() {
        let mut out = String::new();
        json_string(&mut out, "plain é ✓");
        assert_eq!(out, r#""plain é ✓""#);
        out.clear();
        json_string(&mut out, "a\"b\\c\nd\re\tf\u{1}g\u{1f}");
        assert_eq!(out, r#""a\"b\\c\nd\re\tf\u0001g\u001f""#);
        out.clear();
        json_string(&mut out, "");
        assert_eq!(out, r#""""#);
    }

    #[test]
    fn utc_timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_981_257_123_456), "2026-11-29T19:40:57.123Z");
        assert_eq!(iso8601(951_782_400_000_000), "2000-02-29T00:00:00.000Z", "a leap day");
        assert_eq!(iso8601(-1_000), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso8601(253_402_300_799_999_000), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn integers() {
        for n in [0, 7, 10, 1_234_567, -1, -90, i64::MAX, i64::MIN] {
            let mut out = String::from("x");
            push_int(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }
}
