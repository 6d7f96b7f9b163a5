#!/usr/bin/python3
"""Undo exactness: N random write statements (default 1000) in guarded mode, every one recorded;
then a revert in the middle that later changes did not touch (it works), one whose rows a later
change touched (undo.conflict, nothing changed), and finally every change reverted newest first:
the database's fingerprint must equal the one taken before the first write. Column types cover
numeric, floats (NaN, -0, infinities), text with quotes, backslashes, newlines and unicode, arrays,
jsonb, json, bytea, enums, domains, composites, ranges, timestamps, intervals, NULLs, generated and
identity columns; cascades, a trigger writing elsewhere, partitions, key updates. Exit 1 on failure."""
import argparse, random, sys
import psycopg2

# Every public table's rows, each table hashed on its own (no server extras such as libxml needed).
TABLES = """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"""
TABLE_HASH = "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM ONLY {} t"

def lit(rng):
    """A random value for each typed column, as SQL literals."""
    texts = ["plain", "it's", 'quote "x"', "back\\slash", "new\nline", "tab\tend", "ünïcødé ✓", "", "(a,b)", "{x}", "NULL"]
    t = rng.choice(texts) + str(rng.randint(0, 99))
    return {
        "n": rng.choice(["NULL", "0", "-1.50", "12345678901234567890.000000001", "'NaN'", "1e-20"]),
        "f8": rng.choice(["NULL", "0.1", "'-0'", "'NaN'", "'Infinity'", "'-Infinity'", "1e308", "5e-324", str(rng.random())]),
        "f4": rng.choice(["NULL", "0.1", "3.4e38", "'-0'", str(rng.random())]),
        "t": "NULL" if rng.random() < 0.1 else "E'" + t.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t") + "'",
        "arr": rng.choice(["NULL", "ARRAY['a', NULL, 'b c']", "'{}'::text[]", "ARRAY['\"q\"', '\\\\']", "'{{1,2},{3,4}}'::text[]"]),
        "j": rng.choice(["NULL", "'{\"a\": 1.50, \"b\": [null, true]}'", "'\"s\"'", "'null'", "'{\"k\": \"\\\\u00e9\"}'"]),
        "js": rng.choice(["NULL", "'{\"a\":   1, \"a\": 2}'", "'[ 1 ,2 ]'"]),
        "b": rng.choice(["NULL", "'\\x00ff10'::bytea", "''::bytea", "decode(md5('x'), 'hex')"]),
        "m": rng.choice(["NULL", "'calm'", "'odd''one'"]),
        "d": rng.choice(["NULL", "1.000", "42"]),
        "p": rng.choice(["NULL", "ROW(1, 'x,y')::pair", "ROW(NULL, NULL)::pair", "ROW(2, '\"')::pair"]),
        "r": rng.choice(["NULL", "'[1,5)'", "'empty'", "'(,3]'"]),
        "ts": rng.choice(["NULL", "'2026-03-29 01:30:00+01'", "'infinity'", "'1999-12-31 23:59:59.999999+00'"]),
        "iv": rng.choice(["NULL", "'1 mon 2 days 03:04:05.5'", "'-1 year'", "'0'"]),
        "dt": rng.choice(["NULL", "'2024-02-29'", "'-infinity'", "'4713-01-01 BC'"]),
    }

def statements(rng):
    a = rng.randint(1, 2100); b = a + rng.randint(0, 40); m = rng.randint(2, 9); r = rng.randint(0, m - 1)
    k = rng.randint(0, 299); k2 = min(299, k + rng.randint(0, 30)); big = rng.randint(10**6, 10**7)
    tid = rng.randint(1, 260); v = lit(rng); cols = rng.sample(sorted(v), rng.randint(1, 5))
    sets = ", ".join(f"{c} = {v[c]}" for c in cols)
    return [
        f"DELETE FROM parent WHERE id BETWEEN {a} AND {b}",
        f"UPDATE parent SET v = v + 1 WHERE id % {m} = {r} AND id < {a}",
        f"UPDATE parent SET id = id + {big} WHERE id = {a}",
        f"INSERT INTO parent SELECT g, 0 FROM generate_series({a}, {b}) g ON CONFLICT (id) DO UPDATE SET v = excluded.v + 1",
        f"DELETE FROM child WHERE id BETWEEN {a} AND {b}",
        f"UPDATE child SET v = v + 1, parent_id = {1 + a % 2000} WHERE id BETWEEN {a} AND {b}",
        f"DELETE FROM grandchild WHERE child_id BETWEEN {a} AND {b}",
        f"UPDATE logged SET v = v + 1 WHERE id BETWEEN {a % 1000} AND {a % 1000 + b - a}",
        f"INSERT INTO logged SELECT g, 1 FROM generate_series({a}, {b}) g ON CONFLICT DO NOTHING",
        f"UPDATE part SET v = v + 1, k = (k + 150) % 300 WHERE k BETWEEN {k} AND {k2} AND id % {m} = {r}",
        f"DELETE FROM part WHERE k BETWEEN {k} AND {k2} AND v = {r % 3}",
        f"INSERT INTO part SELECT {big} + g, g % 300, 0 FROM generate_series({a}, {b}) g",
        f"UPDATE typed SET {sets} WHERE id = {tid}",
        f"UPDATE typed SET {sets} WHERE id BETWEEN {tid} AND {tid + 5}",
        f"INSERT INTO typed (id, {', '.join(cols)}) VALUES ({big}, {', '.join(v[c] for c in cols)})",
        f"DELETE FROM typed WHERE id BETWEEN {tid} AND {tid + 3}",
        f"UPDATE typed SET id = id + {big} WHERE id = {tid}",
        f"MERGE INTO logged l USING (SELECT g AS id FROM generate_series({a % 1200}, {a % 1200 + b - a}) g) s ON l.id = s.id "
        f"WHEN MATCHED AND l.id % 2 = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET v = l.v + 1 WHEN NOT MATCHED THEN INSERT VALUES (s.id, 0)",
    ]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host"); ap.add_argument("--port", type=int); ap.add_argument("--dbname")
    ap.add_argument("-n", type=int, default=1000); ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(10**9)
    rng = random.Random(seed)
    dba = psycopg2.connect(host=args.host, port=args.port, dbname=args.dbname, user="postgres"); dba.autocommit = True
    agent = psycopg2.connect(host=args.host, port=args.port, dbname=args.dbname, user="undo_agent"); agent.autocommit = True
    def fingerprint():
        c = dba.cursor(); c.execute(TABLES)
        parts = []
        for (table,) in c.fetchall():
            c.execute(TABLE_HASH.format(table)); parts.append(f"{table}:{c.fetchone()[0]}")
        return " ".join(parts)
    def last_change():
        c = agent.cursor(); c.execute("SELECT id FROM interdict.last_change()"); row = c.fetchone(); return row[0] if row else None
    def sqlstate_reason(e):
        return (e.diag.message_detail or "").split('"reason":"')[-1].split('"')[0] if e.diag.message_detail else e.pgcode
    start = fingerprint()
    changes, refused, seen = [], 0, None
    for i in range(args.n):
        sql = rng.choice(statements(rng))
        try:
            agent.cursor().execute(sql)
        except psycopg2.Error as e:
            refused += 1  # a refused or failing statement must change nothing (checked at the end)
            continue
        cid = last_change()
        if cid is not None and cid != seen:
            changes.append(cid); seen = cid
    failures = []
    # A change in the middle that later changes did not touch reverts; one whose rows changed since does not.
    c = agent.cursor()
    c.execute("INSERT INTO typed (id, t) VALUES (-3, 'other'), (-4, 'x')"); setup = last_change()
    c.execute("INSERT INTO typed (id, t) VALUES (-1, 'mid')"); a = last_change()
    c.execute("UPDATE typed SET t = 'later' WHERE id = -3"); later = last_change()
    before_conflict = fingerprint()
    c.execute("UPDATE typed SET t = 'first' WHERE id = -4"); first = last_change()
    c.execute("UPDATE typed SET t = 'second' WHERE id = -4"); second = last_change()
    try:
        c.execute("SELECT interdict.revert(%s)", (first,)); failures.append("revert of a change whose row changed since was allowed")
    except psycopg2.Error as e:
        if sqlstate_reason(e) != "undo.conflict":
            failures.append(f"conflict: expected undo.conflict, got {sqlstate_reason(e)}: {e}")
    c.execute("SELECT interdict.revert(ARRAY[%s, %s])", (first, second))  # newest first: both go back
    if fingerprint() != before_conflict:
        failures.append("reverting two changes of one row newest first did not restore it")
    c.execute("SELECT interdict.revert(%s)", (a,))  # the middle insert; the later update is untouched
    c.execute("SELECT count(*) FROM typed WHERE id = -1"); gone = c.fetchone()[0] == 0
    c.execute("SELECT t FROM typed WHERE id = -3"); kept = c.fetchone()[0] == "later"
    if not (gone and kept):
        failures.append("reverting a middle change did not remove its row or lost a later change")
    c.execute("SELECT interdict.revert(ARRAY[%s, %s])", (later, setup))
    # Every change, newest first.
    for cid in reversed(changes):
        try:
            c.execute("SELECT interdict.revert(%s)", (cid,))
        except psycopg2.Error as e:
            failures.append(f"revert of change {cid} failed: {e}".splitlines()[0]); break
    end = fingerprint()
    if end != start:
        failures.append("the fingerprint after reverting every change differs from the start")
    print(f"undo exactness (seed {seed}): {args.n} statements, {len(changes)} changes recorded, {refused} refused or failed, "
          f"all reverted newest first: {'identical' if end == start else 'DIFFERENT'}")
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
