#!/usr/bin/python3
"""kill -9 in the middle of a guarded write and of a revert leaves no partial change and no
partial undo. Run against a cluster prepared by scripts/crash.sh.

Each round starts the statement in a backend, kills that backend with SIGKILL after a given
fraction of the statement's measured duration (so rounds land in the write, in undo's flush and
in the revert's own writes), waits for the server's crash recovery and checks: the table's
fingerprint is what it was before the statement, no change (or revert) was recorded, and the
changes recorded before are intact.
"""
import argparse, os, signal, sys, threading, time
import psycopg2

ARGS = None
FRACTIONS = [0.1, 0.25, 0.4, 0.55, 0.7, 0.85]

def connect(role):
    deadline = time.time() + 60
    while True:
        try:
            conn = psycopg2.connect(host=ARGS.host, port=ARGS.port, dbname="crash", user=role)
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError:  # crash recovery in progress
            if time.time() > deadline:
                raise
            time.sleep(0.2)

def one(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchone()[0]

def state():
    """The table's fingerprint and what undo holds, once the server has recovered from a crash (a
    connection made just after a kill may be cut when the postmaster resets every backend)."""
    for _ in range(100):
        try:
            return undo_state(connect("postgres"))
        except psycopg2.OperationalError:
            time.sleep(0.3)
    raise AssertionError("the server did not come back after the kill")

def undo_state(dba):
    return (one(dba, "SELECT md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) FROM big"),
            one(dba, "SELECT count(*) FROM interdict.changes"),
            one(dba, "SELECT count(*) FROM interdict.change_rows"),
            one(dba, "SELECT count(*) FROM interdict.change_tables"),
            one(dba, "SELECT count(*) FROM interdict.changes WHERE reverted_by IS NOT NULL"))

def duration(sql):
    """How long the statement takes, measured in a transaction that is rolled back."""
    c = connect("agent")
    cur = c.cursor()
    cur.execute("BEGIN")
    start = time.perf_counter()
    cur.execute(sql)
    took = time.perf_counter() - start
    cur.execute("ROLLBACK")
    c.close()
    return took

def killed_midway(sql, after):
    """Runs sql as the agent and kills its backend `after` seconds in. True if it was killed."""
    c = connect("agent")
    pid = one(c, "SELECT pg_backend_pid()")
    outcome = {}
    def work():
        try:
            c.cursor().execute(sql)
            outcome["finished"] = True
        except psycopg2.Error:
            outcome["killed"] = True
    t = threading.Thread(target=work)
    t.start()
    time.sleep(after)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    t.join()
    return "killed" in outcome

def rounds(what, sql, done_fingerprint):
    """Kills `sql` at each fraction of its duration. Killed: everything is as before the round.
    Finished before the kill: exactly one complete change more (undone again, to go on)."""
    took = duration(sql)
    killed = 0
    for f in FRACTIONS:
        start = state()
        if killed_midway(sql, took * f):
            killed += 1
            got = state()
            assert got == start, f"{what}, killed at {f:.0%} of {took:.2f}s: {got} != {start}"
            continue
        got = state()
        assert got[0] == done_fingerprint and got[1] == start[1] + 1, f"{what} finished: {got} after {start}"
        agent = connect("agent")
        agent.cursor().execute("SELECT interdict.revert((SELECT id FROM interdict.history(1)))")
        assert state()[0] == start[0], f"{what} finished and was undone again"
    assert killed >= 3, f"{what}: only {killed} of {len(FRACTIONS)} rounds were killed mid-statement"
    print(f"crash: {what}: {killed} of {len(FRACTIONS)} rounds killed mid-statement ({took:.2f}s), nothing partial left")

def fingerprint_after(sql):
    """The table's fingerprint once `sql` has run (measured in a transaction rolled back)."""
    c = connect("postgres")
    cur = c.cursor()
    cur.execute("BEGIN")
    cur.execute(sql)
    fp = undo_state(c)[0]
    cur.execute("ROLLBACK")
    return fp

def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ARGS = ap.parse_args()
    insert = "INSERT INTO big SELECT g, 'n' || g FROM generate_series(100001, 300000) g"
    before = state()
    rounds("guarded INSERT of 200000 rows", insert, fingerprint_after(insert))
    agent = connect("agent")
    agent.cursor().execute("UPDATE big SET v = v || '!' WHERE id <= 100000")
    cid = one(agent, "SELECT id FROM interdict.last_change()")
    after = state()
    assert after[0] != before[0] and after[1] > before[1], "the update was recorded"
    rounds("revert of a 100000-row change", f"SELECT interdict.revert({cid})", before[0])
    agent = connect("agent")
    agent.cursor().execute(f"SELECT interdict.revert({cid})")
    assert state()[0] == before[0], "after the kills, the revert still restores the table exactly"
    print("crash: the change reverted after the kills: fingerprint identical to the start")

if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL crash: {e}")
        sys.exit(1)
