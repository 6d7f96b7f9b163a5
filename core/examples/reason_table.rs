//! Prints the reason-code table as the Markdown rows of `docs/reason-codes.md`:
//! `cargo run -q -p interdict-core --example reason_table`.

fn main() {
    println!("| code | SQLSTATE | properties | why | hint |");
    println!("|---|---|---|---|---|");
    for r in interdict_core::reasons::REASONS {
        println!("| `{}` | `{}` | {} | {} | {} |", r.code, r.sqlstate, interdict_core::reasons::properties(r), r.why, r.hint.replace('|', "\\|"));
    }
}
