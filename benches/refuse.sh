#!/usr/bin/env bash
# The cost of refusing: a DELETE of 1,000,000 rows in guarded mode with interdict.max_rows = 1000
# (refused at row 1001) against the same DELETE run to the end without the extension (rolled back).
# A benchmark, not a test: it never fails on a figure.  Usage: bash benches/refuse.sh [repeats]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
REPEATS=${1:-5}
PROFILE=release setup_all
PORT=${BENCH_PORT:-$(port_for 5451)}
cluster_start refuse "$PORT" "shared_buffers = '256MB'"
SOCK=$CLUSTERS/refuse/sock
as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d postgres >/dev/null <<'SQL'
CREATE EXTENSION interdict;
CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 1000000) g;
VACUUM ANALYZE big;
CREATE ROLE r_none LOGIN; CREATE ROLE r_guarded LOGIN;
GRANT SELECT, DELETE ON big TO r_none, r_guarded;
ALTER ROLE r_guarded SET session_preload_libraries = 'interdict';
ALTER ROLE r_guarded SET interdict.mode = 'guarded';
ALTER ROLE r_guarded SET interdict.max_rows = 1000;
SQL
out=$(as_postgres /usr/bin/python3 - "$SOCK" "$PORT" "$REPEATS" <<'PY'
import statistics, sys, time, psycopg2
sock, port, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
DELETE = "DELETE FROM big WHERE id > 0"
def timed(role, expect_refusal):
    conn = psycopg2.connect(host=sock, port=port, user=role, dbname="postgres")
    cur = conn.cursor()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            cur.execute(DELETE)
            assert not expect_refusal, "the guarded DELETE was not refused"
            assert cur.rowcount == 1000000, cur.rowcount
        except psycopg2.Error as e:
            assert expect_refusal and "guarded.blast_radius" in (e.diag.message_detail or ""), e
        times.append((time.perf_counter() - start) * 1000)
        conn.rollback()
    conn.close()
    return statistics.median(times)
full = timed("r_none", False)
refused = timed("r_guarded", True)
print(f"{full:.1f} {refused:.1f} {full / refused:.0f}")
PY
)
read -r full refused factor <<<"$out"
cluster_stop refuse
results_section refuse <<MD
## Cost of refusing: DELETE of 1,000,000 rows, limit 1,000

Command: \`bash benches/refuse.sh $REPEATS\` — \`DELETE FROM big WHERE id > 0\` on 1,000,000 rows
(int key, md5 text), median of $REPEATS runs each, client-side round trip, release build, PostgreSQL $PG_MAJOR,
$(nproc) cores, $(date -u +%Y-%m-%d).

| run | median ms |
|---|---|
| not loaded, full delete (rolled back) | $full |
| \`guarded\`, \`max_rows = 1000\`: refused at row 1,001 | $refused |

Refusing costs 1/$factor of running the delete: the counter stops the statement at limit + 1.
MD
log "full delete ${full} ms, refused ${refused} ms"
