"""Red team 4 (PostgreSQL 18, twelfth session). Each test is the finding's reproduction, asserting
what must hold."""
import os, time
from harness import test, connect, run, one, eq, refused, audit_lines, pid_of, ARGS
from test_adversary import server_version


@test
def redteam4_f1_a_parallel_worker_locks_as_the_user_who_logged_in():
    """The R3 fix read the DBA's values for the worker's session user: a superuser agent that ran
    SET SESSION AUTHORIZATION to the DBA (who has no mode) had workers in the client's mode `off`
    (-c interdict.mode=off), which ran a definer helper's pg_terminate_backend. Workers now read the
    values of the user who logged in."""
    agent = connect("r_su", options="-c interdict.mode=off")
    eq(one(agent, "SHOW interdict.mode"), "guarded", "the leader's lock")
    run(agent, "SET SESSION AUTHORIZATION postgres")
    force = "debug_parallel_query" if server_version(agent) >= 160000 else "force_parallel_mode"
    run(agent, f"SET {force} = on")
    run(agent, "SET parallel_leader_participation = off")
    plan = "\n".join(r[0] for r in run(agent, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT DISTINCT current_setting('interdict.mode') FROM t"))
    assert "Workers Launched: 1" in plan, plan
    eq(run(agent, "SELECT DISTINCT current_setting('interdict.mode') FROM t"), [("guarded",)], "the worker's mode")


@test
def redteam4_f3_an_agent_session_cannot_flood_the_server_log():
    """RAISE LOG in a loop wrote the server log at 130 MB/s (a full disk stops the cluster). An
    agent session's messages to the server log draw on a budget (1 MiB, then 16 KiB/s): 4 MB of
    RAISE LOG writes about 1 MiB, and the next audit line says how many lines were not written."""
    agent = connect("r_sess")
    pid = pid_of(agent)
    before = os.path.getsize(ARGS.log)
    run(agent, "DO $$ BEGIN FOR i IN 1..40 LOOP RAISE LOG '%', repeat('x', 100000); END LOOP; END $$")
    grown = os.path.getsize(ARGS.log) - before
    assert 900_000 < grown < 1_400_000, f"the log grew {grown} bytes"
    time.sleep(0.5)  # the budget refills: an audit line fits again
    refused(agent, "DELETE FROM t", "readonly.dml")
    lines = audit_lines(pid, "refusal")
    eq(len(lines), 1, "the refusal's line")
    assert lines[0].get("log_lines_dropped", 0) >= 28, lines[0]
    dba = connect("postgres")
    run(dba, "DO $$ BEGIN FOR i IN 1..3 LOOP RAISE LOG '%', repeat('y', 500000); END LOOP; END $$")
    assert os.path.getsize(ARGS.log) - before - grown > 1_400_000, "a session in mode off keeps no budget"


@test
def redteam4_f2_a_readonly_simulation_holds_no_lock_past_itself():
    """simulate() in readonly plans the statement, and planning a DELETE took ROW EXCLUSIVE on its
    table until the transaction ended (a DBA's CREATE INDEX waited on it). It plans in a
    subtransaction rolled back after now: no lock but the session's own stays."""
    agent = connect("r_sess")
    agent.autocommit = False
    try:
        verdict = one(agent, "SELECT interdict.simulate('DELETE FROM t WHERE id = 1')")
        eq(verdict["reason"], "readonly.dml", "the verdict")
        eq(one(agent, "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 't'::regclass"), 0, "no lock on t")
    finally:
        agent.rollback()


@test
def redteam4_readonly_refuses_do_in_an_untrusted_language():
    """DO runs its statements through the hooks, but an untrusted language's own code (a file
    written, a process started) passes none of them: readonly.untrusted_code, as guarded mode
    refuses it (a language not installed counts as untrusted)."""
    agent = connect("r_sess")
    refused(agent, "DO LANGUAGE plperlu $$ $$", "readonly.untrusted_code")
    eq(one(agent, "DO $$ BEGIN PERFORM 1; END $$; SELECT 1"), 1, "PL/pgSQL's DO runs")
