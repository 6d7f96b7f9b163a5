#!/usr/bin/python3
"""Lock and connect-time tests through real libpq connections.

Each test opens sessions the way an agent's client would (role settings, startup options, PGOPTIONS,
LOAD) and asserts the exact outcome: the mode in force, the reason code of each refusal, and that
reads keep working. Run against a cluster prepared by scripts/pg_test.sh.
"""
import argparse, json, os, sys, time, traceback
import psycopg2

ARGS = None
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

# --- connect-time settings -------------------------------------------------------------------

@test
def role_setting_sets_the_mode():
    c = connect("r_sess")
    eq(mode(c), "readonly", "SHOW")
    eq(one(c, "SELECT count(*) FROM t"), 10, "reads work")
    refused(c, "DELETE FROM t", "readonly.dml")

@test
def startup_option_cannot_lower_the_role_mode():
    c = connect("r_sess", options="-c interdict.mode=off")
    eq(mode(c), "readonly", "SHOW")
    refused(c, "DELETE FROM t", "readonly.dml")

@test
def pgoptions_cannot_lower_the_role_mode():
    c = connect("r_guard", env={"PGOPTIONS": "-c interdict.mode=off"})
    eq(mode(c), "guarded", "SHOW")

@test
def startup_option_can_raise_the_mode():
    c = connect("r_guard", options="-c interdict.mode=readonly")
    eq(mode(c), "readonly", "SHOW")
    refused(c, "INSERT INTO t VALUES (100)", "readonly.dml")

@test
def role_in_database_setting_applies_in_that_database_only():
    eq(mode(connect("r_indb", "pgtest")), "readonly", "in pgtest")
    eq(mode(connect("r_indb", "pgtest_other")), "off", "elsewhere")
    eq(mode(connect("r_indb", "pgtest", options="-c interdict.mode=off")), "readonly", "client off in pgtest")

@test
def database_setting_applies_to_every_role():
    c = connect("r_plain", "pgtest_dbmode", options="-c interdict.mode=guarded")
    eq(mode(c), "readonly", "database readonly beats client guarded")
    refused(c, "UPDATE t SET v = 'x'", "readonly.dml")

@test
def load_at_connection_start_for_a_non_superuser():
    c = connect("r_load", options="-c interdict.mode=readonly")
    if ARGS.label == "shared_preload":
        refused(c, "LOAD '$libdir/plugins/interdict'", "session.load")  # already loaded: the mode holds at once
    else:
        run(c, "LOAD '$libdir/plugins/interdict'")
    eq(mode(c), "readonly", "after LOAD")
    refused(c, "DELETE FROM t", "readonly.dml")
    refused(c, "SET interdict.mode = off", "mode.locked")
    refused(c, "LOAD '$libdir/plugins/interdict'", "session.load")

@test
def invalid_dba_value_fails_closed():
    c = connect("r_bad")
    eq(mode(c), "readonly", "a broken role setting must not leave the session unguarded")

@test
def missing_extension_schema_still_enforces():
    c = connect("r_sess", "pgtest_noext")
    eq(mode(c), "readonly", "SHOW")
    refused(c, "DELETE FROM t", "readonly.dml")
    eq(one(c, "SELECT count(*) FROM t"), 10, "reads work")

# --- the lock -------------------------------------------------------------------------------

@test
def no_route_lowers_a_locked_mode():
    c = connect("r_sess")
    refused(c, "SET interdict.mode = off", "mode.locked")
    refused(c, "SET interdict.mode = guarded", "mode.locked")
    refused(c, "BEGIN; SET LOCAL interdict.mode = off", "mode.locked")
    refused(c, "RESET interdict.mode", "mode.locked")
    refused(c, "SET interdict.mode TO DEFAULT", "mode.locked")
    refused(c, "SELECT set_config('interdict.mode', 'off', false)", "mode.locked")
    refused(c, "SELECT lower_mode()", "mode.locked")
    refused(c, "SELECT definer_lower()", "mode.locked")
    run(c, "SELECT set_config('interdict.mode', NULL, false)")
    run(c, "RESET ALL")
    run(c, "DISCARD ALL")
    eq(mode(c), "readonly", "after NULL set_config, RESET ALL, DISCARD ALL")
    refused(c, "DELETE FROM t", "readonly.dml")

@test
def raising_is_allowed_and_sticks_through_rollback():
    c = connect("r_guard")
    run(c, "BEGIN; SET LOCAL interdict.mode = readonly; ROLLBACK")
    eq(mode(c), "readonly", "raise survives the rollback")
    refused(c, "SET interdict.mode = guarded", "mode.locked")
    refused(c, "INSERT INTO t VALUES (101)", "readonly.dml")

@test
def guarded_allows_writes_and_is_locked():
    c = connect("r_guard")
    run(c, "BEGIN; INSERT INTO t VALUES (200, 'g'); ROLLBACK")
    refused(c, "SET interdict.mode = off", "mode.locked")
    refused(c, "LOAD 'auto_explain'", "session.load")

@test
def superuser_agent_cannot_escape():
    c = connect("r_su")
    eq(mode(c), "guarded", "SHOW")
    refused(c, "SET interdict.mode = off", "mode.locked")
    refused(c, "ALTER ROLE r_su SET interdict.mode = 'off'", "setting.protected")
    refused(c, "ALTER ROLE r_su RESET session_preload_libraries", "setting.protected")
    refused(c, "ALTER ROLE r_su IN DATABASE pgtest RESET ALL", "setting.protected")
    refused(c, "ALTER DATABASE pgtest SET interdict.mode = 'off'", "setting.protected")
    refused(c, "ALTER SYSTEM SET shared_preload_libraries = ''", "setting.protected")
    refused(c, "DROP EXTENSION interdict", "extension.protected")
    refused(c, "LOAD 'auto_explain'", "session.load")
    run(c, "SET ROLE r_none")
    refused(c, "SET interdict.mode = off", "mode.locked")
    run(c, "RESET ROLE")
    run(c, "SET SESSION AUTHORIZATION r_none")
    eq(mode(c), "guarded", "after SET SESSION AUTHORIZATION")
    refused(c, "SET interdict.mode = off", "mode.locked")

@test
def agent_settings_only_tighten():
    c = connect("r_su_blocked")
    eq(one(c, "SHOW interdict.blocked_commands"), "VACUUM", "SHOW")
    refused(c, "VACUUM t", "command.blocked")
    refused(c, "SET interdict.blocked_commands = ''", "setting.locked")
    refused(c, "RESET interdict.blocked_commands", "setting.locked")
    run(c, "SET interdict.blocked_commands = 'vacuum,  checkpoint'")
    refused(c, "CHECKPOINT", "command.blocked")
    run(c, "RESET ALL")
    refused(c, "CHECKPOINT", "command.blocked")
    eq(one(c, "SHOW interdict.blocked_commands"), "CHECKPOINT, VACUUM", "SHOW after RESET ALL")
    run(c, "ANALYZE t")

@test
def client_cannot_shrink_the_blocked_list():
    c = connect("r_su_blocked", options="-c interdict.blocked_commands=")
    refused(c, "VACUUM t", "command.blocked")

@test
def readonly_allow_list():
    c = connect("r_allow")
    run(c, "ANALYZE t")
    refused(c, "VACUUM t", "readonly.maintenance")

@test
def bad_setting_values_are_clear_errors():
    c = connect("r_guard")
    refused(c, "SET interdict.mode = 'bogus'", "setting.invalid")
    dba = connect("postgres")
    run(dba, "LOAD 'interdict'")
    for sql in ["SET interdict.blocked_commands = 'VACCUM'", "SET interdict.blocked_commands = 'VACUUM,,ANALYZE'",
                "ALTER ROLE r_none SET interdict.mode = 'sideways'", "ALTER ROLE r_none SET interdict.readonly_allow = 'nope'"]:
        refused(dba, sql, "setting.invalid")
    try:
        run(dba, "SET interdict.blocked_commands = 'VACCUM'")
    except psycopg2.Error as e:
        assert "CREATE INDEX" in e.diag.message_detail, "the error lists the valid tags"
    try:
        run(dba, "SET interdict.no_such_setting = 1")
        raise AssertionError("unknown interdict.* setting accepted")
    except psycopg2.Error as e:
        eq(e.pgcode, "42602", "reserved prefix")
    eq(one(connect("r_none"), "SELECT count(*) FROM pg_db_role_setting WHERE setconfig::text LIKE '%sideways%'"), 0, "nothing stored")

@test
def syntax_error_changes_nothing():
    c = connect("r_sess")
    try:
        run(c, "DELET FROM t")
        raise AssertionError("syntax error accepted")
    except psycopg2.Error as e:
        eq(e.pgcode, "42601", "syntax error")
    eq(mode(c), "readonly", "mode after a syntax error")

@test
def libpq_large_object_calls_are_refused():
    c = connect("r_sess")
    try:
        c.autocommit = False
        c.lobject(0, "w")
        raise AssertionError("large object created")
    except psycopg2.Error as e:
        # libpq's fastpath errors reach psycopg2 as text only: the DETAIL is in the message.
        assert '"reason":"readonly.large_object"' in str(e), f"fastpath lo_creat: {e}"
    finally:
        c.rollback()

# --- mode off is the extension absent ---------------------------------------------------------

OFF_SCRIPT = [
    "CREATE TABLE eq (id serial PRIMARY KEY, v text)",
    "INSERT INTO eq (v) VALUES ('a'), ('b') RETURNING id, v",
    "UPDATE eq SET v = upper(v) WHERE id = 1 RETURNING *",
    "SELECT nextval('s') > 0",
    "WITH d AS (DELETE FROM eq WHERE id = 2 RETURNING id) SELECT * FROM d",
    "SELECT * FROM eq FOR UPDATE",
    "SELECT 1 / 0",
    "DO $$ BEGIN INSERT INTO eq (v) VALUES ('do'); END $$",
    "SELECT v FROM eq ORDER BY id",
    "BEGIN READ WRITE; SELECT 1; COMMIT",
    "VACUUM eq", "ANALYZE eq",
    "SET default_transaction_read_only = off",
    "SELECT pg_advisory_xact_lock(1)",
    "CREATE INDEX ON eq (v)",
    "SELECT lo_unlink(lo_create(0))",
    "DROP TABLE eq",
    "SELECT no_such_column FROM t",
]

def outcomes(conn):
    out = []
    for sql in OFF_SCRIPT:
        try:
            out.append(("ok", run(conn, sql)))
        except psycopg2.Error as e:
            out.append(("error", e.pgcode, e.pgerror))
    return out

@test
def mode_off_behaves_as_if_absent():
    with_ext = outcomes(connect("r_off", "pgtest"))
    without = outcomes(connect("r_none", "pgtest_other"))
    for sql, a, b in zip(OFF_SCRIPT, with_ext, without):
        eq(a, b, f"outcome of {sql!r} with the extension in mode off vs without it")

# --- approvals ---------------------------------------------------------------------------------

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

def last_change(conn):
    return one(conn, "SELECT id FROM interdict.last_change()")

@test
def revert_bad_input_changes_nothing():
    agent = connect("r_guard")
    eq(refusal(agent, "SELECT interdict.revert(987654321)")["reason"], "undo.not_found", "no such change")
    run(agent, f"UPDATE t SET v = 'bad-input' WHERE id = 1 /* {ARGS.label} */")
    cid = last_change(agent)
    eq(refusal(connect("p_agent"), f"SELECT interdict.revert({cid})")["reason"], "undo.not_allowed", "another role's change")
    eq(refusal(agent, f"SELECT interdict.revert({cid}, force => true)")["reason"], "undo.not_allowed", "force outside an operator session")
    eq(refusal(connect("r_guard", options="-c interdict.mode=readonly"), f"SELECT interdict.revert({cid})")["reason"],
       "undo.not_allowed", "a readonly session reverts nothing")
    eq(one(agent, "SELECT v FROM t WHERE id = 1"), "bad-input", "nothing reverted by the refused calls")
    run(agent, f"SELECT interdict.revert({cid})")
    eq(one(agent, "SELECT v FROM t WHERE id = 1"), "v1", "the role's own revert")
    d = refusal(agent, f"SELECT interdict.revert({cid})")
    eq((d["reason"], d["reverted_by"]), ("undo.already_reverted", str(last_change(agent))), "twice")
    dba = connect("postgres")
    table = f"undo_shape_{ARGS.label}"
    run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")  # recorded as the agent creates it
    run(agent, f"INSERT INTO {table} VALUES (1, 'a')")
    created = last_change(agent)
    run(dba, f"ALTER TABLE {table} ADD COLUMN w int")
    eq(refusal(agent, f"SELECT interdict.revert({created})")["reason"], "undo.table_changed", "a column added since")
    eq(one(dba, f"SELECT count(*) FROM {table}"), 1, "nothing reverted")
    run(dba, f"DROP TABLE {table}")
    eq(refusal(agent, f"SELECT interdict.revert({created})")["reason"], "undo.table_changed", "the table dropped since")
    eq(one(dba, f"SELECT reverted_by FROM interdict.changes WHERE id = {created}"), None, "not marked reverted")

@test
def purge_and_retention():
    op, dba, agent = connect("p_op"), connect("postgres"), connect("r_guard")
    eq(refusal(agent, "SELECT interdict.purge('1 day')")["reason"], "undo.not_allowed", "agents do not purge")
    eq(refusal(connect("r_off"), "SELECT interdict.purge('1 day')")["reason"], "undo.not_allowed", "nor do non-operators")
    eq(refusal(op, "SELECT interdict.purge()")["reason"], "undo.not_allowed", "no retention set: purge() needs an age")
    for sql in ["DELETE FROM interdict.changes WHERE false", "UPDATE interdict.change_rows SET op = op WHERE false",
                "TRUNCATE interdict.change_tables", "DELETE FROM interdict.approvals WHERE false"]:
        refused(dba, sql, "records.protected")  # a DBA in mode off too: only the guard changes its records
    def old_change(v):
        run(agent, f"UPDATE t SET v = '{v}' WHERE id = 2")
        cid = last_change(agent)
        run(dba, "SET session_replication_role = replica")  # the records refuse direct changes otherwise
        run(dba, f"UPDATE interdict.changes SET made_at = made_at - interval '2 days' WHERE id = {cid}")
        run(dba, "RESET session_replication_role")
        return cid
    old = old_change("purged")
    eq(one(op, "SELECT interdict.purge('1 day') >= 1"), True, "purged")
    eq(one(dba, f"SELECT count(*) FROM interdict.changes WHERE id = {old}")
       + one(dba, f"SELECT count(*) FROM interdict.change_rows WHERE change_id = {old}")
       + one(dba, f"SELECT count(*) FROM interdict.change_tables WHERE change_id = {old}"), 0, "the change went with its rows")
    eq(refusal(agent, f"SELECT interdict.revert({old})")["reason"], "undo.not_found", "a purged change cannot be reverted")
    try:
        run(dba, "LOAD 'interdict'")  # PG < 17: ALTER SYSTEM needs the setting defined
        run(dba, "ALTER SYSTEM SET interdict.undo_retention = '1d'")
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        expired = old_change("expired")
        recent = connect("r_guard")  # a new backend: it expires old changes on its first recorded write
        run(recent, "UPDATE t SET v = 'fresh' WHERE id = 3")
        eq(one(dba, f"SELECT count(*) FROM interdict.changes WHERE id = {expired}"), 0, "expired by the retention")
        eq(one(dba, f"SELECT count(*) FROM interdict.changes WHERE id = {last_change(recent)}"), 1, "the new change kept")
        old_change("by-default")
        eq(one(op, "SELECT interdict.purge() >= 1"), True, "purge() uses the retention")
    finally:
        run(dba, "LOAD 'interdict'")
        run(dba, "ALTER SYSTEM RESET interdict.undo_retention")
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        restore_t()

# --- issue 6: agent identity, stats, audit, ceilings, check_role, dry run -----------------------

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

def stats_row(conn, role, agent=""):
    rows = run(conn, f"SELECT counters, refused_by_reason, scope FROM interdict.stats() WHERE role_name = '{role}' AND agent = '{agent}'")
    return rows[0] if rows else ({}, {}, None)

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
    none = connect("r_audit_none")
    refusal(none, "DELETE FROM t WHERE v = 'hidden' OR true")
    n = audit_lines(pid_of(none), "refusal")[0]
    assert "statement" not in n and "statement_hash" in n, f"log_statement = none: {n}"
    op = connect("p_op")
    run(op, f"SELECT interdict.approve('{d['approval_id']}')")
    eq([x["approval_id"] for x in audit_lines(pid_of(op), "approval")][-1:], [d["approval_id"]], "an approval line")
    run(agent, "UPDATE t SET v = 'audited' WHERE id = 5")
    cid = last_change(agent)
    ch = audit_lines(pid, "change")[-1]
    eq((ch["change_id"], ch["rows"], ch["tables"]), (cid, 1, {"public.t": 1}), "a change line")
    run(agent, f"SELECT interdict.revert({cid})")
    eq(audit_lines(pid, "revert")[-1]["reverts"], cid, "a revert line")
    dba = connect("postgres")
    run(dba, "LOAD 'interdict'")
    refused(dba, "SET interdict.log_statement = 'everything'", "setting.invalid")
    restore_t()

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
    except psycopg2.Error:
        pass

@test
def check_role_reports_findings_with_fixes():
    dba = connect("postgres", "pgtest_check")
    run(dba, "DROP TABLE IF EXISTS weak_t, owned_t")
    run(dba, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'c_owner') THEN CREATE ROLE c_owner; END IF; END $$")
    run(dba, "ALTER ROLE c_weak CREATEDB BYPASSRLS CONNECTION LIMIT -1")
    run(dba, "ALTER ROLE c_weak RESET ALL")  # the other run's fixes undone
    run(dba, "GRANT interdict_operator, pg_write_server_files, c_owner TO c_weak")
    run(dba, "CREATE TABLE weak_t (id int PRIMARY KEY)")
    run(dba, "ALTER TABLE weak_t OWNER TO c_weak")
    run(dba, "CREATE TABLE owned_t (id int PRIMARY KEY)")
    run(dba, "ALTER TABLE owned_t OWNER TO c_owner")
    run(dba, "GRANT INSERT, DELETE ON owned_t TO PUBLIC")
    run(dba, "GRANT CREATE ON SCHEMA public TO c_weak")
    ro = connect("r_sess", "pgtest_check")  # it runs in readonly mode too
    got = run(ro, "SELECT \"check\", severity FROM interdict.check_role('c_weak')")
    want = [("operator", "critical"), ("bypassrls", "high"), ("predefined_role", "high"), ("mode", "high"), ("preload", "high"),
            ("owner", "high"), ("owner_member", "high"), ("createdb", "medium"), ("create_schema", "medium"),
            ("write_grant", "medium"), ("connection_limit", "low"), ("timeouts", "low")]
    if ARGS.label == "shared_preload":
        want.remove(("preload", "high"))  # shared_preload_libraries loads it for every session
    eq(sorted(got), sorted(want), "every weakness found")
    for (fix,) in run(dba, "SELECT fix FROM interdict.check_role('c_weak')"):
        run(dba, fix)  # each fix is SQL that runs as written
    eq(run(dba, "SELECT \"check\" FROM interdict.check_role('c_weak')"), [], "after the fixes, nothing is found")
    eq(run(ro, "SELECT * FROM interdict.check_role('c_good')"), [], "a hardened role")
    eq(refusal(ro, "SELECT * FROM interdict.check_role('no_such_role')")["reason"], "role.unknown", "a missing role")
    run(dba, "DROP TABLE IF EXISTS weak_t, owned_t")

@test
def dry_run_logs_and_counts_instead_of_refusing():
    dry = connect("r_dry")
    eq(one(dry, "SHOW interdict.dry_run"), "on", "set by the DBA")
    pid = pid_of(dry)
    run(dry, "BEGIN")
    eq(len(run(dry, "DELETE FROM t WHERE true RETURNING id")), 10, "the unscoped delete went through")
    run(dry, "ROLLBACK")
    line = audit_lines(pid, "dry_run")[-1]
    eq((line["reason"], line["role"]), ("guarded.unscoped_write", "r_dry"), "logged")
    reader = connect("p_op") if ARGS.label == "shared_preload" else dry
    assert stats_row(reader, "r_dry")[0]["dry_run_would_refuse"] >= 1, "counted"
    refused(dry, "DELETE FROM interdict.approvals WHERE true", "guarded.guard_schema")  # the guard's own protections hold
    run(dry, "SET interdict.dry_run = off")
    refused(dry, "DELETE FROM t WHERE true", "guarded.unscoped_write")
    refused(dry, "SET interdict.dry_run = on", "setting.locked")
    eq(one(connect("r_guard", options="-c interdict.dry_run=on"), "SHOW interdict.dry_run"), "off", "a client cannot turn it on")
    eq(one(connect("postgres"), "SELECT count(*) FROM t"), 10, "nothing changed")

# --- policies ----------------------------------------------------------------------------------

POLICY = """
version: 1
defaults:
  max_rows: 5
  rows: {delete: 2}
  structural:
    truncate: refuse
    unscoped_write: allow
  tables:
    audit.*: {write: false}
    public.secret: {read: false}
    public.t: {structural: {unscoped_write: refuse}}
roles:
  p_report*:
    mode: readonly
    allowed_commands: [ANALYZE]
"""

def load(dba, text):
    return one(dba, "SELECT interdict.load_policy(%s)" % psycopg2.extensions.QuotedString(text).getquoted().decode())

@test
def policy_bad_input_is_refused_and_changes_nothing():
    dba = connect("postgres", "pgtest_policy")
    before = one(dba, "SELECT count(*) FROM interdict.policies")
    d = refusal(dba, "SELECT interdict.load_policy(E'version: 1\\ndefaults:\\n  max_rows: -1\\n')")
    eq((d["reason"], d["line"], d["column"]), ("policy.invalid", "3", "13"), "a limit of -1")
    d = refusal(dba, "SELECT interdict.load_policy(E'version: 1\\nroles:\\n  a:\\n    max_rowz: 5\\n')")
    eq((d["reason"], d["line"]), ("policy.invalid", "4"), "an unknown key")
    assert "max_rowz" in d["error"], d
    eq(refusal(dba, "SELECT interdict.load_policy('version: [')")["reason"], "policy.invalid", "malformed YAML")
    eq(refusal(connect("p_agent", "pgtest_policy"), "SELECT interdict.load_policy('version: 1')")["reason"], "policy.denied", "an agent")
    eq(refusal(connect("r_off", "pgtest_policy"), "SELECT interdict.load_policy('version: 1')")["reason"], "policy.denied", "not superuser or owner")
    eq(one(dba, "SELECT count(*) FROM interdict.policies"), before, "nothing stored")

@test
def policy_limits_tables_structural_rules_and_role_modes():
    load(connect("postgres", "pgtest_policy"), "version: 1\n")  # no limits of its own
    before = connect("p_agent", "pgtest_policy")
    eq(one(before, "SHOW interdict.max_rows"), "1000", "locked before the load")
    version = load(connect("postgres", "pgtest_policy"), POLICY)
    eq(one(before, "SHOW interdict.max_rows"), "1000", "a running session keeps the policy it started with")
    a = connect("p_agent", "pgtest_policy")
    eq(one(a, "SELECT interdict.policy()->>'source'"), f"interdict.policies version {version}", "source")
    eq(one(a, "SHOW interdict.max_rows"), "5", "the policy's max_rows, tighter than the default")
    refused(a, "SET interdict.max_rows = 100", "setting.locked")
    d = refusal(a, "DELETE FROM t WHERE id <= 3")
    eq((d["reason"], d["limit_from"], d["rows_reached"], d["max_rows"]), ("guarded.blast_radius", "policy: delete rows", "3", "2"), "per-operation limit")
    assert "approval_id" in d, d
    run(a, "BEGIN")
    eq(len(run(a, "UPDATE small SET id = id RETURNING 1")), 2, "unscoped_write: allow")
    run(a, "ROLLBACK")
    d = refusal(a, "UPDATE t SET v = v")
    eq(d["reason"], "guarded.unscoped_write", "the table's own rule: unscoped_write refuse on public.t")
    assert "approval_id" not in d, f"refuse: no approval: {d}"
    d = refusal(a, "TRUNCATE t")
    eq(d["reason"], "guarded.truncate", "truncate: refuse")
    assert "approval_id" not in d, f"a policy refusal offers no approval: {d}"
    refused(a, "INSERT INTO audit.log VALUES (1)", "policy.table_write")
    refused(a, "SELECT * FROM secret", "policy.table_read")
    refused(a, "SELECT count(*) FROM t JOIN secret USING (id)", "policy.table_read")
    refused(a, "COPY secret TO STDOUT", "policy.table_read")
    eq(one(a, "SELECT count(*) FROM t"), 10, "other reads work")
    r = connect("p_report_1", "pgtest_policy")
    eq(mode(r), "readonly", "the policy's mode for p_report*")
    refused(r, "DELETE FROM t WHERE id = 1", "readonly.dml")
    run(r, "ANALYZE t")  # the policy's allowed_commands
    refused(r, "VACUUM t", "readonly.maintenance")
    eq(mode(connect("p_report_1", "pgtest")), "off", "no policy in the other database")
    dba = connect("postgres", "pgtest_policy")
    eq(one(dba, "SELECT count(*) FROM t") + one(dba, "SELECT count(*) FROM audit.log"), 10, "nothing changed")

@test
def policy_file_broken_closes_writes_valid_applies():
    dba = connect("postgres", "pgtest_policy")
    path = os.path.join(ARGS.files, f"policy-{ARGS.label}.yaml")
    try:
        run(dba, "LOAD 'interdict'")  # PG < 17: ALTER SYSTEM needs the setting defined
        run(dba, f"ALTER SYSTEM SET interdict.policy_file = '{path}'")
        with open(path, "w") as f:
            f.write("version: 1\ndefaults:\n  max_rows: oops\n")
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        a = connect("p_agent", "pgtest_policy")
        eq(one(a, "SELECT count(*) FROM t"), 10, "reads work")
        d = refusal(a, "INSERT INTO t VALUES (100, 'x')")
        eq((d["reason"], d["refused_as"]), ("policy.unavailable", "readonly.dml"), "no valid policy: no writes")
        refused(a, "SELECT nextval('s')", "policy.unavailable")
        eq(one(a, "SELECT interdict.policy()->>'state'"), "invalid", "policy() says so")
        with open(path, "w") as f:
            f.write("version: 1\ndefaults:\n  max_rows: 3\n")
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        a = connect("p_agent", "pgtest_policy")
        eq(one(a, "SHOW interdict.max_rows"), "3", "the file's policy, over the loaded one")
        eq(one(a, "SELECT interdict.policy()->>'source'"), f"file {path}", "source")
    finally:
        run(dba, "LOAD 'interdict'")
        run(dba, "ALTER SYSTEM RESET interdict.policy_file")
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        restore_t("pgtest_policy")

def main():
    global ARGS
    sys.modules["run"] = sys.modules[__name__]  # adversary.py imports the drivers from this module
    import adversary  # noqa: F401  registers issue 13's tests
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--psql", default="psql", help="the server version's own psql")
    ap.add_argument("--files", default="/tmp", help="a directory the server can read, for policy files")
    ap.add_argument("--log", required=True, help="the server's log file, for the audit trail")
    ARGS = ap.parse_args()
    sys.modules["run"].ARGS = ARGS
    passed = failed = 0
    for fn in TESTS:
        try:
            fn()
            passed += 1
        except Exception as e:
            failed += 1
            print(f"FAIL {ARGS.label} {fn.__name__}: {e}")
            if not isinstance(e, AssertionError):
                traceback.print_exc()
        finally:
            restore_t()  # a failed test leaves the next one the table it expects
    print(f"pg_test {ARGS.label}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
