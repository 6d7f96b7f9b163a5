#!/usr/bin/env bash
# Type-checks the extension for the majors no server here runs (13, 14, 17) against the bindings pgrx
# ships for every version (pgrx-pg-sys/src/include/pgNN.rs, used as on docs.rs), warnings denied.
# Not a build against those servers' headers: the hosted workflow does that (PGDG packages).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
status=0
for major in ${1:-13 14 17}; do
    log "cargo check --features pg$major (pgrx's shipped bindings)"
    (cd "$ROOT" && RUSTC_BOOTSTRAP=1 DOCS_RS=1 cargo -q -Zprofile-rustflags check \
        --config 'profile.dev.package.pgrx-pg-sys.rustflags=["--cfg","docsrs"]' \
        --config 'profile.dev.package.interdict.rustflags=["-D","warnings"]' \
        --no-default-features --features "pg$major" --target-dir "$ROOT/target/check") || status=1
done
exit $status
