#!/usr/bin/python3
"""Blast-radius accuracy: for N random write statements, interdict.simulate()'s rows per table must
equal what the statement then really changes, counted by Postgres itself (pg_stat_xact_user_tables,
partitions folded into their root). Cascades, triggers that write elsewhere, partitions, ON
CONFLICT, MERGE, writable CTEs and joins are all in the mix. Exit 1 on any difference."""
import argparse, json, random, sys
import psycopg2

def statements(rng):
    a = rng.randint(1, 2100); b = a + rng.randint(0, 60); m = rng.randint(2, 9); r = rng.randint(0, m - 1)
    k = rng.randint(0, 299); k2 = min(299, k + rng.randint(0, 40)); x = rng.randint(0, 12); big = rng.randint(10**6, 10**7)
    return [
        f"DELETE FROM parent WHERE id BETWEEN {a} AND {b}",
        f"UPDATE parent SET v = v + 1 WHERE id % {m} = {r} AND id < {a}",
        f"UPDATE parent SET id = id + {big} WHERE id = {a}",
        f"INSERT INTO parent SELECT g, 0 FROM generate_series({a}, {b}) g ON CONFLICT (id) DO UPDATE SET v = excluded.v + 1",
        f"INSERT INTO parent SELECT g, 0 FROM generate_series({a}, {b}) g ON CONFLICT DO NOTHING",
        f"DELETE FROM child WHERE v = {x} AND id < {a * 2}",
        f"UPDATE child SET v = v + 1 WHERE parent_id BETWEEN {a} AND {b}",
        f"DELETE FROM grandchild WHERE child_id BETWEEN {a} AND {b}",
        f"UPDATE logged SET v = v + 1 WHERE id BETWEEN {a % 1000} AND {b % 1000 + a % 1000}",
        f"DELETE FROM logged WHERE id % {m} = {r} AND id < {a % 300}",
        f"INSERT INTO logged SELECT g, 1 FROM generate_series({a}, {b}) g ON CONFLICT DO NOTHING",
        f"UPDATE part SET v = v + 1 WHERE k BETWEEN {k} AND {k2}",
        f"DELETE FROM part WHERE k BETWEEN {k} AND {k2} AND v = {x % 3}",
        f"INSERT INTO part SELECT {big} + g, g % 300, 0 FROM generate_series({a}, {b}) g",
        f"WITH d AS (DELETE FROM child WHERE id BETWEEN {a} AND {b} RETURNING id) "
        f"INSERT INTO logged SELECT id + {big}, 0 FROM d ON CONFLICT DO NOTHING",
        f"MERGE INTO logged l USING (SELECT g AS id FROM generate_series({a % 1200}, {a % 1200 + b - a}) g) s ON l.id = s.id "
        f"WHEN MATCHED AND l.id % 2 = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET v = l.v + 1 "
        f"WHEN NOT MATCHED THEN INSERT VALUES (s.id, 0)",
        f"UPDATE parent p SET v = c.v FROM child c WHERE c.parent_id = p.id AND c.id BETWEEN {a} AND {b}",
        f"DELETE FROM child USING parent WHERE child.parent_id = parent.id AND parent.id BETWEEN {a} AND {b}",
        f"DELETE FROM orphaned WHERE id BETWEEN {a % 1000} AND {a % 1000 + 5}",
    ]

STATS = """SELECT coalesce(pg_partition_root(relid), relid)::regclass::text, sum(n_tup_ins)::bigint,
                  sum(n_tup_upd)::bigint, sum(n_tup_del)::bigint
             FROM pg_stat_xact_user_tables GROUP BY 1
           HAVING sum(n_tup_ins + n_tup_upd + n_tup_del) > 0"""

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True); ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dbname", required=True); ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261123)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    conn = psycopg2.connect(host=args.host, port=args.port, dbname=args.dbname, user="postgres")
    cur = conn.cursor()
    bad = 0
    for i in range(args.n):
        sql = rng.choice(statements(rng))
        cur.execute("SELECT interdict.simulate(%s)", (sql,))
        report = cur.fetchone()[0]
        conn.commit()
        simulated = {t["table"].removeprefix("public."): (t["inserted"], t["updated"], t["deleted"])
                     for t in report["rows"]["tables"] if t["inserted"] + t["updated"] + t["deleted"] > 0}
        cur.execute(STATS)  # the transaction's counts so far: stats not yet flushed show here too
        before = {t: (i_, u, d) for t, i_, u, d in cur.fetchall()}
        try:
            cur.execute(sql)
        except psycopg2.Error as e:
            conn.rollback()
            if report.get("verdict") != "error":
                bad += 1
                print(f"MISMATCH {i}: {sql}\n  simulate: {report.get('verdict')}\n  real: error {e.pgcode}")
            continue
        cur.execute(STATS)
        real = {}
        for t, i_, u, d in cur.fetchall():
            delta = tuple(x - y for x, y in zip((i_, u, d), before.get(t, (0, 0, 0))))
            if any(delta):
                real[t] = delta
        conn.commit()
        if report.get("verdict") in ("error", "timeout") or simulated != real:
            bad += 1
            print(f"MISMATCH {i}: {sql}\n  simulate: {simulated} ({report.get('verdict')})\n  real:     {real}")
    print(f"accuracy: {args.n - bad}/{args.n} statements: simulate() rows == real rows")
    sys.exit(1 if bad else 0)

if __name__ == "__main__":
    main()
