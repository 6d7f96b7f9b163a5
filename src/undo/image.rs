//! Row images (their form: `interdict_core::image`). The recording trigger takes each row as a
//! composite datum's bytes; a revert checks them against the table's columns, takes their keys,
//! and hands them to its own statements through `interdict.revert_image(list, n, NULL::table)`.
//!
//! Why bytes and not the text form (measured, benches/RESULTS.md "Profile"): `record_out` of the two
//! images of an updated row cost about 8,200 instructions, about a third of the row's own update;
//! the bytes cost a copy. They read back exactly (no output settings to pin, no input function,
//! in any server encoding) and read faster: a revert parsed every image with `record_in`.
//!
//! A revert's statements get images by position, never as bytes from their caller:
//! `revert_image` serves only the images the running revert loaded, checked, for its table's row
//! type, and refuses outside one. Nothing a session passes in is ever read as a tuple.

use crate::cell::BackendCell;
use interdict_core::image::{fields, read_shape, record_text, varlena_data, Column};
use pgrx::pg_sys;
use std::ops::Range;

// The header `interdict_core::image` walks is this Postgres' own.
const _: () = {
    assert!(std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_infomask2) == 18);
    assert!(std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_infomask) == 20);
    assert!(std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_hoff) == 22);
    assert!(std::mem::offset_of!(pg_sys::HeapTupleHeaderData, t_bits) == 23);
    assert!(pg_sys::MAXIMUM_ALIGNOF == 8);
};

/// A heap tuple of a table with descriptor `desc`, as image bytes (values stored out of line are
/// fetched into it: the image outlives the row's toast), in the current memory context until
/// dropped: the recording trigger copies it straight into its batch of row events.
///
/// # Safety
/// `tuple` is null or a valid heap tuple of `desc`.
pub unsafe fn take(tuple: pg_sys::HeapTuple, desc: pg_sys::TupleDesc) -> Option<Taken> {
    if tuple.is_null() {
        return None;
    }
    // A row stored before an `ADD COLUMN … DEFAULT` holds fewer columns than the table has: Postgres
    // reads the rest from the column's `attmissingval`, which a table rewrite (VACUUM FULL, CLUSTER)
    // clears. The image holds every column, so that it reads back the same after one.
    let stored = i32::from((*(*tuple).t_data).t_infomask2 & pg_sys::HEAP_NATTS_MASK as u16);
    let full = if stored < (*desc).natts { pg_sys::heap_expand_tuple(tuple, desc) } else { tuple };
    let datum = pg_sys::heap_copy_tuple_as_datum(full, desc).cast_mut_ptr::<u8>();
    if full != tuple {
        pg_sys::heap_freetuple(full);
    }
    let len = pgrx::varlena::varsize_4b(datum as *const pg_sys::varlena);
    Some(Taken { datum, len })
}

/// A row image [`take`] made: a composite datum `palloc`ed in the memory context current then.
pub struct Taken {
    datum: *mut u8,
    len: usize,
}

impl Taken {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `datum` is a live allocation of `len` bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.datum, self.len) }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        // SAFETY: allocated by heap_copy_tuple_as_datum and freed once; its context is the trigger
        // call's, which outlives this value.
        unsafe { pg_sys::pfree(self.datum.cast()) }
    }
}

/// How a table's columns are stored, dropped ones included, for [`check`].
///
/// # Safety
/// `desc` is a valid tuple descriptor.
pub unsafe fn columns(desc: pg_sys::TupleDesc) -> Vec<Column> {
    crate::nodes::tuple_desc_attrs(desc)
        .iter()
        .map(|a| Column { len: a.attlen, align: align_bytes(a.attalign as u8) })
        .collect()
}

/// Where an image's values lie, if it is a well-formed row of a table with `columns`.
pub fn check(image: &[u8], columns: &[Column]) -> Result<Vec<Option<Range<usize>>>, String> {
    fields(image, columns)
}

/// The key of a checked image: the values at `attnums` (1-based) as bytes, each with its length,
/// compressed values decompressed, so that equal values give equal keys.
///
/// # Safety
/// `at` is [`check`]'s result for `image`.
pub unsafe fn key(image: &[u8], at: &[Option<Range<usize>>], columns: &[Column], attnums: &[i16]) -> Vec<u8> {
    let mut key = Vec::new();
    for &n in attnums {
        let i = (n as usize).wrapping_sub(1);
        let Some(range) = at.get(i).cloned().flatten() else {
            key.push(0);
            continue;
        };
        let value = &image[range];
        let mut push = |data: &[u8]| {
            key.push(1);
            key.extend_from_slice(&(data.len() as u32).to_ne_bytes());
            key.extend_from_slice(data);
        };
        match (columns[i].len, varlena_data(value)) {
            (-1, Some(data)) => push(data),
            (-1, None) => {
                // Compressed: decompressed by Postgres from an aligned copy.
                let copy = pg_sys::palloc(value.len()) as *mut u8;
                std::ptr::copy_nonoverlapping(value.as_ptr(), copy, value.len());
                let plain = pg_sys::pg_detoast_datum_packed(copy as *mut pg_sys::varlena);
                push(std::slice::from_raw_parts(pgrx::varlena::vardata_any(plain) as *const u8, pgrx::varlena::varsize_any_exhdr(plain)));
                if plain as *mut u8 != copy {
                    pg_sys::pfree(plain.cast());
                }
                pg_sys::pfree(copy.cast());
            }
            _ => push(value),
        }
    }
    key
}

/// A checked image as a datum of row type `rowtype`, in the current memory context: made by
/// `heap_copy_tuple_as_datum` with the row type's descriptor now, as Postgres makes every composite
/// datum (a stored one's header fields are not reused: some servers check them against the
/// descriptor in this backend).
///
/// # Safety
/// `image` passed [`check`] for `rowtype`'s columns.
unsafe fn datum(image: &[u8], rowtype: pg_sys::Oid) -> pg_sys::Datum {
    let copy = pg_sys::palloc(image.len()) as *mut u8;
    std::ptr::copy_nonoverlapping(image.as_ptr(), copy, image.len());
    let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
    tuple.t_len = image.len() as u32;
    tuple.t_data = copy as *mut pg_sys::HeapTupleHeaderData;
    let desc = pg_sys::lookup_rowtype_tupdesc(rowtype, -1);
    let datum = pg_sys::heap_copy_tuple_as_datum(&mut tuple, desc);
    pg_sys::DecrTupleDescRefCount(desc);
    pg_sys::pfree(copy.cast());
    datum
}

/// An image's text form as the table was when the change was recorded (`shape`, from the change's
/// record), whatever the table is now: the recorded columns are laid out and written by their
/// recorded types, a column dropped before the change by the layout Postgres keeps for it.
/// `None` if that layout cannot be known (a type or the table gone) or the image does not fit it.
/// For operators reading a change (`interdict.change_images`), the images of a table changed
/// since included, and for the rows a revert's conflict names. Written under output settings that
/// read back exactly.
///
/// # Safety
/// Inside a transaction.
pub unsafe fn text_as_recorded(image: &[u8], relid: pg_sys::Oid, shape: &str) -> Option<String> {
    let recorded = read_shape(shape)?;
    let now: Vec<(Column, bool)> = {
        let rel = pg_sys::RelationIdGetRelation(relid);
        if rel.is_null() {
            Vec::new()
        } else {
            let desc = (*rel).rd_att;
            let dropped: Vec<bool> = crate::nodes::tuple_desc_attrs(desc).iter().map(|a| a.attisdropped).collect();
            let layout = columns(desc).into_iter().zip(dropped).collect();
            pg_sys::RelationClose(rel);
            layout
        }
    };
    let last_recorded = recorded.iter().map(|c| c.attnum.max(0) as usize).max().unwrap_or(0);
    let count = last_recorded.max(now.len());
    let mut layout = Vec::with_capacity(count);
    let mut types: Vec<Option<(pg_sys::Oid, bool)>> = vec![None; count];
    for k in 1..=count {
        if let Some(c) = recorded.iter().find(|c| c.attnum as usize == k) {
            let typid = pg_sys::Oid::from(c.typid);
            if !pg_sys::SearchSysCacheExists(pg_sys::SysCacheIdentifier::TYPEOID as i32, pg_sys::Datum::from(typid), 0.into(), 0.into(), 0.into()) {
                return None;
            }
            let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
            pg_sys::get_typlenbyvalalign(typid, &mut len, &mut byval, &mut align);
            layout.push(Column { len, align: align_bytes(align as u8) });
            types[k - 1] = Some((typid, byval));
        } else {
            match now.get(k - 1) {
                Some((column, true)) => layout.push(*column),
                // A column added since: no image of the change holds it, nor any after it.
                Some((_, false)) if k > last_recorded => break,
                _ => return None,
            }
        }
    }
    let at = check(image, &layout).ok()?;
    let copy = pg_sys::palloc(image.len().max(1)) as *mut u8;
    std::ptr::copy_nonoverlapping(image.as_ptr(), copy, image.len());
    let _stable = StableOutput::enter();
    let mut texts = Vec::with_capacity(recorded.len());
    for c in &recorded {
        let k = (c.attnum.max(0) as usize).wrapping_sub(1);
        let (Some(range), Some((typid, byval))) = (at.get(k).cloned().flatten(), types.get(k).copied().flatten()) else {
            texts.push(None);
            continue;
        };
        let value = copy.add(range.start);
        let bytes = &image[range];
        let datum = if byval {
            match bytes.len() {
                1 => pg_sys::Datum::from(bytes[0] as i8),
                2 => pg_sys::Datum::from(i16::from_ne_bytes(bytes.try_into().ok()?)),
                4 => pg_sys::Datum::from(i32::from_ne_bytes(bytes.try_into().ok()?)),
                8 => pg_sys::Datum::from(i64::from_ne_bytes(bytes.try_into().ok()?)),
                _ => return None,
            }
        } else {
            pg_sys::Datum::from(value)
        };
        let (mut output, mut is_varlena) = (pg_sys::InvalidOid, false);
        pg_sys::getTypeOutputInfo(typid, &mut output, &mut is_varlena);
        let text = pg_sys::OidOutputFunctionCall(output, datum);
        texts.push(Some(String::from_utf8_lossy(std::ffi::CStr::from_ptr(text).to_bytes()).into_owned()));
    }
    pg_sys::pfree(copy.cast());
    Some(record_text(&texts))
}

/// `attalign` as bytes.
fn align_bytes(attalign: u8) -> u8 {
    match attalign {
        pg_sys::TYPALIGN_SHORT => pg_sys::ALIGNOF_SHORT as u8,
        pg_sys::TYPALIGN_INT => pg_sys::ALIGNOF_INT as u8,
        pg_sys::TYPALIGN_DOUBLE => pg_sys::ALIGNOF_DOUBLE as u8,
        _ => 1,
    }
}

/// Output settings under which every built-in type's text form reads back to the same value:
/// shortest-exact floats, ISO dates, Postgres-style intervals. Set directly for the duration of one
/// conversion (no GUC machinery) and restored on the way out, errors included.
struct StableOutput {
    float_digits: i32,
    date_style: i32,
    interval_style: i32,
}

impl StableOutput {
    fn enter() -> StableOutput {
        // SAFETY: plain globals of this backend.
        unsafe {
            let saved = StableOutput {
                float_digits: pg_sys::extra_float_digits,
                date_style: pg_sys::DateStyle,
                interval_style: pg_sys::IntervalStyle,
            };
            pg_sys::extra_float_digits = 3;
            pg_sys::DateStyle = pg_sys::USE_ISO_DATES as i32;
            pg_sys::IntervalStyle = pg_sys::INTSTYLE_POSTGRES as i32;
            saved
        }
    }
}

impl Drop for StableOutput {
    fn drop(&mut self) {
        // SAFETY: restores what `enter` saved.
        unsafe {
            pg_sys::extra_float_digits = self.float_digits;
            pg_sys::DateStyle = self.date_style;
            pg_sys::IntervalStyle = self.interval_style;
        }
    }
}

/// The images a revert's running statement may read: checked images of one table, in lists.
#[derive(Clone, Copy)]
struct Served {
    rowtype: pg_sys::Oid,
    lists: [(*const Vec<u8>, usize); 2],
}

static SERVED: BackendCell<Option<Served>> = BackendCell::new(None);

/// Runs `f` (a revert's statement) with `lists` (checked images of the table with row type
/// `rowtype`) served to `interdict.revert_image`; what was served before is served again after,
/// errors included.
pub fn serve<R>(rowtype: pg_sys::Oid, first: &[Vec<u8>], second: &[Vec<u8>], f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Served>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERVED.set(self.0);
        }
    }
    let _restore = Restore(SERVED.get());
    SERVED.set(Some(Served { rowtype, lists: [(first.as_ptr(), first.len()), (second.as_ptr(), second.len())] }));
    f()
}

/// `interdict.revert_image(list, n, NULL::table)`: the `n`th (1-based) image of list `list` (0 or
/// 1) the running revert serves, as a row of `table`.
///
/// # Safety
/// Called by fmgr with three arguments.
pub unsafe fn revert_image(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let refuse = |why: &str| -> ! { crate::reasons::internal_failure("interdict.revert_image", why) };
    let args = (*fcinfo).args.as_slice((*fcinfo).nargs as usize);
    let Some(served) = SERVED.get() else {
        let what = "interdict.revert_image() outside a revert (it serves interdict.revert()'s own statements only)";
        crate::reasons::raise(&interdict_core::Refusal::new(interdict_core::ReasonCode::UndoNotAllowed, crate::settings::mode(), what))
    };
    if args.len() != 3 || args[0].isnull || args[1].isnull {
        refuse("takes a list, a position and a row type");
    }
    if pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, 2) != served.rowtype {
        refuse("the row type is not the reverted table's");
    }
    let (list, n) = (args[0].value.value() as i32, args[1].value.value() as i64);
    let Some(&(images, len)) = usize::try_from(list).ok().and_then(|l| served.lists.get(l)) else { refuse("no such list") };
    let Some(i) = usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).filter(|&i| i < len) else { refuse("no such image") };
    // SAFETY: `serve` keeps the lists alive while they are served.
    let image = &*images.add(i);
    datum(image, served.rowtype)
}
