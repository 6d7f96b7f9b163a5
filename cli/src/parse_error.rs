//! Where a parse error is. pg_query's Rust API keeps only the parser's message; libpg_query's C
//! result also carries the cursor position (`PgQueryError.cursorpos`), which the message an agent
//! reads needs. Asked only after a parse failed, through the same library pg_query links.

use std::ffi::{c_char, c_int, CString};

#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    cursorpos: c_int,
    context: *mut c_char,
}

#[repr(C)]
struct PgQueryParseResult {
    parse_tree: *mut c_char,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

extern "C" {
    fn pg_query_parse(input: *const c_char) -> PgQueryParseResult;
    fn pg_query_free_parse_result(result: PgQueryParseResult);
}

/// The 1-based character position of the parse error in `sql`, if the parser gives one.
pub fn error_position(sql: &str) -> Option<usize> {
    let input = CString::new(sql).ok()?;
    // SAFETY: `input` is a valid NUL-terminated string that outlives the call; the result is read
    // only while it is alive and freed exactly once, with libpg_query's own function.
    let position = unsafe {
        let result = pg_query_parse(input.as_ptr());
        let pos = if result.error.is_null() { 0 } else { (*result.error).cursorpos };
        pg_query_free_parse_result(result);
        pos
    };
    usize::try_from(position).ok().filter(|p| *p > 0)
}

/// Line and column (1-based) of a 1-based character position.
pub fn line_column(sql: &str, position: usize) -> (usize, usize) {
    let before: String = sql.chars().take(position.saturating_sub(1)).collect();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
