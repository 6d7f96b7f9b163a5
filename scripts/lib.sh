# Shared set-up for scripts/demo.sh, scripts/test.sh and benches/. Sourced, not run.
# Everything here is idempotent: run it again and it only does what is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=/usr/bin/pg_config
PGRX_VERSION=0.18.0
SCRATCH=${INTERDICT_SCRATCH:-/tmp/interdict}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# apt packages: the server, its headers, contrib (dblink, adminpack for the corpus), clang for
# bindgen, psycopg2 for the test runners, sudo to run the cluster as postgres.
install_packages() {
    local pkgs="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib-$PG_MAJOR libclang-dev clang pkg-config sudo python3 python3-psycopg2 build-essential"
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
    if ! grep -q "pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null; then
        log "cargo pgrx init --pg$PG_MAJOR"
        cargo pgrx init "--pg$PG_MAJOR" "$PG_CONFIG"
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
    install_pgrx
    install_extension
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -u postgres "$@"); fi
}

# cluster_start NAME PORT [extra postgresql.conf lines…]: a fresh scratch cluster in $SCRATCH/NAME,
# listening on a unix socket in $SCRATCH/NAME/sock and on 127.0.0.1:PORT.
cluster_start() {
    local name=$1 port=$2; shift 2
    local dir=$SCRATCH/$name
    cluster_stop "$name"
    $SUDO mkdir -p "$SCRATCH"
    $SUDO chown postgres "$SCRATCH"
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
    local dir=$SCRATCH/$1
    [ -f "$dir/data/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

cluster_restart() {
    local dir=$SCRATCH/$1
    as_postgres env -u RUST_BACKTRACE "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w restart >/dev/null
}

# pgbench_cluster NAME PORT: a scratch cluster with database "bench" at pgbench scale 10, the extension
# created and every table recorded for undo (pgbench_history given a key so that it can be). Sets
# SOCK and defines dba (psql as the bootstrap superuser).
pgbench_cluster() {
    local name=$1; PORT=$2
    cluster_start "$name" "$PORT" "shared_buffers = '256MB'"
    SOCK=$SCRATCH/$name/sock
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
