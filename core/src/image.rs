//! A row image as undo stores it: the row as a composite datum, in Postgres' own tuple format (what
//! `heap_copy_tuple_as_datum` makes of a heap tuple, every value inline: the toast pointers
//! resolved). Storing the bytes costs a copy where the text form cost every column's output
//! function, and reads back exactly, in any encoding, with no input function.
//!
//! Bytes read back from storage are walked here before Postgres touches them, the way
//! `heap_deform_tuple` walks a tuple, with every length and offset checked against the image's
//! end: an image that is not a well-formed tuple of the table's columns is an error, never a read
//! out of bounds. [`fields`] returns where each column's value lies.
//!
//! Layout (`access/htup_details.h`, unchanged since PostgreSQL 8.3): a 4-byte varlena length word,
//! the type's typmod and OID (4 bytes each), the tuple id (6), `t_infomask2` (2; the low 11 bits
//! are the column count), `t_infomask` (2), `t_hoff` (1: where the data starts, maximally aligned),
//! then the null bitmap (one bit per column, set for a value) if `t_infomask` says there are nulls.

use std::ops::Range;

const INFOMASK2_AT: usize = 18;
const INFOMASK_AT: usize = 20;
const HOFF_AT: usize = 22;
const BITS_AT: usize = 23;
const NATTS_MASK: u16 = 0x07FF;
const HAS_NULL: u16 = 0x0001;
const HAS_EXTERNAL: u16 = 0x0004;
const MAX_ALIGN: usize = 8;

/// How one column of the table is stored (`pg_attribute.attlen`, `attalign` as bytes: 1, 2, 4 or 8).
/// Dropped columns are listed too: their values keep their place in older rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub len: i16,
    pub align: u8,
}

/// The image's columns' values: `None` for a null (or a column the image predates), else the
/// value's bytes (a varlena with its header).
pub fn fields(image: &[u8], columns: &[Column]) -> Result<Vec<Option<Range<usize>>>, String> {
    let u16_at = |at: usize| u16::from_ne_bytes([image[at], image[at + 1]]);
    if image.len() < BITS_AT {
        return Err(format!("{} bytes is shorter than a tuple header", image.len()));
    }
    match varlena_len(image, 0) {
        Some((len, false)) if len == image.len() => {}
        _ => return Err("its length word is not its length".into()),
    }
    let natts = (u16_at(INFOMASK2_AT) & NATTS_MASK) as usize;
    let infomask = u16_at(INFOMASK_AT);
    let hoff = image[HOFF_AT] as usize;
    if natts > columns.len() {
        return Err(format!("{natts} columns where the table has {}", columns.len()));
    }
    if infomask & HAS_EXTERNAL != 0 {
        return Err("a value is stored out of line".into());
    }
    let has_nulls = infomask & HAS_NULL != 0;
    let header = BITS_AT + if has_nulls { natts.div_ceil(8) } else { 0 };
    if hoff < header || hoff > image.len() || hoff % MAX_ALIGN != 0 {
        return Err(format!("its data starts at {hoff}"));
    }
    let is_null = |i: usize| has_nulls && image[BITS_AT + i / 8] & (1 << (i % 8)) == 0;
    let mut out = Vec::with_capacity(columns.len());
    let mut at = hoff;
    for (i, c) in columns.iter().enumerate().take(natts) {
        if is_null(i) {
            out.push(None);
            continue;
        }
        let len = match c.len {
            -1 => {
                // A value with a 1-byte header is not aligned; padding bytes are zeros (att_align_pointer).
                if at < image.len() && image[at] == 0 {
                    at = align(at, c.align);
                }
                match varlena_len(image, at) {
                    Some((len, _)) => len,
                    None => return Err(bad(i, "no valid inline varlena".into(), at)),
                }
            }
            -2 => {
                at = align(at, c.align);
                match image.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0)) {
                    Some(n) => n + 1,
                    None => return Err(bad(i, "an unterminated string".into(), at)),
                }
            }
            n if n > 0 => {
                at = align(at, c.align);
                n as usize
            }
            _ => return Err(bad(i, format!("a column length of {}", c.len), at)),
        };
        if at > image.len() || len > image.len() - at {
            return Err(bad(i, "a value past the end".into(), at));
        }
        out.push(Some(at..at + len));
        at += len;
    }
    out.resize(columns.len(), None);
    Ok(out)
}

/// One column of a table's recorded shape: `name@attnum:type:typmod`, the name with `\\`, `,`, `@`
/// and `:` escaped by a backslash, so that any name reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeColumn {
    pub name: String,
    pub attnum: i16,
    pub typid: u32,
    pub typmod: i32,
}

/// A shape: its columns, comma-separated, in order.
/// Whether two images are the same row version's values: equal bytes but for what Postgres changes
/// in a stored tuple's header as later writes touch it (its `t_ctid`, hint and lock bits; the
/// image copies the header as it found it). Images too short to have a header compare whole.
pub fn same_row(a: &[u8], b: &[u8]) -> bool {
    const CTID: std::ops::Range<usize> = 12..INFOMASK2_AT;
    const DATA_FLAGS: u16 = 0x0007; // HEAP_HASNULL | HEAP_HASVARWIDTH | HEAP_HASEXTERNAL
    if a.len() != b.len() || a.len() < BITS_AT {
        return a == b;
    }
    let word = |i: &[u8], at: usize| u16::from_ne_bytes([i[at], i[at + 1]]);
    a[..CTID.start] == b[..CTID.start]
        && word(a, INFOMASK2_AT) & NATTS_MASK == word(b, INFOMASK2_AT) & NATTS_MASK
        && word(a, INFOMASK_AT) & DATA_FLAGS == word(b, INFOMASK_AT) & DATA_FLAGS
        && a[HOFF_AT..] == b[HOFF_AT..]
}

pub fn write_shape(columns: &[ShapeColumn]) -> String {
    let mut out = String::new();
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for ch in c.name.chars() {
            if matches!(ch, '\\' | ',' | '@' | ':') {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push_str(&format!("@{}:{}:{}", c.attnum, c.typid, c.typmod));
    }
    out
}

/// A shape [`write_shape`] wrote, or `None`.
pub fn read_shape(shape: &str) -> Option<Vec<ShapeColumn>> {
    let mut out = Vec::new();
    let mut chars = shape.chars().peekable();
    while chars.peek().is_some() {
        let mut name = String::new();
        loop {
            match chars.next()? {
                '\\' => name.push(chars.next()?),
                '@' => break,
                ch => name.push(ch),
            }
        }
        let rest: String = chars.by_ref().take_while(|&c| c != ',').collect();
        let mut parts = rest.split(':');
        let (attnum, typid, typmod) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        if parts.next().is_some() {
            return None;
        }
        out.push(ShapeColumn { name, attnum, typid, typmod });
    }
    Some(out)
}

/// The positions of `recorded`'s columns, if a table shaped `now` still has each of them at its
/// position with its type and type modifier (a column may have been renamed; columns added since
/// are not in `recorded`): images recorded from `recorded` read the same in `now`. `None` if a
/// column was dropped or changed type, or a shape does not read.
pub fn recorded_columns_in(recorded: &str, now: &str) -> Option<Vec<i16>> {
    let (recorded, now) = (read_shape(recorded)?, read_shape(now)?);
    let kept = |r: &ShapeColumn| now.iter().any(|n| (n.attnum, n.typid, n.typmod) == (r.attnum, r.typid, r.typmod));
    recorded.iter().all(kept).then(|| recorded.iter().map(|r| r.attnum).collect())
}

/// A row's text form from its fields' text forms, as `record_out` writes it: a null is nothing; a
/// field is quoted if empty or holding `"`, `\\`, `(`, `)`, `,` or white space, with `"` and `\\`
/// doubled inside.
pub fn record_text(fields: &[Option<String>]) -> String {
    let mut out = String::from("(");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(f) = f else { continue };
        let quote = f.is_empty() || f.chars().any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',' | '\x0B') || c.is_ascii_whitespace());
        if quote {
            out.push('"');
        }
        for ch in f.chars() {
            if quote && matches!(ch, '"' | '\\') {
                out.push(ch);
            }
            out.push(ch);
        }
        if quote {
            out.push('"');
        }
    }
    out.push(')');
    out
}

/// A varlena value's data without its header (from [`fields`]), or `None` if it is compressed.
pub fn varlena_data(value: &[u8]) -> Option<&[u8]> {
    let first = *value.first()?;
    if short_len(first).is_some() {
        return value.get(1..);
    }
    match long_len(value.get(..4)?.try_into().ok()?)? {
        (_, false) => value.get(4..),
        (_, true) => None,
    }
}

fn bad(column: usize, what: String, at: usize) -> String {
    format!("column {}: {what} at byte {at}", column + 1)
}

fn align(at: usize, align: u8) -> usize {
    let a = (align as usize).max(1);
    at.div_ceil(a) * a
}

/// The length of the inline varlena at `at` (header included) and whether it is compressed;
/// `None` if there is none (out of bounds, a toast pointer, a length shorter than its header).
fn varlena_len(image: &[u8], at: usize) -> Option<(usize, bool)> {
    let first = *image.get(at)?;
    if is_1b_external(first) {
        return None;
    }
    if let Some(len) = short_len(first) {
        return (len >= 1).then_some((len, false));
    }
    let word: [u8; 4] = image.get(at..at + 4)?.try_into().ok()?;
    let (len, compressed) = long_len(word)?;
    let header = if compressed { 8 } else { 4 };
    (len >= header).then_some((len, compressed))
}

#[cfg(target_endian = "little")]
fn is_1b_external(first: u8) -> bool {
    first == 0x01
}
#[cfg(target_endian = "little")]
fn short_len(first: u8) -> Option<usize> {
    (first & 0x01 == 0x01).then_some(((first >> 1) & 0x7F) as usize)
}
#[cfg(target_endian = "little")]
fn long_len(word: [u8; 4]) -> Option<(usize, bool)> {
    let w = u32::from_le_bytes(word);
    let len = ((w >> 2) & 0x3FFF_FFFF) as usize;
    match w & 0x03 {
        0x00 => Some((len, false)),
        0x02 => Some((len, true)),
        _ => None,
    }
}

#[cfg(target_endian = "big")]
fn is_1b_external(first: u8) -> bool {
    first == 0x80
}
#[cfg(target_endian = "big")]
fn short_len(first: u8) -> Option<usize> {
    (first & 0x80 == 0x80).then_some((first & 0x7F) as usize)
}
#[cfg(target_endian = "big")]
fn long_len(word: [u8; 4]) -> Option<(usize, bool)> {
    let w = u32::from_be_bytes(word);
    let len = (w & 0x3FFF_FFFF) as usize;
    match w & 0xC000_0000 {
        0x0000_0000 => Some((len, false)),
        0x4000_0000 => Some((len, true)),
        _ => None,
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    const INT4: Column = Column { len: 4, align: 4 };
    const TEXT: Column = Column { len: -1, align: 4 };
    const INT8: Column = Column { len: 8, align: 8 };

    #[test]
    fn a_row_version_is_the_same_row_whatever_later_writes_did_to_its_header() {
        let a = image(2, None, &[1, 0, 0, 0, 2, 0, 0, 0]);
        let mut b = a.clone();
        b[12..18].copy_from_slice(&[0, 0, 7, 0, 3, 0]); // t_ctid: the row's next version
        b[18] |= 0x00; b[19] |= 0x40; // HEAP_HOT_UPDATED
        b[20] |= 0x80; b[21] |= 0x08; // HEAP_XMAX_LOCK_ONLY, HEAP_XMAX_INVALID: hint and lock bits
        assert!(same_row(&a, &b));
        let mut data = a.clone();
        *data.last_mut().unwrap() = 9;
        assert!(!same_row(&a, &data), "another value");
        let mut nulls = a.clone();
        nulls[20] |= 0x01;
        assert!(!same_row(&a, &nulls), "HEAP_HASNULL says how the data reads");
        let mut natts = a.clone();
        natts[18] = 3;
        assert!(!same_row(&a, &natts), "another number of columns");
        assert!(!same_row(&a, &a[..a.len() - 1]));
    }

    /// An image as heap_form_tuple lays it out: header, optional null bitmap, data at `hoff`.
    fn image(natts: u16, nulls: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
        let header = BITS_AT + nulls.map_or(0, |n| n.len());
        let hoff = header.div_ceil(8) * 8;
        let mut out = vec![0u8; hoff];
        out[INFOMASK2_AT..INFOMASK2_AT + 2].copy_from_slice(&natts.to_ne_bytes());
        out[INFOMASK_AT..INFOMASK_AT + 2].copy_from_slice(&(if nulls.is_some() { HAS_NULL } else { 0 }).to_ne_bytes());
        out[HOFF_AT] = hoff as u8;
        if let Some(n) = nulls {
            out[BITS_AT..BITS_AT + n.len()].copy_from_slice(n);
        }
        out.extend_from_slice(data);
        let len = out.len() as u32;
        out[0..4].copy_from_slice(&(len << 2).to_le_bytes());
        out
    }

    #[test]
    fn values_are_found_where_postgres_puts_them() {
        // int4 7, text 'ab' (short header 0x07 = 3 bytes), padding to 8, int8 9
        let mut data = vec![7, 0, 0, 0, 0x07, b'a', b'b', 0];
        data.extend_from_slice(&9u64.to_le_bytes());
        let img = image(3, None, &data);
        let f = fields(&img, &[INT4, TEXT, INT8]).unwrap();
        assert_eq!(f, vec![Some(24..28), Some(28..31), Some(32..40)]);
        assert_eq!(&img[29..31], b"ab");
    }

    #[test]
    fn nulls_and_columns_added_since_read_as_none() {
        // bitmap 0b01: column 1 present, column 2 null
        let img = image(2, Some(&[0b01]), &[5, 0, 0, 0]);
        assert_eq!(fields(&img, &[INT4, TEXT, INT4]).unwrap(), vec![Some(24..28), None, None]);
    }

    #[test]
    fn a_long_header_value_is_aligned_and_may_be_compressed() {
        // int4, then a 4-byte-header text of 6 bytes (aligned: already at 28), then a compressed one (8-byte header + 2)
        let mut data = vec![1, 0, 0, 0];
        data.extend_from_slice(&(6u32 << 2).to_le_bytes());
        data.extend_from_slice(b"xy");
        data.extend_from_slice(&[0, 0]);
        data.extend_from_slice(&((10u32 << 2) | 0x02).to_le_bytes());
        data.extend_from_slice(&[0; 6]);
        let img = image(3, None, &data);
        assert_eq!(fields(&img, &[INT4, TEXT, TEXT]).unwrap(), vec![Some(24..28), Some(28..34), Some(36..46)]);
        assert_eq!(varlena_data(&img[28..34]), Some(&b"xy"[..]));
        assert_eq!(varlena_data(&img[36..46]), None, "compressed");
        assert_eq!(varlena_data(&[0x07, b'a', b'b']), Some(&b"ab"[..]), "short header");
    }

    #[test]
    fn recorded_columns_survive_renames_and_added_columns_only() {
        let col = |name: &str, attnum, typid, typmod| ShapeColumn { name: name.into(), attnum, typid, typmod };
        let recorded = write_shape(&[col("id", 1, 23, -1), col("v", 3, 1043, 14)]);
        let renamed_and_added = write_shape(&[col("key", 1, 23, -1), col("v", 3, 1043, 14), col("extra", 4, 25, -1)]);
        assert_eq!(recorded_columns_in(&recorded, &renamed_and_added), Some(vec![1, 3]));
        assert_eq!(recorded_columns_in(&recorded, &recorded), Some(vec![1, 3]));
        let retyped = write_shape(&[col("id", 1, 23, -1), col("v", 3, 1043, 24)]);
        assert_eq!(recorded_columns_in(&recorded, &retyped), None, "a type modifier changed");
        let dropped = write_shape(&[col("id", 1, 23, -1), col("extra", 4, 25, -1)]);
        assert_eq!(recorded_columns_in(&recorded, &dropped), None, "a column dropped");
        assert_eq!(recorded_columns_in("x@", &recorded), None, "an unreadable shape");
    }

    #[test]
    fn shapes_read_back_whatever_the_names() {
        let cols = vec![
            ShapeColumn { name: "id".into(), attnum: 1, typid: 23, typmod: -1 },
            ShapeColumn { name: "a,b@c:d\\e".into(), attnum: 3, typid: 1043, typmod: 14 },
        ];
        let text = write_shape(&cols);
        assert_eq!(text, "id@1:23:-1,a\\,b\\@c\\:d\\\\e@3:1043:14");
        assert_eq!(read_shape(&text), Some(cols));
        assert_eq!(read_shape(""), Some(vec![]));
        for bad in ["id", "id@1:23", "id@x:23:-1", "id@1:23:-1:5", "id\\"] {
            assert_eq!(read_shape(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn record_text_quotes_as_record_out_does() {
        let f = |v: &[Option<&str>]| record_text(&v.iter().map(|x| x.map(String::from)).collect::<Vec<_>>());
        assert_eq!(f(&[Some("1"), None, Some("abc")]), "(1,,abc)");
        assert_eq!(f(&[Some(""), Some("a b"), Some("x\"y\\z"), Some("(1,2)")]), "(\"\",\"a b\",\"x\"\"y\\\\z\",\"(1,2)\")");
        assert_eq!(f(&[Some("é")]), "(é)");
    }

    #[test]
    fn malformed_images_are_errors() {
        let good = image(1, None, &[1, 0, 0, 0]);
        assert!(fields(&good, &[INT4]).is_ok());
        assert!(fields(&good[..20], &[INT4]).is_err(), "short");
        let mut wrong_len = good.clone();
        wrong_len.push(0);
        assert!(fields(&wrong_len, &[INT4]).is_err(), "length word");
        assert!(fields(&image(2, None, &[1, 0, 0, 0]), &[INT4]).is_err(), "more columns than the table");
        assert!(fields(&image(2, None, &[1, 0, 0, 0]), &[INT4, INT4]).is_err(), "value past the end");
        assert!(fields(&image(1, None, &[0x01, 18, 0, 0]), &[TEXT]).is_err(), "toast pointer");
        assert!(fields(&image(1, None, &[0x41, b'a']), &[TEXT]).is_err(), "short varlena past the end");
        assert!(fields(&image(1, None, &(200u32 << 2).to_le_bytes()), &[TEXT]).is_err(), "long varlena past the end");
        assert!(fields(&image(1, None, &(2u32 << 2).to_le_bytes()), &[TEXT]).is_err(), "length shorter than its header");
        let mut external = good.clone();
        external[INFOMASK_AT] |= HAS_EXTERNAL as u8;
        assert!(fields(&external, &[INT4]).is_err(), "external flag");
        let mut hoff = good.clone();
        hoff[HOFF_AT] = 200;
        assert!(fields(&hoff, &[INT4]).is_err(), "data offset");
    }
}
