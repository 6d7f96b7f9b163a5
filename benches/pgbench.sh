#!/usr/bin/env bash
# pgbench with Interdict not loaded and loaded per role (session_preload_libraries) in mode off,
# readonly and guarded, interleaved in rounds within one run, with 1 client and with as many clients
# as cores (CPU cost hides behind latency at 1 client). Writes the median TPS ratios and their spread
# to benches/RESULTS.md, one section per PostgreSQL major.
#   -S (select-only):   not loaded, off, readonly, guarded
#   -N (simple update): not loaded, guarded (every write recorded for undo)
#   TPC-B (default):    off, guarded
# A benchmark, not a test: it never fails on a figure.
# Usage: [PG_MAJOR=16] bash benches/pgbench.sh [seconds per run] [rounds]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-5}
CORES=$(nproc)
PROFILE=release setup_all
pgbench_cluster bench "${BENCH_PORT:-$(port_for 5450)}" "max_connections = 50"
bench_roles
tps() { # clients script role ("TPCB" for the default script)
    local script=$2; [ "$script" = TPCB ] && script=""
    as_postgres "$PGBIN/pgbench" -n $script -M prepared -c "$1" -j "$1" -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$PORT" -U "$3" bench 2>/dev/null |
        awk '/^tps/ {print $3; exit}'
}
declare -A runs
configs=()
for c in 1 "$CORES"; do
    configs+=("$c -S b_none" "$c -S b_off" "$c -S b_readonly" "$c -S b_guarded" "$c -N b_none" "$c -N b_guarded" "$c TPCB b_off" "$c TPCB b_guarded")
done
for round in $(seq "$ROUNDS"); do
    # Rotate the order each round, so no configuration always runs right after another.
    for i in "${!configs[@]}"; do
        config=${configs[$(( (i + round) % ${#configs[@]} ))]}
        t=$(tps $config); runs[$config]="${runs[$config]:-} $t"
        log "round $round: $config: $t tps"
    done
done
cluster_stop bench
# Per configuration: the median TPS; per ratio: the median over rounds of the round's own ratio,
# and its spread (lowest–highest round), since rounds run back to back on a shared machine.
m() { echo "${runs[$1]}" | median; }
row() { echo "| $1 | $(m "$2") | $(round_ratio "$2" "$3") | $4 |"; }
table() {
    local c=$1
    cat <<MD
| $c client(s) | median TPS | ratio (spread) | aim |
|---|---|---|---|
| \`-S\` not loaded | $(m "$c -S b_none") | 1 | |
$(row "\`-S\` mode \`off\`" "$c -S b_off" "$c -S b_none" "≥ 0.99")
$(row "\`-S\` mode \`readonly\`" "$c -S b_readonly" "$c -S b_none" "≥ 0.97")
$(row "\`-S\` mode \`guarded\`" "$c -S b_guarded" "$c -S b_none" "≥ 0.97")
| \`-N\` not loaded | $(m "$c -N b_none") | 1 | |
$(row "\`-N\` mode \`guarded\` (recorded)" "$c -N b_guarded" "$c -N b_none" "≥ 0.80")
| TPC-B mode \`off\` | $(m "$c TPCB b_off") | 1 | |
$(row "TPC-B mode \`guarded\` (recorded)" "$c TPCB b_guarded" "$c TPCB b_off" "≥ 0.80 of off")
MD
}
raw() { for k in "${configs[@]}"; do printf '%s:%s; ' "$k" "${runs[$k]}"; done; }
results_section "pgbench-$PG_MAJOR" <<MD
## pgbench, PostgreSQL $PG_MAJOR: not loaded vs modes \`off\`, \`readonly\`, \`guarded\`

Command: \`PG_MAJOR=$PG_MAJOR bash benches/pgbench.sh $SECONDS_PER_RUN $ROUNDS\` — scale 10, \`-M prepared -T $SECONDS_PER_RUN\`
over TCP, $ROUNDS interleaved rounds of every configuration (order rotated each round), the library
per role through \`session_preload_libraries\`, release build, $CORES cores, $(date -u +%Y-%m-%d).
A ratio is the median over rounds of that round's ratio, with the lowest and highest round in
brackets. In guarded mode every write is recorded for undo (\`pgbench_history\` given a key so that
it can be) and every statement's rows are counted against \`interdict.max_rows\`.

$(table 1)

$(table "$CORES")

Raw TPS per round: $(raw)
MD
