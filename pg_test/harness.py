"""The drivers every pg_test file uses: connections the way an agent's client opens them, and
assertions on exact outcomes (the reason code of a refusal, rows, the mode in force)."""
import argparse, json, os, re, subprocess, sys, time, traceback
import psycopg2

ARGS = argparse.Namespace()  # filled by run.py's main() before any test runs
TESTS = []

def test(fn):
    TESTS.append(fn)
    return fn

def connect(role, db="pgtest", options=None, env=None):
    old = dict(os.environ)
    try:
        os.environ.update(env or {})
        kw = {"options": options} if options else {}
        conn = psycopg2.connect(host=ARGS.host, port=ARGS.port, dbname=db, user=role, **kw)
    finally:
        os.environ.clear()
        os.environ.update(old)
    conn.autocommit = True
    return conn

def run(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall() if cur.description else None

def one(conn, sql):
    return run(conn, sql)[0][0]

def mode(conn):
    return one(conn, "SHOW interdict.mode")

def refused(conn, sql, code):
    try:
        run(conn, sql)
    except psycopg2.Error as e:
        got = None
        try:
            got = json.loads(e.diag.message_detail or "")["reason"]
        except (ValueError, KeyError):
            pass
        assert got == code, f"{sql!r}: expected {code}, got {got or e.pgcode}: {(e.pgerror or '').strip()}"
        if conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
            run(conn, "ROLLBACK")
        return
    raise AssertionError(f"{sql!r} was allowed, expected {code}")

def eq(a, b, what=""):
    assert a == b, f"{what}: {a!r} != {b!r}"

def refusal(conn, sql):
    """The refusal's DETAIL object (reason, facts, approval_id) for a statement that must be refused."""
    try:
        run(conn, sql)
    except psycopg2.Error as e:
        if conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
            run(conn, "ROLLBACK")
        try:
            return json.loads(e.diag.message_detail or "")
        except ValueError:
            raise AssertionError(f"{sql!r}: not an interdict refusal: {(e.pgerror or '').strip()}")
    raise AssertionError(f"{sql!r} was allowed")

def restore_t(db="pgtest"):
    dba = connect("postgres", db)
    run(dba, "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g ON CONFLICT (id) DO UPDATE SET v = excluded.v")
    run(dba, "DELETE FROM t WHERE id > 10")

def refused_request(bound, max_rows, tag, agent_id=None):
    """A guarded agent's DELETE of the rows above `bound`, refused with `max_rows`: (agent, sql, detail).
    The tag keeps each test's statement (hence its approval id) its own, in each run."""
    sql = f"DELETE FROM t WHERE id > {bound} /* {ARGS.label} {tag} */"
    agent = connect("r_guard", options=f"-c interdict.agent={agent_id}" if agent_id else None)
    run(agent, f"SET interdict.max_rows = {max_rows}")
    return agent, sql, refusal(agent, sql)

def last_change(conn):
    return one(conn, "SELECT id FROM interdict.last_change()")

def audit_lines(pid=None, event=None):
    """The audit trail's JSON lines in the server log (optionally of one backend, one event)."""
    out = []
    with open(ARGS.log, errors="replace") as f:
        for line in f:
            at = line.find("LOG:  {")
            if at < 0:
                continue
            try:
                obj = json.loads(line[at + len("LOG:  "):])
            except ValueError:
                raise AssertionError(f"an audit line that is not JSON: {line!r}")
            if "interdict" not in obj:
                continue
            if (pid is None or obj.get("pid") == pid) and (event is None or obj["interdict"] == event):
                out.append(obj)
    return out

def pid_of(conn):
    return one(conn, "SELECT pg_backend_pid()")

def stats_row(conn, role, agent=""):
    rows = run(conn, f"SELECT counters, refused_by_reason, scope FROM interdict.stats() WHERE role_name = '{role}' AND agent = '{agent}'")
    return rows[0] if rows else ({}, {}, None)
