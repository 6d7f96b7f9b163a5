"""Approvals: a refused statement, an operator's decision bound to it, one rerun."""
import json, os, re, subprocess, time
import psycopg2
from harness import *  # noqa: F401,F403 the drivers: test, connect, run, one, eq, refused, refusal, …

@test
def approval_flow_refuse_approve_rerun_once():
    agent, sql, d = refused_request(5, 2, "flow")
    eq((d["reason"], d["rows_reached"], d["max_rows"]), ("guarded.blast_radius", "3", "2"), "refused at limit + 1")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "nothing deleted")
    op = connect("p_op")
    run(op, f"SELECT interdict.approve('{d['approval_id']}', max_rows => 5)")
    eq(one(op, f"SELECT decision || ' ' || max_rows FROM interdict.approvals WHERE id = '{d['approval_id']}'"), "approved 5", "recorded")
    run(agent, sql)
    eq(one(agent, "SELECT count(*) FROM t"), 5, "the approved rerun deleted its 5 rows")
    eq(one(op, f"SELECT used_at IS NOT NULL FROM interdict.approvals WHERE id = '{d['approval_id']}'"), True, "marked used")
    restore_t()
    eq(refusal(agent, sql)["reason"], "guarded.blast_radius", "an approval goes through once")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "nothing deleted the second time")
    eq(refusal(op, f"SELECT interdict.approve('{d['approval_id']}')")["reason"], "approval.used", "a used approval cannot be renewed")

@test
def approval_within_its_rows_only():
    agent, sql, d = refused_request(4, 2, "rows")
    run(connect("p_op"), f"SELECT interdict.approve('{d['approval_id']}', max_rows => 3)")
    d2 = refusal(agent, sql)
    eq((d2["reason"], d2["limit_from"], d2["max_rows"]), ("guarded.blast_radius", "approval", "3"), "6 rows > 3 approved")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "nothing deleted")

@test
def approval_bad_input():
    agent, sql, d = refused_request(6, 1, "bad")
    op = connect("p_op")
    eq(refusal(op, "SELECT interdict.approve('nonsense')")["reason"], "approval.invalid", "malformed id")
    broken = d["approval_id"][:-1] + ("0" if d["approval_id"][-1] != "0" else "1")
    eq(refusal(op, f"SELECT interdict.approve('{broken}')")["reason"], "approval.invalid", "mistyped id (check digits)")
    eq(refusal(op, f"SELECT interdict.approve('{d['approval_id']}', max_rows => -1)")["reason"], "approval.invalid", "negative rows")
    eq(refusal(agent, f"SELECT interdict.approve('{d['approval_id']}')")["reason"], "approval.not_operator", "from the agent's session")
    eq(refusal(connect("r_off"), f"SELECT interdict.approve('{d['approval_id']}')")["reason"], "approval.not_operator", "a non-operator")
    eq(one(op, f"SELECT count(*) FROM interdict.approvals WHERE id = '{d['approval_id']}'"), 0, "no bad call recorded anything")
    # Expired: approved for a moment, then the rerun is refused again.
    run(op, f"SELECT interdict.approve('{d['approval_id']}', valid_for => '1 millisecond')")
    run(op, "SELECT pg_sleep(0.05)")
    eq(refusal(agent, sql)["reason"], "guarded.blast_radius", "an expired approval lets nothing through")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "nothing deleted")

@test
def approval_by_the_requesting_role_is_refused():
    sql = f"DELETE FROM t WHERE id > 7 /* {ARGS.label} self */"
    agent = connect("p_self", options="-c interdict.mode=guarded -c interdict.max_rows=1")
    d = refusal(agent, sql)
    eq(refusal(connect("p_self"), f"SELECT interdict.approve('{d['approval_id']}')")["reason"], "approval.self", "own request")

@test
def pending_lists_refused_requests_for_operators():
    op = connect("p_op")
    if ARGS.label != "shared_preload":
        eq(refusal(op, "SELECT * FROM interdict.pending()")["reason"], "setup.shared_memory", "loaded per session: no shared memory")
        return
    agent, sql, d = refused_request(3, 2, "pending", agent_id="pending-run")
    refusal(agent, sql)  # the same request twice: one entry, refused twice
    rows = run(op, "SELECT reason, role_name, statement, rows_reached, times, decision, last_refused >= first_refused AND age >= '0'"
                   f" FROM interdict.pending() WHERE approval_id = '{d['approval_id']}'")
    eq(rows, [("guarded.blast_radius", "r_guard", sql, 3, 2, None, True)], "listed once, with its facts")
    eq(one(op, f"SELECT agent FROM interdict.pending() WHERE approval_id = '{d['approval_id']}'"), "pending-run", "the agent identity")
    eq(refusal(agent, "SELECT * FROM interdict.pending()")["reason"], "approval.not_operator", "not from an agent session")
    eq(refusal(connect("r_off"), "SELECT * FROM interdict.pending()")["reason"], "approval.not_operator", "not for a non-operator")
    run(op, f"SELECT interdict.approve('{d['approval_id']}', max_rows => 7)")
    eq(one(op, f"SELECT decision FROM interdict.pending() WHERE approval_id = '{d['approval_id']}'"), "approved", "approved, not yet rerun")
    eq(one(op, f"SELECT requester_agent FROM interdict.approvals WHERE id = '{d['approval_id']}'"), "pending-run", "carried into the approval")
    run(agent, sql)
    eq(one(op, f"SELECT count(*) FROM interdict.pending() WHERE approval_id = '{d['approval_id']}'"), 0, "used: no longer pending")
    restore_t()
    _, _, d2 = refused_request(8, 1, "denied")
    run(op, f"SELECT interdict.deny('{d2['approval_id']}')")
    eq(one(op, f"SELECT count(*) FROM interdict.pending() WHERE approval_id = '{d2['approval_id']}'"), 0, "denied: no longer pending")

# --- undo ------------------------------------------------------------------------------------

@test
def read_only_transactions_get_their_own_error_not_an_internal_failure():
    """In a read-only transaction the guard's own writes cannot run: a refusal stays the guard's
    refusal (no approval is consumed), and the functions that write its records fail as Postgres
    fails any write there, naming the function, with nothing changed."""
    dba = connect("postgres")
    run(dba, "CREATE TABLE IF NOT EXISTS ro_nokey (a int); GRANT ALL ON ro_nokey TO PUBLIC")
    agent = connect("r_guard")
    run(agent, "BEGIN READ ONLY")
    eq(refusal(agent, "INSERT INTO ro_nokey VALUES (1)")["reason"], "guarded.not_reversible", "a table undo cannot record, in a read-only transaction")
    run(agent, "UPDATE t SET v = 'ro' WHERE id = 1")
    change = last_change(agent)
    _, _, request = refused_request(7, 1, "read only")
    op = connect("p_op")
    for conn, sql, function in [(agent, f"SELECT interdict.revert({change})", "interdict.revert()"),
                                (op, f"SELECT interdict.approve('{request['approval_id']}')", "interdict.approve()"),
                                (op, "SELECT interdict.purge('1 day')", "interdict.purge()")]:
        run(conn, "BEGIN READ ONLY")
        try:
            run(conn, sql)
            raise AssertionError(f"{sql} ran in a read-only transaction")
        except psycopg2.Error as e:
            eq((e.pgcode, f"cannot execute {function} in a read-only transaction" in e.pgerror), ("25006", True), sql)
        run(conn, "ROLLBACK")
    eq(one(agent, f"SELECT reverted_by IS NULL FROM interdict.history(1, {change})"), True, "nothing reverted")
    eq(one(op, f"SELECT count(*) FROM interdict.approvals WHERE id = '{request['approval_id']}'"), 0, "nothing approved")
    run(agent, f"SELECT interdict.revert({change})")
    eq(one(agent, "SELECT v FROM t WHERE id = 1"), "v1", "reverted once the transaction can write")
