#!/usr/bin/env bash
# pgbench -S (select-only, prepared) with Interdict not loaded, loaded in mode off, readonly and
# guarded, and pgbench -N (simple update) not loaded vs guarded, interleaved in rounds within one
# run; writes the median TPS ratios to benches/RESULTS.md.
# A benchmark, not a test: it never fails on a figure.  Usage: bash benches/pgbench.sh [seconds] [rounds]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-11}
PROFILE=release setup_all
pgbench_cluster bench "${BENCH_PORT:-$(port_for 5450)}"
dba -d bench >/dev/null <<'SQL'
CREATE ROLE b_none LOGIN; CREATE ROLE b_off LOGIN; CREATE ROLE b_readonly LOGIN; CREATE ROLE b_guarded LOGIN;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO b_none, b_off, b_readonly, b_guarded;
ALTER ROLE b_off SET session_preload_libraries = 'interdict';
ALTER ROLE b_readonly SET session_preload_libraries = 'interdict';
ALTER ROLE b_readonly SET interdict.mode = 'readonly';
ALTER ROLE b_guarded SET session_preload_libraries = 'interdict';
ALTER ROLE b_guarded SET interdict.mode = 'guarded';
SQL
tps() { # script role
    as_postgres "$PGBIN/pgbench" -n "$1" -M prepared -c 1 -j 1 -T "$SECONDS_PER_RUN" -h "$SOCK" -p "$PORT" -U "$2" bench 2>/dev/null |
        awk '/^tps/ {print $3; exit}'
}
declare -A runs
configs=("-S b_none" "-S b_off" "-S b_readonly" "-S b_guarded" "-N b_none" "-N b_guarded")
for round in $(seq "$ROUNDS"); do
    # Rotate the order each round, so no configuration always runs right after another.
    for i in "${!configs[@]}"; do
        config=${configs[$(( (i + round) % ${#configs[@]} ))]}
        t=$(tps $config); runs[$config]="${runs[$config]:-} $t"
        log "round $round $config: $t tps"
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m() { echo "${runs[$1]}" | median; }
none=$(m "-S b_none"); off=$(m "-S b_off"); ro=$(m "-S b_readonly"); guarded=$(m "-S b_guarded")
n_none=$(m "-N b_none"); n_guarded=$(m "-N b_guarded")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
cluster_stop bench
results_section pgbench <<MD
## pgbench -S: extension not loaded vs loaded in \`off\` vs \`readonly\`

Command: \`bash benches/pgbench.sh $SECONDS_PER_RUN $ROUNDS\` — scale 10, \`-S -M prepared -c 1 -j 1 -T $SECONDS_PER_RUN\`,
$ROUNDS interleaved rounds (order rotated each round), median TPS per configuration, release build, PostgreSQL $PG_MAJOR, $(nproc) cores, $(date -u +%Y-%m-%d).

| configuration | median TPS | ratio to not loaded | aim |
|---|---|---|---|
| not loaded | $none | 1.000 | |
| loaded, mode \`off\` | $off | $(ratio "$off" "$none") | ≥ 0.99 |
| loaded, mode \`readonly\` | $ro | $(ratio "$ro" "$none") | ≥ 0.98 |
| loaded, mode \`guarded\` | $guarded | $(ratio "$guarded" "$none") | ≥ 0.98 |

## pgbench -N (simple update): not loaded vs \`guarded\` (undo recording)

Same run, same rounds: \`-N -M prepared -c 1 -j 1 -T $SECONDS_PER_RUN\`. Every statement's rows are counted
against \`interdict.max_rows\` (default 1000), every UPDATE's scope is checked on its plan, and every
write is recorded for undo (\`pgbench_history\` given a key so that it can be).

| configuration | median TPS | ratio to not loaded |
|---|---|---|
| not loaded | $n_none | 1.000 |
| loaded, mode \`guarded\` | $n_guarded | $(ratio "$n_guarded" "$n_none") |

In \`readonly\` and \`guarded\` every statement is also counted for \`interdict.stats()\` (one atomic add;
the library is loaded per session here, so the counters are the backend's own) and the timeout
ceilings are in force; no refusal happens, so no audit line is written.

The machine is shared: compare the raw rounds' spread before trusting a ratio.

Raw TPS per round: -S not loaded:${runs["-S b_none"]}; off:${runs["-S b_off"]}; readonly:${runs["-S b_readonly"]}; guarded:${runs["-S b_guarded"]}; -N not loaded:${runs["-N b_none"]}; guarded:${runs["-N b_guarded"]}.
MD
