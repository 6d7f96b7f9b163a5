#!/usr/bin/env bash
# A DBA's install path, separate from the demo: builds Interdict for an existing PostgreSQL server
# (any supported major version) and installs it there, then prints the SQL that enables an agent role.
#
#   bash scripts/install.sh --pg-config /usr/lib/postgresql/16/bin/pg_config [--package-only DIR]
#
# Builds a release package first (`cargo pgrx package`, into target/…/interdict-pgNN/ or DIR) and
# only then copies it into the server's directories, so a failed build leaves nothing half-installed.
# With --package-only, stops after the package: its files mirror the server's paths
# (…/lib/postgresql/interdict.so, …/share/postgresql/extension/interdict*), so on a machine without
# Rust a DBA copies them in place (`cp -r DIR/* /`, as root) and links $libdir/plugins/interdict.so.
# Needs Rust (rustup) and clang/libclang (bindgen); installs cargo-pgrx 0.18.0 if missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUPPORTED="13 14 15 16 17 18"
PG_CONFIG="" PACKAGE_ONLY=""
usage() { echo "usage: $0 --pg-config PATH [--package-only DIR]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --pg-config) PG_CONFIG=${2:-}; shift 2 || usage ;;
        --package-only) PACKAGE_ONLY=${2:-}; shift 2 || usage ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) usage ;;
    esac
done
fail() { echo "interdict install: $*" >&2; exit 1; }
[ -n "$PG_CONFIG" ] || usage
[ -x "$PG_CONFIG" ] || fail "$PG_CONFIG is not an executable pg_config: give the server's own (pg_config --bindir shows where it lives)"
version=$("$PG_CONFIG" --version 2>/dev/null) || fail "$PG_CONFIG does not run"
major=$(echo "$version" | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
case " $SUPPORTED " in
    *" $major "*) ;;
    *) fail "$version is not supported: Interdict builds for PostgreSQL $SUPPORTED" ;;
esac
pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)
[ -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ] || fail "no server headers under $("$PG_CONFIG" --includedir-server): install the server's development package (postgresql-server-dev-$major)"
if [ -z "$PACKAGE_ONLY" ]; then
    for dir in "$pkglibdir" "$sharedir/extension"; do
        [ -w "$dir" ] || fail "$dir is not writable by $(id -un): run as root (or with sudo), or build a package with --package-only DIR"
    done
fi
command -v cargo >/dev/null || { [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"; }
command -v cargo >/dev/null || fail "Rust is needed to build: install it with rustup (https://rustup.rs), or copy a package built elsewhere"
if [ "$(cargo pgrx --version 2>/dev/null | awk '{print $2}')" != 0.18.0 ]; then
    echo "interdict install: installing cargo-pgrx 0.18.0 (about 4 minutes)" >&2
    cargo install cargo-pgrx --version 0.18.0 --locked
fi
grep -q "^pg$major = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null \
    || fail "cargo-pgrx does not know this server yet: run 'cargo pgrx init --pg$major $PG_CONFIG' (add --pgNN for every other server it should keep knowing), then run this again"
out=${PACKAGE_ONLY:-$ROOT/target/release/interdict-pg$major}
echo "interdict install: building for $version" >&2
(cd "$ROOT" && cargo pgrx package --no-default-features --features "pg$major" --pg-config "$PG_CONFIG" --out-dir "$out" >/dev/null) \
    || fail "the build failed: nothing was installed"
if [ -n "$PACKAGE_ONLY" ]; then
    echo "interdict install: package in $out (copy its files to / on the server as root, then link $pkglibdir/plugins/interdict.so -> ../interdict.so)"
    exit 0
fi
cp -r "$out"/. /
mkdir -p "$pkglibdir/plugins"
ln -sf "$pkglibdir/interdict.so" "$pkglibdir/plugins/interdict.so"
cat <<SQL
Interdict is installed for $version ($pkglibdir/interdict.so, also linked from plugins/ for LOAD).
In each database that agents use, as a superuser:

  CREATE EXTENSION interdict;
  SELECT interdict.record_schema('public');            -- tables guarded agents may write (need a key)

For each agent role:

  ALTER ROLE agent SET session_preload_libraries = 'interdict';   -- or shared_preload_libraries (restart)
  ALTER ROLE agent SET interdict.mode = 'readonly';               -- or 'guarded'
  SELECT * FROM interdict.check_role('agent');                    -- what else to harden

Superuser agents, and replication connections, need shared_preload_libraries = 'interdict'.
SQL
