#!/usr/bin/env bash
# scripts/install.sh's bad input, and Postgres' own refusal of a library built for another major
# version. Fast: no build.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
failed=0
expect() {  # expect WHAT PATTERN COMMAND…: the command fails and says PATTERN
    local what=$1 pattern=$2; shift 2
    local out; if out=$("$@" 2>&1); then echo "FAIL install: $what: succeeded"; failed=1; return; fi
    if ! grep -q -- "$pattern" <<<"$out"; then echo "FAIL install: $what: said '$out'"; failed=1; fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect "a missing pg_config" "is not an executable pg_config" bash "$ROOT/scripts/install.sh" --pg-config "$tmp/nope/pg_config"
printf '#!/bin/sh\necho "PostgreSQL 12.17"\n' >"$tmp/pg_config12"; chmod +x "$tmp/pg_config12"
expect "an unsupported version" "PostgreSQL 12.17 is not supported" bash "$ROOT/scripts/install.sh" --pg-config "$tmp/pg_config12"
expect "no arguments" "usage" bash "$ROOT/scripts/install.sh"
chmod a+rx "$tmp"
expect "a server directory the user cannot write" "is not writable by postgres" as_postgres bash "$ROOT/scripts/install.sh" --pg-config /usr/bin/pg_config
# A library built for 15, loaded into 18: Postgres refuses it (its magic block, or before that the
# dynamic loader, for a symbol 18 does not have), and nothing is loaded.
if [ -x "$(pgbin_of 18)/postgres" ] && [ -f /usr/lib/postgresql/15/lib/interdict.so ]; then
    PG_MAJOR=18 bash -c "
        source '$ROOT/scripts/lib.sh'
        cluster_start wrongmajor \$(port_for 5441)
        libdir=\$(\"\$PG_CONFIG\" --pkglibdir)
        cp /usr/lib/postgresql/15/lib/interdict.so \"\$libdir/interdict_pg15.so\"
        out=\$(as_postgres psql -X -h \$CLUSTERS/wrongmajor/sock -p \$(port_for 5441) -U postgres -d postgres -c \"LOAD 'interdict_pg15'\" 2>&1 || true)
        rm -f \"\$libdir/interdict_pg15.so\"
        cluster_stop wrongmajor
        grep -q -e 'incompatible library' -e 'could not load library' <<<\"\$out\" || { echo \"FAIL install: a 15 library in 18 said: \$out\"; exit 1; }
    " || failed=1
fi
[ "$failed" = 0 ] && echo "install: bad input refused with clear messages; a library of another major refused by Postgres"
exit $failed
