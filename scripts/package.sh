#!/usr/bin/env bash
# Release packages for every PostgreSQL version tested here (15, 16, 18), without Rust needed where
# they are installed: `cargo pgrx package` through scripts/install.sh --package-only, one tree per
# version under target/packages/pgNN, each mirroring the server's own paths
# (…/lib/postgresql/interdict.so, …/share/postgresql/extension/interdict*). To install one on a
# server of that major version, as root: `cp -r target/packages/pgNN/* /`, then
# `ln -sf ../interdict.so "$(pg_config --pkglibdir)/plugins/interdict.so"` (see README, DBA install).
# Usage: bash scripts/package.sh [major…]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
install_packages
majors=${*:-$TESTED_MAJORS}
for major in $majors; do fetch_server "$major"; done
install_pgrx
for major in $majors; do
    out=$ROOT/target/packages/pg$major
    rm -rf "$out"
    bash "$ROOT/scripts/install.sh" --pg-config "$(pg_config_of "$major")" --package-only "$out"
    log "PostgreSQL $major: $(find "$out" -type f | sed "s|^$out||" | tr '\n' ' ')"
done
