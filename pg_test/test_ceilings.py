"""Timeout ceilings: agent sessions may lower statement, lock, idle and transaction timeouts, never
raise them; the timeouts' own errors carry reason codes."""
import json, os, re, subprocess, time
import psycopg2
from harness import *  # noqa: F401,F403 the drivers: test, connect, run, one, eq, refused, refusal, …

@test
def ceilings_cap_timeouts_in_agent_modes():
    ro = connect("r_sess")
    eq([one(ro, f"SHOW {s}") for s in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")],
       ["30s", "2s", "1min"], "the default ceilings")
    for sql in ["SET statement_timeout = '45s'", "SET statement_timeout = 0", "SELECT set_config('statement_timeout', '0', false)",
                "SET lock_timeout = '1h'", "SET idle_in_transaction_session_timeout = 0", "SELECT no_timeout()"]:
        refused(ro, sql, "setting.ceiling")
    run(ro, "BEGIN")
    refused(ro, "SET LOCAL statement_timeout = '1min'", "setting.ceiling")
    run(ro, "SET statement_timeout = '5s'")
    eq(one(ro, "SHOW statement_timeout"), "5s", "lowering is allowed")
    run(ro, "RESET statement_timeout")
    eq(one(ro, "SHOW statement_timeout"), "30s", "RESET gives the capped value")
    run(ro, "SET interdict.max_statement_timeout = '10s'")
    eq(one(ro, "SHOW statement_timeout"), "10s", "a lower ceiling takes effect at once")
    refused(ro, "SET interdict.max_statement_timeout = '1min'", "setting.locked")
    eq(one(connect("r_dba_timeout"), "SHOW statement_timeout"), "30s", "a DBA's 0 is capped in agent modes")
    eq(one(connect("r_sess", options="-c statement_timeout=0"), "SHOW statement_timeout"), "30s", "so is a client's")
    off = connect("r_off")
    run(off, "SET statement_timeout = 0")
    eq(one(off, "SHOW statement_timeout"), "0", "mode off: untouched")
    # The session's very first statement is capped too.
    c = connect("r_ceil")
    start = time.time()
    try:
        run(c, "SELECT pg_sleep(3)")
        raise AssertionError("pg_sleep(3) ran past a 1s ceiling")
    except psycopg2.Error as e:
        eq(e.pgcode, "57014", "cancelled")
        eq(json.loads(e.diag.message_detail)["reason"], "ceiling.statement_timeout", "with a reason code")
        assert e.diag.message_hint, "and a hint"
    assert time.time() - start < 2.5, "at the ceiling"
    idle = connect("r_idle")
    run(idle, "SELECT 1")
    idle.autocommit = False
    run(idle, "SELECT 1")  # opens a transaction
    time.sleep(2)
    try:
        run(idle, "SELECT 1")
        raise AssertionError("idle in transaction past a 1s ceiling")
    except psycopg2.Error as e:
        # The FATAL reaches the client when its socket is still read; then it carries the reason.
        if e.diag.message_detail:
            eq(json.loads(e.diag.message_detail)["reason"], "ceiling.idle_in_transaction", "the idle timeout's reason")
    # A lock wait past the lock_timeout ceiling: ceiling.lock_timeout.
    waiter = connect("r_lockwait")
    run(waiter, "SELECT 1")  # the session locks (and its lock_timeout is capped) at its first statement
    dba = connect("postgres")
    dba.autocommit = False
    run(dba, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    e = refusal(waiter, "SELECT count(*) FROM t")
    dba.rollback()
    eq(e["reason"], "ceiling.lock_timeout", "a lock wait past the ceiling")
    eq((e["setting"], e["ceiling"]), ("lock_timeout", "500ms"), "with the ceiling in force")
    # PostgreSQL 13-16 (no transaction_timeout): a statement that starts in a transaction older than
    # the ceiling is refused, which ends the transaction and its locks; ROLLBACK passes.
    x = connect("r_xact")
    if int(one(x, "SHOW server_version_num")) < 170000:
        x.autocommit = False
        run(x, "LOCK TABLE t IN ACCESS SHARE MODE")
        run(x, "SELECT pg_sleep(1.1)")  # started within the ceiling: runs to its end
        refused(x, "SELECT 1", "ceiling.transaction_timeout")
        x.rollback()
        x.autocommit = True
        eq(one(x, "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 't'::regclass"), 0, "its locks went with it")
        eq(one(x, "SELECT 1"), 1, "a new transaction runs")
    # PostgreSQL 17+: a transaction past the transaction_timeout ceiling ends the session.
    if int(one(x, "SHOW server_version_num")) >= 170000:
        x.autocommit = False
        run(x, "SELECT 1")
        try:
            run(x, "SELECT pg_sleep(0.4)")
            run(x, "SELECT pg_sleep(0.4)")
            run(x, "SELECT pg_sleep(0.4)")
            raise AssertionError("a transaction ran past a 1s transaction_timeout ceiling")
        except psycopg2.Error as e:
            if e.diag.message_detail:
                eq(json.loads(e.diag.message_detail)["reason"], "ceiling.transaction_timeout", "the transaction timeout's reason")
            else:
                eq(x.closed != 0 or "transaction timeout" in str(e), True, f"ended by the transaction timeout: {e}")
