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
tps() { # role [clients]
    local c=${2:-1}
    as_postgres "$PGBIN/pgbench" -n -M prepared -c "$c" -j "$c" -T "$SECONDS_PER_RUN" -h "$SOCK" -p "$PORT" -U "$1" bench 2>/dev/null |
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
m() { echo "${runs[$1]}" | median; }
none=$(m u_none); off=$(m u_off); guarded=$(m u_guarded)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
out=$(as_postgres /usr/bin/python3 - "$SOCK" "$PORT" <<'PY'
import json, statistics, sys, threading, time, psycopg2
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
off = psycopg2.connect(host=sock, port=port, user="u_off", dbname="bench"); off.autocommit = True
offcur = off.cursor()
dba = psycopg2.connect(host=sock, port=port, user="postgres", dbname="bench"); dba.autocommit = True
dbacur = dba.cursor()
BIG = "UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid BETWEEN 200001 AND 300000"
def timed(c, sql, args=()):
    start = time.perf_counter(); c.execute(sql, args); return (time.perf_counter() - start) * 1000
def wal_and_memory(c, sql, args):
    """Runs sql: its time, the WAL it wrote per row of BIG, and its backend's largest private memory (RssAnon,
    sampled every 3 ms while it runs)."""
    c.execute("SELECT pg_backend_pid()"); pid = c.fetchone()[0]
    def anon():
        return next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("RssAnon:"))
    peak, done = [anon()], []
    def watch():
        while not done:
            peak[0] = max(peak[0], anon()); time.sleep(0.003)
    w = threading.Thread(target=watch); w.start()
    dbacur.execute("SELECT pg_current_wal_lsn()"); start = dbacur.fetchone()[0]
    try:
        t = timed(c, sql, args)
    finally:
        done.append(1); w.join()
    dbacur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (start,))
    return t, float(dbacur.fetchone()[0]) / 100000, peak[0] // 1024
plain, orig, rev, storage = [], [], [], []
# The first of each in a fresh backend: its WAL per row and its largest private memory.
_, off_wal, off_mem = wal_and_memory(offcur, BIG, (0,))
_, guarded_wal, guarded_mem = wal_and_memory(cur, BIG, (0,))
cur.execute("SELECT interdict.revert(id) FROM interdict.last_change()")
for i in range(3):
    # The same statement in mode off (then undone by hand), and recorded in guarded, alternately.
    plain.append(timed(offcur, BIG, (1,)))
    offcur.execute(BIG, (-1,))
    orig.append(timed(cur, BIG, (1,)))
    assert cur.rowcount == 100000
    cid = last()
    dbacur.execute("""SELECT (SELECT coalesce(pg_catalog.sum(pg_catalog.pg_column_size(r.*)), 0) FROM interdict.change_rows r WHERE change_id = %s)
                            + (SELECT pg_catalog.pg_column_size(c.*) FROM interdict.changes c WHERE id = %s)""", (cid, cid))
    storage.append(dbacur.fetchone()[0] / 100000)
    rev.append(timed(cur, "SELECT interdict.revert(%s)", (cid,)))
m = statistics.median
cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1")
one = last()
dbacur.execute("""SELECT (SELECT coalesce(pg_catalog.sum(pg_catalog.pg_column_size(r.*)), 0) FROM interdict.change_rows r WHERE change_id = %s)
                        + (SELECT pg_catalog.pg_column_size(c.*) FROM interdict.changes c WHERE id = %s)""", (one, one))
one_bytes = dbacur.fetchone()[0]
print(f"{m(rt):.2f} {m(server):.2f} {m(plain):.0f} {m(orig):.0f} {m(orig) / m(plain):.2f} {m(rev):.0f} {m(rev) / m(orig):.2f} {m(storage):.0f} {one_bytes}"
      f" {off_wal:.0f} {guarded_wal:.0f} {off_mem} {guarded_mem}")
PY
)
read -r one_rt one_server big_plain big_orig big_cost big_rev big_ratio row_bytes one_change_bytes off_wal guarded_wal off_mem guarded_mem <<<"$out"

# Concurrency: 4 guarded clients of TPC-B on different rows of the same tables (then 4 in mode
# off, for the ratio); then every change they recorded is reverted, newest first, and the tables
# must be exactly what they were: no change lost, none mixed with another's rows.
fingerprint() {
    dba -d bench -At -c "SELECT pg_catalog.md5(pg_catalog.string_agg(t::text, ',' ORDER BY t::text)) FROM (
        SELECT a::text AS t FROM pgbench_accounts a UNION ALL SELECT b::text FROM pgbench_branches b
        UNION ALL SELECT t::text FROM pgbench_tellers t UNION ALL SELECT h::text FROM pgbench_history h) x"
}
before=$(fingerprint)
first=$(dba -d bench -At -c "SELECT coalesce(max(id), 0) FROM interdict.changes")
c4_out=$(as_postgres "$PGBIN/pgbench" -n -M prepared -c 4 -j 4 -T "$SECONDS_PER_RUN" -h "$SOCK" -p "$PORT" -U u_guarded bench 2>&1)
c4_guarded=$(awk '/^tps/ {print $3; exit}' <<<"$c4_out")
c4_failed=$(awk '/failed transactions|aborted/ {print; exit}' <<<"$c4_out")
recorded=$(dba -d bench -At -c "SELECT count(*) FROM interdict.changes WHERE id > $first")
xacts=$(awk '/number of transactions actually processed/ {print $6; exit}' <<<"$c4_out")
# As the guarded role itself, through history() (agents see their own changes), 500 changes per
# statement (the statement-timeout ceiling applies to the agent's reverts too), newest first.
while :; do
    n=$(as_postgres psql -X -q -At -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U u_guarded -d bench \
        -c "SET client_min_messages = warning" \
        -c "SELECT pg_catalog.count(*) FROM pg_catalog.unnest(interdict.revert(ARRAY(SELECT id FROM interdict.history(100000000)
              WHERE id > $first AND reverts IS NULL AND reverted_by IS NULL ORDER BY id DESC LIMIT 500)))")
    [ "$n" -gt 0 ] || break
done
after=$(fingerprint)
c4_off=$(tps u_off 4)
if [ "$before" = "$after" ]; then c4_check="every change reverted newest first: the four tables identical to before (md5)"; else c4_check="**the tables differ after reverting every change**"; fi
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
$one_rt ms, server time $one_server ms (aim: well under 5 ms).

A 100,000-row UPDATE of pgbench_accounts, medians of 3, the two modes alternating:

| | ms | ratio | aim |
|---|---|---|---|
| the statement in mode \`off\` | $big_plain | 1 | |
| the statement recorded (\`guarded\`) | $big_orig | $big_cost to \`off\` | ≤ 1.25 |
| its revert | $big_rev | $big_ratio to the recorded statement | ≤ 2 |

Storage (\`pg_column_size\` of the rows, before indexes and page overhead): per row of the
100,000-row change (its share of the \`interdict.change_rows\` batches, before- and after-image as the rows' bytes, and its
share of the change's \`interdict.changes\` row with the row addresses): $row_bytes bytes; a one-row
change (its \`changes\` row, which holds its one batch of images): $one_change_bytes bytes.
WAL per row of the 100,000-row UPDATE (each mode's first, in a fresh backend): $off_wal bytes in mode
\`off\`, $guarded_wal bytes recorded. The backend's largest private memory (\`RssAnon\`, sampled every
3 ms) while it ran: $off_mem MB in mode \`off\`, $guarded_mem MB recorded (a statement's capture
holds at most 64 batches of images and writes the rest as it goes).

Concurrency: TPC-B with 4 clients (\`-c 4 -j 4 -T $SECONDS_PER_RUN\`; $(nproc) cores cap it): \`guarded\` $c4_guarded TPS,
\`off\` $c4_off TPS, ratio $(ratio "$c4_guarded" "$c4_off"); $xacts transactions, $recorded changes recorded,
failures: ${c4_failed:-none reported}; $c4_check.

Raw TPS per round: not loaded:${runs[u_none]}; off:${runs[u_off]}; guarded:${runs[u_guarded]}.
MD
