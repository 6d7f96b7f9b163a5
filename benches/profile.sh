#!/usr/bin/env bash
# Where a statement's time goes, as instruction counts (the machine is noisy; counts are not).
# One single-user backend (`postgres --single`) under callgrind per configuration runs a workload of
# N and of 2N identical statements; (Ir(2N) - Ir(N)) / N is one statement's cost with start-up and
# shut-down cancelled out. The same for the library not loaded, loaded in `off`, `readonly` and
# `guarded`, for a point SELECT, a one-row UPDATE (recorded for undo in guarded) and a 1,000-row
# UPDATE (per row), a one-row and a 1,000-row revert (benches/prepared.sh counts pgbench's own
# transactions through the prepared protocol). Then, for guarded, the guard's functions by
# inclusive cost per statement.
# Writes benches/RESULTS.md's "profile" section. A benchmark, not a test: it never fails on a figure.
# Usage: [PG_MAJOR=16] bash benches/profile.sh [N]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
N=${1:-400}
PROFILE=release setup_all
cluster_start profile "${BENCH_PORT:-$(port_for 5454)}"
SOCK=$CLUSTERS/profile/sock
dba() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$(port_for 5454)" -U postgres "$@"; }
as_postgres "$PGBIN/pgbench" -q -i -s 1 -h "$SOCK" -p "$(port_for 5454)" -U postgres postgres >/dev/null 2>&1
dba -d postgres >/dev/null <<'SQL'
CREATE EXTENSION interdict;
ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY;
SELECT interdict.record_schema('public');
SQL
cluster_stop profile
DATA=$CLUSTERS/profile/data
WORK=$CLUSTERS/profile/callgrind
as_postgres mkdir -p "$WORK"

workload() { # kind n: n statements, one per line (single-user mode reads a statement per line)
    local kind=$1 n=$2
    for i in $(seq "$n"); do
        case $kind in
            select) echo "SELECT abalance FROM pgbench_accounts WHERE aid = $(( (i * 7919) % 100000 + 1 ));" ;;
            update) echo "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $(( (i * 7919) % 100000 + 1 ));" ;;
            # pgbench -N's transaction, the same text each time (as a prepared statement's executions
            # carry it: the audit trail keeps a repeated statement's redacted text).
            ntxn) echo "BEGIN;"
                  echo "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 17;"
                  echo "SELECT abalance FROM pgbench_accounts WHERE aid = 17;"
                  echo "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 17, 1, CURRENT_TIMESTAMP);"
                  echo "END;" ;;
            update1000) echo "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN $(( i % 90 * 1000 + 1 )) AND $(( i % 90 * 1000 + 1000 ));" ;;
            revert1) echo "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $(( (i * 7919) % 100000 + 1 ));"
                     echo "SELECT interdict.revert(interdict.last_change_id());" ;;
            revert1000) echo "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN $(( i % 90 * 1000 + 1 )) AND $(( i % 90 * 1000 + 1000 ));"
                        echo "SELECT interdict.revert(interdict.last_change_id());" ;;
        esac
    done
}
ir() { # config kind n -> total instructions of one single-user backend
    local config=$1 kind=$2 n=$3 out=$WORK/$1.$2.$3
    local opts=()
    [ "$config" != none ] && opts+=(-c session_preload_libraries=interdict -c "interdict.mode=$config" -c interdict.max_rows=1000000)
    workload "$kind" "$n" | as_postgres valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$PGBIN/postgres" --single -D "$DATA" "${opts[@]}" postgres >/dev/null 2>"$out.err" ||
        { cat "$out.err" >&2; exit 1; }
    awk '/^summary:/ {print $2}' "$out"
}
declare -A per
configs=(none off readonly guarded)
kinds=(select update ntxn update1000 revert1 revert1000)
for kind in "${kinds[@]}"; do
    for config in "${configs[@]}"; do
        [ "$config" = readonly ] && [ "$kind" != select ] && continue
        [ "${kind#revert}" != "$kind" ] && [ "$config" != guarded ] && continue # a revert: its UPDATE's, then the revert
        n=$N; [ "${kind%1000}" != "$kind" ] && n=$(( N / 20 )); [ "$kind" = revert1 ] && n=$(( N / 10 ))
        a=$(ir "$config" "$kind" "$n"); b=$(ir "$config" "$kind" $(( 2 * n )))
        per[$config.$kind]=$(( (b - a) / n ))
        log "$kind $config: $(( (b - a) / n )) instructions per statement"
    done
done
# The guard's own functions, per statement: (cost in the 2N run - cost in the N run) / N.
breakdown() { # config kind n
    /usr/bin/python3 "$ROOT/benches/callgrind_costs.py" "$WORK/$1.$2.$3" "$WORK/$1.$2.$(( 2 * $3 ))" "$3"
}
row() { # label kind
    local base=${per[none.$2]}
    printf '| %s |' "$1"
    for config in "${configs[@]}"; do
        local v=${per[$config.$2]:-}
        if [ -z "$v" ]; then printf ' – |'; else printf ' %s (%+d, %.3f) |' "$v" "$(( v - base ))" "$(awk -v a="$v" -v b="$base" 'BEGIN {print a / b}')"; fi
    done
    echo
}
results_section "profile-$PG_MAJOR" <<MD
## Profile: instructions per statement, PostgreSQL $PG_MAJOR

Command: \`PG_MAJOR=$PG_MAJOR bash benches/profile.sh $N\` — one single-user backend under callgrind per
configuration (release build, pgbench scale 1, every table recorded for undo), runs N and 2N
statements; a statement's cost is (Ir(2N) − Ir(N)) / N, so start-up cancels out. Instruction counts
do not depend on the machine's load. The statements are parsed and planned each time (no prepared
protocol in single-user mode), which the baseline pays too. $(date -u +%Y-%m-%d).

| statement | not loaded | \`off\` (added, ratio) | \`readonly\` | \`guarded\` |
|---|---|---|---|---|
$(row "point SELECT (N=$N)" select)
$(row "one-row UPDATE (N=$N)" update)
$(row "pgbench -N transaction, 2 of its statements recorded (N=$N)" ntxn)
$(row "1,000-row UPDATE (N=$(( N / 20 )))" update1000)

Reverting a one-row UPDATE (each statement a one-row UPDATE then its revert, less the UPDATE alone, N=$(( N / 10 ))): $(( per[guarded.revert1] - per[guarded.update] )) instructions,
$(awk -v r="$(( per[guarded.revert1] - per[guarded.update] ))" -v u="${per[guarded.update]}" 'BEGIN {printf "%.1f", r / u}')× the recorded UPDATE: a revert's fixed cost.

Reverting a 1,000-row UPDATE (guarded; each statement an UPDATE then \`interdict.revert()\` of its
change, less the UPDATE alone): $(( per[guarded.revert1000] - per[guarded.update1000] )) instructions,
$(awk -v r="$(( per[guarded.revert1000] - per[guarded.update1000] ))" -v u="${per[guarded.update1000]}" 'BEGIN {printf "%.2f", r / u}')× the recorded UPDATE
and $(awk -v r="$(( per[guarded.revert1000] - per[guarded.update1000] ))" -v u="${per[none.update1000]}" 'BEGIN {printf "%.2f", r / u}')× the UPDATE not loaded.

Where it goes, per statement (\`benches/callgrind_costs.py\`: cost in the 2N run minus the N run,
over N). "Self" is the function's own instructions; "inclusive" adds everything it calls,
Postgres' work beneath a hook included (so a hook's inclusive cost is mostly Postgres' own).

Point SELECT, \`readonly\`:

| function | self | inclusive |
|---|---|---|
$(breakdown readonly select "$N")

Point SELECT, \`guarded\`:

| function | self | inclusive |
|---|---|---|
$(breakdown guarded select "$N")

One-row UPDATE, \`guarded\`:

| function | self | inclusive |
|---|---|---|
$(breakdown guarded update "$N")

pgbench -N transaction (BEGIN, UPDATE, SELECT, INSERT, END), \`guarded\`:

| function | self | inclusive |
|---|---|---|
$(breakdown guarded ntxn "$N")

1,000-row UPDATE, \`guarded\`:

| function | self | inclusive |
|---|---|---|
$(breakdown guarded update1000 $(( N / 20 )))
MD
log "benches/RESULTS.md: profile-$PG_MAJOR written"
