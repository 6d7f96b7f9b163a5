#!/usr/bin/env bash
# Undo's costs. (1) Capture: pgbench's default script (TPC-B) on recorded tables, extension not loaded
# vs loaded in mode `off` vs `guarded` (every write recorded), interleaved rounds, median TPS ratios.
# (2) Revert: a 1-row change (server time and round trip) and a 100,000-row change, against the
# original statement. Writes benches/RESULTS.md's "undo" section.
# A benchmark, not a test: it never fails on a figure.  Usage: bash benches/undo.sh [seconds] [rounds]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-7}
PROFILE=release setup_all
pgbench_cluster undobench "${BENCH_PORT:-$(port_for 5452)}"
dba -d bench >/dev/null <<'SQL'
CREATE ROLE u_none LOGIN; CREATE ROLE u_off LOGIN; CREATE ROLE u_guarded LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO u_none, u_off, u_guarded;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO u_none, u_off, u_guarded;
ALTER ROLE u_off SET session_preload_libraries = 'interdict';
ALTER ROLE u_guarded SET session_preload_libraries = 'interdict';
ALTER ROLE u_guarded SET interdict.mode = 'guarded';
ALTER ROLE u_guarded SET interdict.max_rows = 1000000;
SQL
tps() { # role
    as_postgres "$PGBIN/pgbench" -n -M prepared -c 1 -j 1 -T "$SECONDS_PER_RUN" -h "$SOCK" -p "$PORT" -U "$1" bench 2>/dev/null |
        awk '/^tps/ {print $3; exit}'
}
declare -A runs
configs=(u_none u_off u_guarded)
for round in $(seq "$ROUNDS"); do
    for i in "${!configs[@]}"; do
        config=${configs[$(( (i + round) % ${#configs[@]} ))]}
        t=$(tps "$config"); runs[$config]="${runs[$config]:-} $t"
        log "round $round $config: $t tps"
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m() { echo "${runs[$1]}" | median; }
none=$(m u_none); off=$(m u_off); guarded=$(m u_guarded)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
out=$(as_postgres /usr/bin/python3 - "$SOCK" "$PORT" <<'PY'
import json, statistics, sys, time, psycopg2
sock, port = sys.argv[1], sys.argv[2]
conn = psycopg2.connect(host=sock, port=port, user="u_guarded", dbname="bench"); conn.autocommit = True
cur = conn.cursor()
def last():
    cur.execute("SELECT id FROM interdict.last_change()"); return cur.fetchone()[0]
rt, server = [], []
for i in range(31):
    cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = %s", (1000 + i,))
    cid = last()
    start = time.perf_counter()
    cur.execute("SELECT interdict.revert(%s)", (cid,))
    rt.append((time.perf_counter() - start) * 1000)
    cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = %s", (5000 + i,))
    cid = last()
    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT interdict.revert(%s)", (cid,))
    server.append(cur.fetchone()[0][0]["Execution Time"])
orig, rev = [], []
for i in range(3):
    start = time.perf_counter()
    cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN 200001 AND 300000")
    orig.append((time.perf_counter() - start) * 1000)
    assert cur.rowcount == 100000
    cid = last()
    start = time.perf_counter()
    cur.execute("SELECT interdict.revert(%s)", (cid,))
    rev.append((time.perf_counter() - start) * 1000)
m = statistics.median
print(f"{m(rt):.2f} {m(server):.2f} {m(orig):.0f} {m(rev):.0f} {m(rev) / m(orig):.2f}")
PY
)
read -r one_rt one_server big_orig big_rev big_ratio <<<"$out"
cluster_stop undobench
results_section undo <<MD
## Undo: capture cost and revert speed

Command: \`bash benches/undo.sh $SECONDS_PER_RUN $ROUNDS\` — release build, PostgreSQL $PG_MAJOR, $(nproc) cores, $(date -u +%Y-%m-%d).

Capture: pgbench's default script (TPC-B: 3 updates, 1 insert, 1 select per transaction), scale 10,
\`-M prepared -c 1 -j 1 -T $SECONDS_PER_RUN\`, every table recorded (\`pgbench_history\` given a key), $ROUNDS
interleaved rounds, median TPS.

| configuration | median TPS | ratio | aim |
|---|---|---|---|
| not loaded | $none | 1.000 | |
| loaded, mode \`off\` (recording triggers present, WHEN false) | $off | $(ratio "$off" "$none") to not loaded | ≥ 0.97 |
| loaded, mode \`guarded\` (every write recorded) | $guarded | $(ratio "$guarded" "$off") to \`off\` | bounded |

Revert (as the guarded role, over a Unix socket): a 1-row change, median of 31: round trip
$one_rt ms, server time $one_server ms (aim: well under 5 ms). A 100,000-row UPDATE of pgbench_accounts:
the statement (recorded) $big_orig ms, its revert $big_rev ms, ratio $big_ratio (aim ≤ 3), medians of 3.

Raw TPS per round: not loaded:${runs[u_none]}; off:${runs[u_off]}; guarded:${runs[u_guarded]}.
MD
