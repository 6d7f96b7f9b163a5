#!/usr/bin/env bash
# Instructions per pgbench transaction through the extended protocol with prepared statements
# (`-M prepared`, as benches/pgbench.sh runs them), the library not loaded and loaded per role in
# mode off, readonly and guarded. benches/profile.sh counts statements in single-user mode, which
# parses and plans every statement; a prepared statement does not, so there the baseline is larger
# and the guard's share smaller. Here the postmaster runs under callgrind with every process it
# starts; pgbench runs T and then 2T transactions on one connection, and the backend that served
# them (the last file written) gives (Ir(2T) - Ir(T)) / T per transaction. Each pair runs twice and
# both figures are kept, their mean compared (the machine's load does not change them).
# Writes benches/RESULTS.md's "prepared" section. A benchmark, not a test: it never fails on a figure.
# Usage: [PG_MAJOR=16] bash benches/prepared.sh [T]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
T=${1:-500}
PROFILE=release setup_all
pgbench_cluster prepared "${BENCH_PORT:-$(port_for 5456)}" "max_connections = 20"
bench_roles
cluster_stop prepared
DATA=$CLUSTERS/prepared/data
OUT=$CLUSTERS/prepared/callgrind
as_postgres rm -rf "$OUT"
as_postgres mkdir -p "$OUT"
as_postgres valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$OUT/cg.%p" \
    "$PGBIN/postgres" -D "$DATA" >"$OUT/postmaster.log" 2>&1 &
for _ in $(seq 120); do as_postgres "$PGBIN/pg_isready" -q -h "$SOCK" -p "$PORT" && break; sleep 1; done
ir() { # role script t -> instructions of the backend that ran t transactions
    local script=$2; [ "$script" = TPCB ] && script=""
    as_postgres "$PGBIN/pgbench" -n $script -M prepared -c 1 -t "$3" -h "$SOCK" -p "$PORT" -U "$1" bench >/dev/null 2>&1
    sleep 3 # the backend writes its file as it exits
    awk '/^totals:/ {print $2; exit}' "$OUT/$(ls -t "$OUT" | grep '^cg\.' | head -1)"
}
declare -A per
# Every page of the accounts table and its index into shared buffers first (an index scan: a
# sequential one reads through a small ring), so that no transaction counted reads a page from
# disk (the first to touch a page pays for its read; on 18 an I/O worker may read it instead).
as_postgres "$PGBIN/psql" -X -q -h "$SOCK" -p "$PORT" -U b_none -d bench -c "SET enable_seqscan = off; SET enable_bitmapscan = off" \
    -c "SELECT pg_catalog.sum(abalance) FROM pgbench_accounts WHERE aid > 0" >/dev/null
configs=("-S b_none" "-S b_off" "-S b_readonly" "-S b_guarded" "-N b_none" "-N b_guarded" "TPCB b_off" "TPCB b_guarded")
for pass in 1 2; do
    for config in "${configs[@]}"; do
        set -- $config
        a=$(ir "$2" "$1" "$T"); b=$(ir "$2" "$1" $(( 2 * T )))
        per[$config]="${per[$config]:-} $(( (b - a) / T ))"
        log "pass $pass: $config: $(( (b - a) / T )) instructions per transaction"
    done
done
as_postgres "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
mean() { echo "${per[$1]}" | awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%d", s / NF}'; }
row() { # label config baseline
    local v b; v=$(mean "$2"); b=$(mean "$3")
    echo "| $1 | ${per[$2]# } | $(( v - b )) | $(awk -v a="$v" -v b="$b" 'BEGIN {printf "%.3f", a / b}') |"
}
results_section "prepared-$PG_MAJOR" <<MD
## Instructions per pgbench transaction, prepared protocol, PostgreSQL $PG_MAJOR

Command: \`PG_MAJOR=$PG_MAJOR bash benches/prepared.sh $T\` — the postmaster under callgrind (release build,
scale 10, every table recorded for undo), one client, \`-M prepared\`; a transaction's cost is
(Ir(2T) − Ir(T)) / T of the backend that ran them, T = $T, each measured in two passes (both
shown; added and ratio from their mean: a pass can differ from the other by a few thousand
instructions a transaction, the same for every configuration of it). $(date -u +%Y-%m-%d).

| transaction | instructions (two passes) | added | ratio |
|---|---|---|---|
$(row "\`-S\` not loaded" "-S b_none" "-S b_none")
$(row "\`-S\` mode \`off\`" "-S b_off" "-S b_none")
$(row "\`-S\` mode \`readonly\`" "-S b_readonly" "-S b_none")
$(row "\`-S\` mode \`guarded\`" "-S b_guarded" "-S b_none")
$(row "\`-N\` not loaded" "-N b_none" "-N b_none")
$(row "\`-N\` mode \`guarded\` (2 statements recorded)" "-N b_guarded" "-N b_none")
$(row "TPC-B mode \`off\`" "TPCB b_off" "TPCB b_off")
$(row "TPC-B mode \`guarded\` (4 statements recorded)" "TPCB b_guarded" "TPCB b_off")
MD
log "benches/RESULTS.md: prepared-$PG_MAJOR written"
