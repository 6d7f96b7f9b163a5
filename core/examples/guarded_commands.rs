//! Prints `docs/guarded-commands.md` from guarded mode's command table:
//! `cargo run -q -p interdict-core --example guarded_commands > docs/guarded-commands.md`.

fn main() {
    print!("{}", interdict_core::utility_table::markdown());
}
