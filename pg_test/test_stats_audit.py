"""Stats and the audit trail: every kind of event counted and logged, agent identity fixed."""
import json, os, re, subprocess, time
import psycopg2
from harness import *  # noqa: F401,F403 the drivers: test, connect, run, one, eq, refused, refusal, …

@test
def agent_identity_is_fixed_once_the_session_runs():
    c = connect("r_guard", options="-c interdict.agent=run-42")
    eq(one(c, "SHOW interdict.agent"), "run-42", "set at connect time")
    refused(c, "SET interdict.agent = 'someone-else'", "setting.locked")
    refused(c, "SELECT set_config('interdict.agent', 'x', true)", "setting.locked")
    refused(c, "RESET interdict.agent", "setting.locked")
    run(c, "SET interdict.agent = 'run-42'")  # the same value: no change
    run(c, f"UPDATE t SET v = 'agent' WHERE id = 4 /* {ARGS.label} */")
    cid = last_change(c)
    eq(one(connect("postgres"), f"SELECT agent FROM interdict.changes WHERE id = {cid}"), "run-42", "carried into the change")
    try:
        long = connect("r_guard", options="-c interdict.agent=" + "x" * 300)
        # Loaded per session, a client's value reaches the library as a placeholder, which Postgres
        # re-checks with a WARNING only: the value is dropped.
        assert ARGS.label != "shared_preload", "a 300-character agent id was accepted"
        eq(one(long, "SHOW interdict.agent"), "", "the invalid value is not in force")
    except psycopg2.Error as e:
        assert "interdict.agent" in str(e), e
    restore_t()

@test
def stats_count_refusals_even_in_aborted_transactions():
    ro = connect("r_sess", options="-c interdict.agent=stats-test")
    before = stats_row(ro if ARGS.label != "shared_preload" else connect("p_op"), "r_sess", "stats-test")
    run(ro, "BEGIN")
    refused(ro, "DELETE FROM t WHERE id = 1", "readonly.dml")  # its transaction aborts (and is rolled back)
    refused(ro, "INSERT INTO t VALUES (99, 'x')", "readonly.dml")
    eq(one(ro, "SELECT count(*) FROM t"), 10, "reads go on")
    reader = connect("p_op") if ARGS.label == "shared_preload" else ro
    counters, by_reason, scope = stats_row(reader, "r_sess", "stats-test")
    eq(scope, "cluster" if ARGS.label == "shared_preload" else "session", "scope")
    eq(by_reason.get("readonly.dml", 0) - before[1].get("readonly.dml", 0), 2, "two refusals, one in an aborted transaction")
    eq(counters["refused"] - before[0].get("refused", 0), 2, "refused")
    assert counters["statements_readonly"] - before[0].get("statements_readonly", 0) >= 3, counters
    if ARGS.label == "shared_preload":
        eq(len(run(ro, "SELECT * FROM interdict.stats() WHERE role_name <> 'r_sess'")), 0, "an agent sees its own role only")
    # The blast radius: held for approval, rows protected, the largest refused.
    agent, sql, d = refused_request(2, 3, "stats")
    reader = connect("p_op") if ARGS.label == "shared_preload" else agent
    g = stats_row(reader, "r_guard")[0]
    assert g["held"] >= 1 and g["rows_protected"] >= 4 and g["largest_refused"] >= 4, g
    eq(refusal(agent, "SELECT interdict.stats_reset()")["reason"], "operator.required", "agents do not reset")
    eq(refusal(connect("r_off"), "SELECT interdict.stats_reset()")["reason"], "operator.required", "nor non-operators")
    if ARGS.label == "shared_preload":
        op = connect("p_op")
        run(op, "SELECT interdict.stats_reset()")
        counters, by_reason, _ = stats_row(op, "r_sess", "stats-test")
        eq((counters.get("refused"), by_reason), (0, {}), "reset")
        eq(one(op, "SELECT stats_reset > now() - interval '1 minute' FROM interdict.pg_stat_interdict LIMIT 1"), True, "reset time")

@test
def stats_count_every_kind_of_event():
    """Each counter driven through real sessions; read from another session (shared memory), or
    from the session itself when the library is loaded per session."""
    shared = ARGS.label == "shared_preload"
    agent = connect("r_guard", options="-c interdict.agent=counters")
    reader = connect("p_op") if shared else agent
    def counts():
        return stats_row(reader, "r_guard", "counters")[0]
    before = counts()
    sql = f"DELETE FROM t WHERE id > 6 /* {ARGS.label} counters */"
    run(agent, "SET interdict.max_rows = 2")
    d = refusal(agent, sql)  # held: refused at 3 rows (limit + 1)
    run(agent, "SELECT interdict.simulate('UPDATE t SET v = v WHERE id = 1')")
    run(agent, "UPDATE t SET v = 'c1' WHERE id = 1")  # a change
    first = last_change(agent)
    run(agent, "UPDATE t SET v = 'c2' WHERE id = 1")  # a later change to the same row
    eq(refusal(agent, f"SELECT interdict.revert({first})")["reason"], "undo.conflict", "a conflicting revert")
    run(agent, f"SELECT interdict.revert({last_change(agent)})")  # a revert (itself a change)
    op = connect("p_op")
    run(op, f"SELECT interdict.approve('{d['approval_id']}', max_rows => 10)")
    run(agent, sql)  # the approval used: 4 rows deleted, recorded
    restore_t()
    expired_sql = f"DELETE FROM t WHERE id > 9 /* {ARGS.label} expired */"
    run(agent, "SET interdict.max_rows = 0")
    e = refusal(agent, expired_sql)
    run(op, f"SELECT interdict.approve('{e['approval_id']}', valid_for => '1 millisecond')")
    run(op, "SELECT pg_sleep(0.05)")
    refusal(agent, expired_sql)  # finds its approval expired
    denied = refusal(agent, f"DELETE FROM t WHERE id > 8 /* {ARGS.label} denied */")
    run(op, f"SELECT interdict.deny('{denied['approval_id']}')")
    after = counts()
    delta = {k: after[k] - before.get(k, 0) for k in after}
    # Refused: the delete (3 rows), the conflicting revert, the expiring request twice (1 row each), the
    # denied one (1 row). Changes: two updates and the approved delete (the revert counts as a revert).
    want = {"refused": 5, "held": 4, "simulations": 1, "changes_recorded": 3, "reverts": 1, "revert_conflicts": 1,
            "approvals_used": 1, "approvals_expired": 1, "rows_protected": 3 + 1 + 1 + 1}
    if shared:  # decided in the operator's session: counted for the requesting role, cluster-wide
        granted = stats_row(reader, "r_guard")[0]
        assert granted["approvals_granted"] >= 2 and granted["approvals_denied"] >= 1, granted
    for k, v in want.items():
        eq(delta[k], v, k)
    assert after["largest_refused"] >= 3 and delta["statements_guarded"] >= 10, after
    restore_t()

@test
def audit_lines_are_json_with_redaction():
    agent = connect("r_guard", options="-c interdict.agent=audit-run")
    pid = pid_of(agent)
    d = refusal(agent, f"DELETE FROM t WHERE v = 'secret-literal' OR 1 = 1 /* {ARGS.label} */")
    lines = audit_lines(pid, "refusal")
    eq(len(lines), 1, "one line for one refusal")
    a = lines[0]
    for key, want in [("role", "r_guard"), ("database", "pgtest"), ("agent", "audit-run"), ("mode", "guarded"),
                      ("reason", "guarded.unscoped_write"), ("sqlstate", "42501"), ("approval_id", d["approval_id"])]:
        eq(a.get(key), want, key)
    assert "secret-literal" not in json.dumps(a), f"redacted by default: {a}"
    eq(a["statement"], "DELETE FROM t WHERE v = ? OR ? = ?", "literals replaced")
    assert len(a["statement_hash"]) == 16 and a["ts"].endswith("Z") and "application_name" in a, a
    full = connect("r_audit_full")
    refusal(full, f"DELETE FROM t WHERE v = 'visible-literal' OR true /* {ARGS.label} */")
    eq(audit_lines(pid_of(full), "refusal")[0]["statement"], f"DELETE FROM t WHERE v = 'visible-literal' OR true /* {ARGS.label} */", "log_statement = full")
    # A text longer than those kept between lines (64 kB) is rendered each time, the same way; a
    # logged text is cut at 4,096 characters.
    long = f"DELETE FROM t WHERE v = '{'x' * 70000}' OR 1 = 1 /* {ARGS.label} */"
    for conn in (agent, agent, full):
        refusal(conn, long)
    twice = audit_lines(pid, "refusal")[-2:]
    eq([x["statement"] for x in twice], ["DELETE FROM t WHERE v = ? OR ? = ?"] * 2, "a long text redacted each time")
    eq(twice[0]["statement_hash"], twice[1]["statement_hash"], "and hashed the same")
    eq(twice[0]["statement_hash"], a["statement_hash"], "as the short statement of the same shape")
    eq(audit_lines(pid_of(full), "refusal")[-1]["statement"], long[:4096], "log_statement = full, cut at 4,096 characters")
    none = connect("r_audit_none")
    refusal(none, "DELETE FROM t WHERE v = 'hidden' OR true")
    n = audit_lines(pid_of(none), "refusal")[0]
    assert "statement" not in n and "statement_hash" in n, f"log_statement = none: {n}"
    op = connect("p_op")
    run(op, f"SELECT interdict.approve('{d['approval_id']}')")
    eq([x["approval_id"] for x in audit_lines(pid_of(op), "approval")][-1:], [d["approval_id"]], "an approval line")
    agent.notices.clear()
    run(agent, "UPDATE t SET v = 'audited' WHERE id = 5")
    cid = last_change(agent)
    eq(agent.notices, [f"NOTICE:  interdict: change {cid} recorded (1 row in public.t); undo with SELECT interdict.revert({cid})\n"],
       "the change's notice, sent with the statement's reply")
    ch = audit_lines(pid, "changes")[-1]
    eq([(c["change_id"], c["rows"], c["tables"], c["statement"]) for c in ch["changes"]], [(cid, 1, {"public.t": 1}, "UPDATE t SET v = ? WHERE id = ?")],
       "a changes line as the change commits, with its statement")
    assert "statement" not in ch and ch["agent"] == "audit-run", ch
    run(agent, f"SELECT interdict.revert({cid})")
    eq([(c["reverts"], c["statement"]) for c in audit_lines(pid, "changes")[-1]["changes"]], [(cid, "SELECT interdict.revert(?)")], "a revert's entry")
    # One line per transaction, as it commits; nothing for what was rolled back.
    written = len(audit_lines(pid, "changes"))
    run(agent, "BEGIN")
    run(agent, "UPDATE t SET v = 'one' WHERE id = 6")
    kept_first = last_change(agent)
    run(agent, "SAVEPOINT s")
    run(agent, "UPDATE t SET v = 'gone' WHERE id = 7")
    run(agent, "ROLLBACK TO SAVEPOINT s")
    run(agent, "INSERT INTO t VALUES (11, 'two')")
    kept_second = last_change(agent)
    eq(len(audit_lines(pid, "changes")), written, "no line before the commit")
    run(agent, "COMMIT")
    lines = audit_lines(pid, "changes")
    eq(len(lines), written + 1, "one line for the transaction")
    eq([(c["change_id"], c["statement"]) for c in lines[-1]["changes"]],
       [(kept_first, "UPDATE t SET v = ? WHERE id = ?"), (kept_second, "INSERT INTO t VALUES (?, ?)")],
       "its changes, each with its statement, without the one rolled back to the savepoint")
    run(agent, "BEGIN")
    run(agent, "UPDATE t SET v = 'rolled back' WHERE id = 8")
    run(agent, "ROLLBACK")
    eq(len(audit_lines(pid, "changes")), written + 1, "no line for a transaction rolled back")
    restore_t()
    # A line stands alone in the server log: Postgres adds no STATEMENT or CONTEXT of its own (LOG
    # counts as above log_min_error_statement), not even for a function's statement.
    run(agent, "PREPARE audited_write(text) AS UPDATE t SET v = $1 WHERE id = 5")
    run(agent, "EXECUTE audited_write('audited again')")
    run(agent, "DO $$ BEGIN UPDATE t SET v = 'in a block' WHERE id = 5; END $$")
    lines = open(ARGS.log, errors="replace").read().splitlines()
    ours = [i for i, l in enumerate(lines) if f"[{pid}] LOG:  {{" in l]
    assert len(ours) >= 3, ours
    followers = [lines[i + 1] for i in ours if i + 1 < len(lines) and f"[{pid}]" in lines[i + 1]]
    eq([l for l in followers if "STATEMENT:" in l or "CONTEXT:" in l], [], "no statement or context after an audit line")
    # With client_min_messages above NOTICE, no notice; when the
    # server log takes notices, the notice goes there too (reported the ordinary way).
    agent.notices.clear()
    run(agent, "SET client_min_messages = warning")
    run(agent, "UPDATE t SET v = 'quiet' WHERE id = 5")
    eq(agent.notices, [], "client_min_messages = warning: no notice")
    run(agent, "RESET client_min_messages")
    logs_notices = connect("postgres", options="-c log_min_messages=notice")
    run(logs_notices, "LOAD 'interdict'")
    run(logs_notices, "SET interdict.mode = 'guarded'")
    run(logs_notices, "UPDATE t SET v = 'logged' WHERE id = 5")
    lid = last_change(logs_notices)
    eq(len(logs_notices.notices), 1, "log_min_messages = notice: the client still gets the notice")
    assert f"NOTICE:  interdict: change {lid} recorded" in open(ARGS.log, errors="replace").read(), "and the server log too"
    dba = connect("postgres")
    run(dba, "LOAD 'interdict'")
    refused(dba, "SET interdict.log_statement = 'everything'", "setting.invalid")
    restore_t()
