#!/usr/bin/env bash
# Where guarded mode's write throughput goes, beyond instructions: pgbench -N with as many clients
# as cores, not loaded vs guarded, each also with synchronous_commit = off (is it the commit's
# flush?) and guarded with client_min_messages = warning (the NOTICE each change sends the client,
# which pgbench receives on the same cores). Interleaved rounds; medians and each round's ratio.
# A benchmark, not a test: it never fails on a figure.
# Usage: [PG_MAJOR=16] bash benches/guarded_writes.sh [seconds per run] [rounds]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-3}
CORES=$(nproc)
PROFILE=release setup_all
pgbench_cluster gwrites "${BENCH_PORT:-$(port_for 5461)}" "max_connections = 50"
dba -d bench >/dev/null <<'SQL'
CREATE ROLE w_none LOGIN; CREATE ROLE w_none_async LOGIN; CREATE ROLE w_guarded LOGIN;
CREATE ROLE w_guarded_async LOGIN; CREATE ROLE w_guarded_quiet LOGIN;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO w_none, w_none_async, w_guarded, w_guarded_async, w_guarded_quiet;
ALTER ROLE w_none_async SET synchronous_commit = off;
ALTER ROLE w_guarded SET session_preload_libraries = 'interdict';
ALTER ROLE w_guarded SET interdict.mode = 'guarded';
ALTER ROLE w_guarded_async SET session_preload_libraries = 'interdict';
ALTER ROLE w_guarded_async SET interdict.mode = 'guarded';
ALTER ROLE w_guarded_async SET synchronous_commit = off;
ALTER ROLE w_guarded_quiet SET session_preload_libraries = 'interdict';
ALTER ROLE w_guarded_quiet SET interdict.mode = 'guarded';
ALTER ROLE w_guarded_quiet SET client_min_messages = warning;
SQL
roles=(w_none w_guarded w_guarded_quiet w_none_async w_guarded_async)
declare -A runs
for round in $(seq "$ROUNDS"); do
    for i in "${!roles[@]}"; do
        r=${roles[$(( (i + round) % ${#roles[@]} ))]}
        t=$(as_postgres "$PGBIN/pgbench" -n -N -M prepared -c "$CORES" -j "$CORES" -T "$SECONDS_PER_RUN" -h 127.0.0.1 -p "$PORT" -U "$r" bench 2>/dev/null |
            awk '/^tps/ {print $3; exit}')
        runs[$r]="${runs[$r]:-} $t"
        log "round $round: $r: $t tps"
    done
done
cluster_stop gwrites
results_section "guarded-writes-$PG_MAJOR" <<MD
## Guarded writes beyond instructions, PostgreSQL $PG_MAJOR

Command: \`PG_MAJOR=$PG_MAJOR bash benches/guarded_writes.sh $SECONDS_PER_RUN $ROUNDS\` — \`pgbench -N -M prepared -c $CORES\`
(as many clients as cores), scale 10, TCP, $ROUNDS interleaved rounds, release build, $(date -u +%Y-%m-%d).

| configuration | median TPS | ratio (spread) |
|---|---|---|
| not loaded | $(echo "${runs[w_none]}" | median) | 1 |
| \`guarded\` | $(echo "${runs[w_guarded]}" | median) | $(round_ratio w_guarded w_none) to not loaded |
| \`guarded\`, \`client_min_messages = warning\` (no NOTICE per change) | $(echo "${runs[w_guarded_quiet]}" | median) | $(round_ratio w_guarded_quiet w_guarded) to \`guarded\` |
| not loaded, \`synchronous_commit = off\` | $(echo "${runs[w_none_async]}" | median) | $(round_ratio w_none_async w_none) to not loaded |
| \`guarded\`, \`synchronous_commit = off\` | $(echo "${runs[w_guarded_async]}" | median) | $(round_ratio w_guarded_async w_guarded) to \`guarded\` |
MD
log "benches/RESULTS.md: guarded-writes-$PG_MAJOR written"
