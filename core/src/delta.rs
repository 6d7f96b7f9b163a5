//! An update's after-image as the bytes where it differs from its before-image. An UPDATE usually
//! changes a column or two of a row, so storing the after-image whole writes most of the row twice
//! (in the record tables and so in the WAL). Exact by construction: [`apply`] rebuilds the very
//! bytes [`encode`] was given, and checks every length against the bytes it has.
//!
//! Layout: the after-image's length, the length of a tail it shares with the before-image's end
//! (nonzero only when the lengths differ: a value before it grew or shrank), then runs up to the
//! tail, each `same` bytes copied from the before-image at the same offset followed by `differ`
//! bytes given literally. Numbers are unsigned LEB128 (7 bits a byte, low first).

/// Equal bytes shorter than this inside a difference stay in it (a run costs two numbers).
const MIN_SAME: usize = 4;

/// `new` as a difference from `old`, or `None` when that would not be smaller.
pub fn encode(old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let tail = if old.len() == new.len() { 0 } else { common_suffix(old, new) };
    let end = new.len() - tail;
    let mut out = Vec::with_capacity(32);
    push_number(&mut out, new.len());
    push_number(&mut out, tail);
    let mut at = 0;
    while at < end {
        let same = same_run(old, new, at, end);
        let mut to = at + same;
        // The difference runs until MIN_SAME equal bytes (or the end of what runs cover).
        while to < end {
            while to < end && old.get(to) != Some(&new[to]) {
                to += 1;
            }
            let next_same = same_run(old, new, to, end);
            if next_same >= MIN_SAME || to + next_same == end {
                break;
            }
            to += next_same;
        }
        push_number(&mut out, same);
        push_number(&mut out, to - at - same);
        out.extend_from_slice(&new[at + same..to]);
        if out.len() >= new.len() {
            return None;
        }
        at = to;
    }
    Some(out)
}

/// The after-image `delta` describes, from its before-image `old`. An error for a delta that does
/// not fit `old` or ends early: never a read out of bounds.
pub fn apply(old: &[u8], delta: &[u8]) -> Result<Vec<u8>, String> {
    let mut at = 0;
    let len = take_number(delta, &mut at)?;
    let tail = take_number(delta, &mut at)?;
    let end = len.checked_sub(tail).ok_or("a shared tail longer than the image")?;
    // Every byte comes from the before-image or the delta: a larger length is damage (and is
    // never allocated).
    if tail > old.len() || len > old.len() + delta.len() {
        return Err("lengths that do not fit the before-image".into());
    }
    let mut out = Vec::with_capacity(len);
    while out.len() < end {
        let same = take_number(delta, &mut at)?;
        let differ = take_number(delta, &mut at)?;
        let from = out.len();
        let copied = old.get(from..from.saturating_add(same)).ok_or("a run past the before-image's end")?;
        out.extend_from_slice(copied);
        let given = delta.get(at..at.saturating_add(differ)).ok_or("a run past the delta's end")?;
        out.extend_from_slice(given);
        at += differ;
        if same == 0 && differ == 0 {
            return Err("an empty run".into());
        }
    }
    if out.len() != end || at != delta.len() {
        return Err("runs that do not end where the image does".into());
    }
    out.extend_from_slice(&old[old.len() - tail..]);
    Ok(out)
}

/// How many bytes from `at` (before `end`) are the same in both.
fn same_run(old: &[u8], new: &[u8], at: usize, end: usize) -> usize {
    let limit = end.min(old.len());
    if at >= limit {
        return 0;
    }
    let (a, b) = (&old[at..limit], &new[at..limit]);
    // Eight bytes at a time (the first differing byte of a word is where their XOR's lowest set
    // bit is, in little-endian order), then the last few one by one.
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let differ = word(x) ^ word(y);
        if differ != 0 {
            return i + differ.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i + a[i..].iter().zip(&b[i..]).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count()
}

fn push_number(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_number(bytes: &[u8], at: &mut usize) -> Result<usize, String> {
    let mut n: usize = 0;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*at).ok_or("a number cut short")?;
        *at += 1;
        n |= ((b & 0x7F) as usize) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err("a number too large".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(old: &[u8], new: &[u8]) -> Option<usize> {
        let d = encode(old, new)?;
        assert_eq!(apply(old, &d).unwrap(), new, "{old:?} -> {new:?}");
        assert!(d.len() < new.len());
        Some(d.len())
    }

    #[test]
    fn a_changed_column_is_stored_as_its_bytes() {
        let old: Vec<u8> = (0..120u8).collect();
        let mut new = old.clone();
        new[40..44].copy_from_slice(&[9, 9, 9, 9]);
        new[19] = 0xFF; // a header flag
        // Its length, no tail, 19 copied and 1 given, 20 copied and 4 given, the last 76 copied.
        assert_eq!(round_trip(&old, &new), Some(13));
    }

    #[test]
    fn a_byte_changed_anywhere_is_found_exactly() {
        // Word by word comparison: a difference at every offset of a word, and in the last bytes.
        let old: Vec<u8> = (0..43u8).collect();
        for at in 0..old.len() {
            let mut new = old.clone();
            new[at] ^= 0xFF;
            let mut expected = vec![43, 0, at as u8, 1, new[at]];
            if at + 1 < old.len() {
                expected.extend([(old.len() - at - 1) as u8, 0]);
            }
            assert_eq!(encode(&old, &new), Some(expected), "a change at {at}");
        }
    }

    #[test]
    fn a_value_that_grew_keeps_the_shared_tail() {
        let old = [vec![1u8; 30], b"short".to_vec(), vec![7u8; 60]].concat();
        let new = [vec![1u8; 30], b"rather longer".to_vec(), vec![7u8; 60]].concat();
        assert!(round_trip(&old, &new).unwrap() < 20);
        assert!(round_trip(&new, &old).unwrap() < 20, "and shrank");
    }

    #[test]
    fn nothing_in_common_is_not_encoded() {
        assert_eq!(encode(&[1, 2, 3, 4, 5, 6, 7, 8], &[8, 7, 6, 5, 4, 3, 2, 1]), None);
        assert_eq!(encode(&[], &[1]), None);
        assert_eq!(encode(b"abc", b"abc"), None, "no shorter than three bytes");
        let same = [5u8; 20];
        assert_eq!(encode(&same, &same), Some(vec![20, 0, 20, 0]), "identical: one copied run");
        assert_eq!(apply(&same, &[20, 0, 20, 0]).unwrap(), same);
    }

    #[test]
    fn every_pair_of_small_images_round_trips() {
        // Exhaustive over short images of a two-letter alphabet, then pseudo-random long ones.
        let words = |len: usize| (0..1u32 << len).map(move |m| (0..len).map(|i| b'a' + (m >> i & 1) as u8).collect::<Vec<u8>>());
        for a in (0..=6).flat_map(words) {
            for b in (0..=6).flat_map(words) {
                if let Some(d) = encode(&a, &b) {
                    assert_eq!(apply(&a, &d).unwrap(), b);
                }
            }
        }
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..2000 {
            let old: Vec<u8> = (0..next() % 300).map(|_| (next() % 4) as u8).collect();
            let mut new = old.clone();
            for _ in 0..next() % 6 {
                match next() % 3 {
                    0 if !new.is_empty() => {
                        let i = next() % new.len();
                        new[i] ^= 1;
                    }
                    1 => new.insert(next() % (new.len() + 1), 9),
                    _ if !new.is_empty() => {
                        new.remove(next() % new.len());
                    }
                    _ => {}
                }
            }
            if let Some(d) = encode(&old, &new) {
                assert_eq!(apply(&old, &d).unwrap(), new);
            }
        }
    }

    #[test]
    fn damaged_deltas_are_errors() {
        let old: Vec<u8> = (0..50u8).collect();
        let mut new = old.clone();
        new[10] = 99;
        let d = encode(&old, &new).unwrap();
        let err = |old: &[u8], d: &[u8]| apply(old, d).unwrap_err();
        assert!(err(&old, &d[..d.len() - 1]).contains("cut short"));
        assert!(err(&old[..5], &d).contains("do not fit"), "another before-image, too short");
        assert!(err(&old, &[10, 0, 0, 0]).contains("an empty run"));
        assert!(err(&old, &[5, 60]).contains("longer than the image"));
        assert!(err(&old, &[60, 55]).contains("do not fit"), "a tail past the before-image");
        assert!(err(&old, &[52, 0, 51, 1, 7]).contains("past the before-image's end"), "a copied run");
        assert!(err(&old, &[3, 0, 0, 9, 1]).contains("past the delta's end"), "a given run");
        assert!(err(&old, &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).contains("too large"));
        assert!(err(&old, &[2, 0, 2, 0, 1, 0]).contains("do not end"), "runs past the image's end");
        assert!(err(&old, &[]).contains("cut short"));
    }
}
