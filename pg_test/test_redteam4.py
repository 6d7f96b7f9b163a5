"""Red team 4 (PostgreSQL 18, twelfth session). Each test is the finding's reproduction, asserting
what must hold."""
import os, time
from harness import test, connect, run, one, eq, refused, audit_lines, pid_of, ARGS
from test_redteam3 import workers_mode


@test
def redteam4_f1_a_parallel_worker_locks_as_the_user_who_logged_in():
    """The R3 fix read the DBA's values for the worker's session user: a superuser agent that ran
    SET SESSION AUTHORIZATION to the DBA (who has no mode) had workers in the client's mode `off`
    (-c interdict.mode=off), which ran a definer helper's pg_terminate_backend. Workers now read the
    values of the user who logged in."""
    agent = connect("r_su", options="-c interdict.mode=off")
    eq(one(agent, "SHOW interdict.mode"), "guarded", "the leader's lock")
    # Red team 6: SET SESSION AUTHORIZATION is refused in agent sessions now; the workers read the
    # user who logged in all the same.
    refused(agent, "SET SESSION AUTHORIZATION postgres", "setting.locked")
    eq(workers_mode(agent), [("guarded",)], "the worker's mode")


@test
def redteam4_f3_an_agent_session_cannot_flood_the_server_log():
    """RAISE LOG in a loop wrote the server log at 130 MB/s (a full disk stops the cluster). An
    agent session's messages to the server log draw on a budget (1 MiB, then 16 KiB/s): 4 MB of
    RAISE LOG writes about 1 MiB, and the next audit line says how many lines were not written."""
    agent = connect("r_flood")  # a role of its own: with shared memory the budget is the role's
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


@test
def redteam4_g8_simulate_inside_a_writing_statement_leaves_its_change_recorded():
    """simulate() called in the statement that wrote (SELECT run_sql('DELETE …'), interdict.simulate(…))
    flushed the statement's captured rows inside the simulation's subtransaction, which is always
    rolled back: the rows were deleted, the change "recorded" was not. The statement's change is now
    written when the statement ends, and reverting it restores the rows."""
    from test_redteam import drop
    agent, dba = connect("r_guard"), connect("postgres")
    fn = f"rt4_w_{ARGS.label}"
    try:
        run(agent, f"CREATE FUNCTION {fn}() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t WHERE id > 8; RETURN 1; END $$")
        run(agent, f"SELECT {fn}(), interdict.simulate('SELECT 1')")
        eq(one(dba, "SELECT count(*) FROM t"), 8, "the statement's delete")
        change = one(agent, "SELECT id FROM interdict.last_change()")
        run(agent, f"SELECT interdict.revert({change})")
        eq(run(dba, "SELECT id, v FROM t WHERE id > 8 ORDER BY id"), [(9, "v9"), (10, "v10")], "the rows restored")
    finally:
        drop(dba, f"DROP FUNCTION IF EXISTS {fn}()")


@test
def redteam4_g5_no_new_object_in_postgres_own_schemas():
    """CREATE AGGREGATE pg_catalog.array_agg(int8) answered every session's array_agg (the revert's
    conflict check too: a conflicting revert reported success and restored nothing). Creating or
    moving an object into pg_catalog or information_schema is system.protected, whatever names it
    (schema-qualified, or the search path)."""
    from test_redteam import drop
    agent, dba = connect("r_su"), connect("postgres")
    tag = ARGS.label
    try:
        refused(agent, "CREATE AGGREGATE pg_catalog.array_agg(int8) (sfunc = array_append, stype = int8[])", "system.protected")
        refused(agent, f"CREATE FUNCTION information_schema.rt4_f_{tag}() RETURNS int LANGUAGE sql AS 'SELECT 1'", "system.protected")
        run(agent, "SET search_path = pg_catalog")
        refused(agent, f"CREATE FUNCTION rt4_g_{tag}() RETURNS int LANGUAGE sql AS 'SELECT 1'", "system.protected")
        run(agent, "RESET search_path")
        eq(one(dba, "SELECT count(*) FROM pg_proc WHERE proname = 'array_agg' AND pronamespace = 'pg_catalog'::regnamespace"), 2, "Postgres' own two")
        run(agent, f"CREATE FUNCTION public.rt4_h_{tag}() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    finally:
        drop(dba, f"DROP FUNCTION IF EXISTS public.rt4_h_{tag}()", f"DROP FUNCTION IF EXISTS pg_catalog.rt4_g_{tag}()")


@test
def redteam4_g7_another_roles_function_is_not_dropped_for_a_replacement():
    """CREATE OR REPLACE of a DBA's function was refused, but DROP FUNCTION then CREATE FUNCTION of
    the same name was not: the DBA's code calling it by name ran the agent's. Dropping another
    role's function is guarded.untrusted_code."""
    from test_redteam import drop
    agent, dba = connect("r_su"), connect("postgres")
    fn = f"rt4_dbafn_{ARGS.label}"
    try:
        run(dba, f"CREATE FUNCTION {fn}(i int) RETURNS int LANGUAGE sql AS 'SELECT i'")
        refused(agent, f"DROP FUNCTION {fn}(int)", "guarded.untrusted_code")
        eq(one(dba, f"SELECT {fn}(7)"), 7, "the DBA's function in place")
        run(agent, f"CREATE FUNCTION {fn}_own() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        run(agent, f"DROP FUNCTION {fn}_own()")
    finally:
        drop(dba, f"DROP FUNCTION IF EXISTS {fn}(int)", f"DROP FUNCTION IF EXISTS {fn}_own()")


@test
def redteam4_g1_g2_g6_no_agent_function_where_maintenance_or_another_role_runs_it():
    """Routes around the N8 fix: CREATE STATISTICS on the agent's function and an EXCLUDE
    constraint's index (autovacuum's ANALYZE ran the code, deleting rows unrecorded); and a
    superuser agent attaching its function to a DBA's table (a CHECK … NOT VALID, a default) or a
    DBA's view (CREATE OR REPLACE VIEW). Each is guarded.untrusted_code; the agent's own table may
    call its function in a CHECK (that runs elsewhere only as readonly code)."""
    from test_redteam import drop
    agent, su, dba = connect("r_guard"), connect("r_su"), connect("postgres")
    tag = ARGS.label
    own, fn, sufn, dbat, dbav = f"rt4_own_{tag}", f"rt4_fn_{tag}", f"rt4_sufn_{tag}", f"rt4_dbat_{tag}", f"rt4_dbav_{tag}"
    try:
        run(agent, f"CREATE FUNCTION {fn}(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN i; END $$")
        run(agent, f"CREATE TABLE {own} (id int PRIMARY KEY, v int)")
        refused(agent, f"CREATE STATISTICS {own}_s ON ({fn}(v)) FROM {own}", "guarded.untrusted_code")
        refused(agent, f"ALTER TABLE {own} ADD CONSTRAINT {own}_x EXCLUDE USING btree (({fn}(v)) WITH =)", "guarded.untrusted_code")
        eq(one(dba, f"SELECT count(*) FROM pg_statistic_ext WHERE stxrelid = '{own}'::regclass"), 0, "no statistics")
        eq(one(dba, f"SELECT count(*) FROM pg_index WHERE indrelid = '{own}'::regclass"), 1, "the key only")
        run(agent, f"ALTER TABLE {own} ADD CONSTRAINT {own}_c CHECK ({fn}(v) >= 0)")
        run(dba, f"CREATE TABLE {dbat} (id int PRIMARY KEY, v int)")
        run(dba, f"CREATE VIEW {dbav} AS SELECT 1 AS x")
        run(su, f"CREATE FUNCTION {sufn}(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN i; END $$")
        refused(su, f"ALTER TABLE {dbat} ADD CONSTRAINT {dbat}_c CHECK ({sufn}(id) > 0) NOT VALID", "guarded.untrusted_code")
        refused(su, f"ALTER TABLE {dbat} ALTER COLUMN v SET DEFAULT {sufn}(1)", "guarded.untrusted_code")
        refused(su, f"CREATE OR REPLACE VIEW {dbav} AS SELECT {sufn}(1) AS x", "guarded.untrusted_code")
        eq(one(dba, f"SELECT count(*) FROM pg_constraint WHERE conrelid = '{dbat}'::regclass AND contype = 'c'"), 0, "no CHECK on the DBA's table")
        eq(one(dba, f"SELECT x FROM {dbav}"), 1, "the DBA's view as it was")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {own}, {dbat} CASCADE", f"DROP VIEW IF EXISTS {dbav}",
             f"DROP FUNCTION IF EXISTS {fn}(int)", f"DROP FUNCTION IF EXISTS {sufn}(int)")


def bump_table(agent, tag):
    """The agent's table of 40 rows and its function that updates one row by id."""
    table, fn = f"rt4_b_{tag}", f"rt4_bump_{tag}"
    run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
    run(agent, f"INSERT INTO {table} SELECT g, 0 FROM generate_series(1, 40) g")
    run(agent, f"CREATE FUNCTION {fn}(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN UPDATE {table} SET v = v + 1 WHERE id = i; RETURN 1; END $$")
    return table, fn


@test
def redteam4_g4_a_portal_run_in_pieces_around_another_is_judged_as_itself():
    """Extended protocol: a portal executed in pieces with another portal run in between lost its
    statement state to the other: its count began again, its change was recorded under the other
    statement's text, and its refusal's approval id named no statement. Each piece run after
    another statement is now a statement of its own with the portal's own text: recorded under it,
    refused past the limit within the piece, its approval id bound to it."""
    from test_redteam import drop
    from wire import Wire
    dba, agent = connect("postgres"), connect("r_guard")
    tag = ARGS.label
    table, fn = bump_table(agent, tag)
    sql = f"SELECT {fn}(id) FROM {table} ORDER BY id"
    wire = Wire("r_guard")
    try:
        wire.query("SET interdict.max_rows = 20")
        wire.query("BEGIN")
        wire.parse("w", sql)
        wire.parse("o", "SELECT 1")
        wire.bind("p1", "w")
        for piece in range(3):
            wire.execute("p1", 6)
            wire.bind(f"p{piece + 2}", "o")
            wire.execute(f"p{piece + 2}")
        wire.execute("p1", 15)  # 33 rows in all, 15 in this piece
        out = wire.sync()
        errors = [m for k, m in out if k == "E"]
        eq(errors, [], "pieces within the limit")
        wire.query("COMMIT")
        texts = run(dba, f"SELECT DISTINCT statement FROM interdict.changes WHERE role_name = 'r_guard' AND table_names @> ARRAY['public.{table}'] AND statement NOT LIKE 'INSERT INTO %'")
        eq(texts, [(sql,)], "every piece recorded under the portal's own text")
        eq(one(dba, f"SELECT sum(v) FROM {table}"), 33, "18 + 15 rows bumped")
        wire.query("BEGIN")
        wire.bind("q1", "w")
        wire.execute("q1", 5)
        wire.bind("q2", "o")
        wire.execute("q2")
        wire.execute("q1", 25)
        out = wire.sync()
        errors = [m for k, m in out if k == "E"]
        eq(len(errors), 1, "one refusal")
        assert '"reason":"guarded.blast_radius"' in errors[0].get("D", ""), errors[0]
        wire.query("ROLLBACK")
    finally:
        wire.close()
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP FUNCTION IF EXISTS {fn}(int)")


@test
def redteam4_g3_a_held_cursors_work_at_commit_is_bound_to_its_own_text():
    """A WITH HOLD cursor's query runs to its end at COMMIT; its refusal's approval id was made of
    "(no statement)", the same for every cursor of the role: approving one let another run. The
    work is now the cursor's own statement: two cursors' refusals carry two ids."""
    from test_redteam import drop
    from harness import refusal
    dba, agent = connect("postgres"), connect("r_guard")
    tag = ARGS.label
    table, fn = bump_table(agent, tag)
    try:
        run(agent, "SET interdict.max_rows = 20")
        first = refusal(agent, f"BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT {fn}(id) FROM {table}; COMMIT")
        second = refusal(agent, f"BEGIN; DECLARE d CURSOR WITH HOLD FOR SELECT {fn}(id) FROM {table} WHERE id > 5; COMMIT")
        eq((first["reason"], second["reason"]), ("guarded.blast_radius", "guarded.blast_radius"))
        assert first["approval_id"] != second["approval_id"], (first, second)
        eq(one(dba, f"SELECT sum(v) FROM {table}"), 0, "nothing bumped")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP FUNCTION IF EXISTS {fn}(int)")
