"""Red team 7 (fourteenth session): PostgreSQL 18, what the thirteenth and fourteenth sessions added.
Each test is the finding's reproduction, asserting what must hold."""
import json, os, struct
from harness import test, connect, run, one, eq, refused, refusal, last_change, ARGS
from test_redteam3 import Fastpath


@test
def redteam7_a_function_run_as_a_plan_starts_is_judged_on_its_own_call():
    """G7 (and G6, G8: the same root): a call's arguments were read from the plan being started,
    and a STABLE PL/pgSQL function that partition pruning calls as a plan starts evaluates its
    simple expressions then, with no plan of their own: `x := pg_terminate_backend(other)` inside it
    was judged on the outer plan (no such call: "only its own backend") and terminated another
    session. Only a call built in the started plan's own memory is read from that plan."""
    dba = connect("postgres")
    run(dba, "DROP TABLE IF EXISTS rt7_parts")
    run(dba, "CREATE TABLE rt7_parts (id int, region text) PARTITION BY LIST (region)")
    run(dba, "CREATE TABLE rt7_parts_eu PARTITION OF rt7_parts FOR VALUES IN ('eu')")
    run(dba, "CREATE TABLE rt7_parts_us PARTITION OF rt7_parts FOR VALUES IN ('us')")
    run(dba, "INSERT INTO rt7_parts VALUES (1, 'eu'), (2, 'us')")
    run(dba, "GRANT SELECT ON rt7_parts TO PUBLIC")
    victim = connect("r_off")
    pid = one(victim, "SELECT pg_backend_pid()")
    agent = connect("r_su")
    f = f"rt7_kill_{ARGS.label}"
    run(agent, f"""CREATE FUNCTION {f}() RETURNS text STABLE LANGUAGE plpgsql AS $$
                   DECLARE x bool;
                   BEGIN
                       IF current_setting('rt7.armed', true) = 'on' THEN x := pg_terminate_backend({pid}); END IF;
                       RETURN 'eu';
                   END $$""")
    run(agent, "SET plan_cache_mode = force_generic_plan")
    run(agent, f"PREPARE rt7_q AS SELECT id FROM rt7_parts WHERE region = {f}() LIMIT 1")
    eq(run(agent, "EXECUTE rt7_q"), [(1,)], "planned once, unarmed")
    run(agent, "SET rt7.armed = 'on'")
    refused(agent, "EXECUTE rt7_q", "guarded.server_admin")  # no planning: the call runs as the plan starts
    eq(one(victim, "SELECT pg_backend_pid()"), pid, "the other session lives")
    run(dba, f"DROP FUNCTION {f}()")
    run(dba, "DROP TABLE rt7_parts")


@test
def a_call_the_walk_does_not_see_is_not_vouched_for():
    """A call's verdict read from the plan (a signal to the session's own process, a constant file
    name) was vouched for by the calls the plan's walk met: a `pg_terminate_backend` in a LIMIT (which
    the walk does not read) rode on a harmless `pg_cancel_backend(pg_backend_pid())` in the target
    list; then (red team 8) in a partition pruned as the plan started, counted but never built. Only a
    bare SELECT of calls (one Result node) vouches for them."""
    dba = connect("postgres")
    victim = connect("r_off")
    pid = one(victim, "SELECT pg_backend_pid()")
    agent = connect("r_su")
    refused(agent, f"SELECT CASE WHEN id < 0 THEN pg_cancel_backend(pg_backend_pid()) END FROM t LIMIT pg_terminate_backend({pid})::int",
            "guarded.server_admin")
    eq(one(victim, "SELECT pg_backend_pid()"), pid, "the other session lives")
    # A bare SELECT of the session's own signal runs (it may cancel itself); in any other plan it does not.
    try:
        run(agent, "SELECT pg_cancel_backend(pg_backend_pid())")
    except __import__("psycopg2").Error as e:
        eq(e.pgcode, "57014", f"cancelled itself, not refused: {e}")
        run(agent, "ROLLBACK")
    refused(agent, "SELECT CASE WHEN id < 0 THEN pg_cancel_backend(pg_backend_pid()) END FROM t LIMIT 1", "guarded.server_admin")


@test
def redteam7_tablespaces_are_the_servers_own_files():
    """G3: a tablespace's files are reached through pg_tblspc, whose links resolve outside the data
    directory: `lo_export(…, 'pg_tblspc/…')` or a COPY to the tablespace's location overwrote a
    table's data file. A tablespace's directory is one of the server's own places."""
    location = os.path.join(ARGS.files, f"rt7_ts_{ARGS.label}")
    os.makedirs(location, exist_ok=True)
    dba = connect("postgres")
    run(dba, f"DROP TABLESPACE IF EXISTS rt7_ts_{ARGS.label}")
    run(dba, f"CREATE TABLESPACE rt7_ts_{ARGS.label} LOCATION '{location}'")
    ts = one(dba, f"SELECT oid FROM pg_tablespace WHERE spcname = 'rt7_ts_{ARGS.label}'")
    agent = connect("r_su")
    refused(agent, f"COPY (SELECT 'x') TO '{location}/x'", "guarded.server_config")  # inside a named directory, still the server's
    refused(agent, f"SELECT lo_export(0, 'pg_tblspc/{ts}/x')", "guarded.server_config")
    run(dba, f"DROP TABLESPACE rt7_ts_{ARGS.label}")


@test
def redteam7_a_fast_path_revert_is_a_statement_of_its_own():
    """G5: after an approved statement, a fast-path call (PQfn) of interdict.revert() ran under that
    statement's approved limit (no statement begins for a fast-path call): it wrote back 40 rows with
    max_rows 20. A call outside any statement starts afresh."""
    dba = connect("postgres")
    run(dba, "DROP TABLE IF EXISTS rt7_fp")
    run(dba, "CREATE TABLE rt7_fp (id int PRIMARY KEY, v text)")
    run(dba, "INSERT INTO rt7_fp SELECT g, 'a' FROM generate_series(1, 40) g")
    run(dba, "SELECT interdict.record('rt7_fp')")
    run(dba, "GRANT ALL ON rt7_fp TO r_guard")
    fp = Fastpath("r_guard")
    try:
        assert fp.exec("UPDATE rt7_fp SET v = 'b' WHERE id <= 40") is None  # 40 rows, max_rows 1000
        big = one(dba, "SELECT max(id) FROM interdict.changes WHERE role_name = 'r_guard'")
        assert fp.exec("SET interdict.max_rows = 20") is None
        sql = f"UPDATE rt7_fp SET v = 'c' WHERE id <= 30 /* {ARGS.label} */"
        error = fp.exec(sql)
        approval = json.loads(error[error.index("{"):])["approval_id"]
        run(dba, f"SELECT interdict.approve('{approval}', max_rows => 100)")
        assert fp.exec(sql) is None, "approved"
        revert = one(dba, "SELECT 'interdict.revert(bigint,boolean)'::regprocedure::oid")
        error = fp.call(revert, struct.pack("!q", big), b"\x00")
        assert error and '"reason":"guarded.blast_radius"' in error, error
        eq(one(dba, "SELECT count(*) FROM rt7_fp WHERE v = 'c'"), 30, "nothing reverted")
    finally:
        fp.close()
    run(dba, "DROP TABLE rt7_fp")


def simulated(conn, sql):
    return one(conn, "SELECT interdict.simulate(%s)" % __import__("psycopg2").extensions.QuotedString(sql).getquoted().decode())


@test
def redteam7_a_refusal_stops_a_simulation():
    """A1, A2, A6, A9: inside simulate() every refusal but simulate.irreversible was recorded and the
    statement ran on in the rolled-back subtransaction: an `internal` function called with the wrong
    type crashed the server, a C function's library stayed loaded, an event trigger ran programs
    while an extension's script ran, an agent's CHECK altered a table mid-revert (crash). The first
    refusal now stops the simulated statement; the report gives it."""
    su = connect("r_su")
    report = simulated(su, """DO $x$ BEGIN
        CREATE FUNCTION pg_temp.rt7_x(bigint) RETURNS text LANGUAGE internal IMMUTABLE STRICT AS 'textout';
        RAISE NOTICE '%', pg_temp.rt7_x(1234567); END $x$""")
    eq((report["verdict"], report["reason"]), ("refused", "guarded.untrusted_code"), "stopped at the internal function")
    report = simulated(su, """DO $x$ BEGIN
        CREATE FUNCTION pg_temp.rt7_evt() RETURNS event_trigger LANGUAGE plpgsql AS $f$ BEGIN RAISE NOTICE 'fired'; END $f$;
        CREATE EVENT TRIGGER rt7_evt ON ddl_command_end EXECUTE FUNCTION pg_temp.rt7_evt(); END $x$""")
    eq((report["verdict"], report["reason"]), ("refused", "guarded.untrusted_code"), "stopped at the event trigger")
    eq(one(su, "SELECT 1"), 1, "the session (and the server) live")

    agent = connect("r_guard")
    t = f"rt7_sim_{ARGS.label}"
    run(agent, f"""CREATE FUNCTION {t}_mid(v int) RETURNS boolean LANGUAGE plpgsql AS $$
                   BEGIN IF current_setting('session_replication_role') = 'replica' THEN
                       EXECUTE 'ALTER TABLE {t}_b ALTER COLUMN c TYPE text'; END IF; RETURN true; END $$""")
    run(agent, f"CREATE TABLE {t}_a (id int PRIMARY KEY, v int CHECK ({t}_mid(v)))")
    run(agent, f"CREATE TABLE {t}_b (id int PRIMARY KEY, c int)")
    run(agent, f"INSERT INTO {t}_a VALUES (1, 1)")
    run(agent, f"INSERT INTO {t}_b VALUES (1073741823, 5)")
    run(agent, f"WITH x AS (DELETE FROM {t}_b WHERE id = 1073741823 RETURNING 1) UPDATE {t}_a SET v = 2 WHERE id = 1")
    report = simulated(agent, f"SELECT interdict.revert({last_change(agent)})")
    eq((report["verdict"], report["reason"]), ("refused", "guarded.bypass"), "the ALTER inside the revert stops it")
    eq(one(agent, "SELECT 1"), 1, "no crash")


@test
def redteam7_a_simulation_leaves_cursors_alone():
    """A4: simulate('CLOSE c') closed the session's cursor for good, simulate('MOVE 5 IN c') moved it:
    a cursor is not undone by the rollback. FETCH, MOVE and CLOSE are simulate.irreversible."""
    agent = connect("r_guard")
    run(agent, "BEGIN")
    run(agent, "DECLARE rt7_c CURSOR FOR SELECT g FROM generate_series(1, 10) g")
    eq(simulated(agent, "MOVE 5 IN rt7_c")["reason"], "simulate.irreversible", "MOVE")
    eq(simulated(agent, "CLOSE rt7_c")["reason"], "simulate.irreversible", "CLOSE")
    eq(one(agent, "FETCH 1 FROM rt7_c"), 1, "the cursor where it was")
    run(agent, "ROLLBACK")


@test
def redteam7_a_simulation_reports_identity_sequences():
    """A5: an identity column's sequence advanced in a simulated INSERT (and stays advanced after the
    rollback) but the report said no sequence moved: the value is drawn without a nextval() call."""
    agent = connect("r_guard")
    t = f"rt7_ident_{ARGS.label}"
    run(agent, f"CREATE TABLE {t} (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)")
    eq(simulated(agent, f"INSERT INTO {t} (v) VALUES ('z')")["sequences_may_have_advanced"], True, "identity")
    eq(simulated(agent, f"UPDATE {t} SET v = 'y'")["sequences_may_have_advanced"], False, "no sequence drawn")


@test
def redteam7_a_simulated_revert_keeps_the_last_change():
    """A8: a simulated revert left interdict.last_change_id() naming the change it rolled back (and
    its notice said "recorded as change N")."""
    agent = connect("r_guard")
    run(agent, "UPDATE t SET v = v WHERE id = 1")
    change = last_change(agent)
    eq(simulated(agent, f"SELECT interdict.revert({change})")["verdict"], "allowed", "simulated")
    eq(one(agent, "SELECT interdict.last_change_id()"), change, "the last change is still the real one")


@test
def redteam8_an_extension_goes_only_where_and_as_the_dba_allowed():
    """Red team 8's C5, C6: CREATE EXTENSION of an allowed extension … SCHEMA pg_catalog put its
    operators into Postgres' own schema (the DBA's array queries changed meaning), … SCHEMA interdict
    into the guard's; CASCADE installed a required extension the DBA never allowed. Each extension a
    statement creates is judged as Postgres makes it, before its script runs."""
    dba = connect("postgres")
    available = {r[0] for r in run(dba, "SELECT name FROM pg_available_extensions WHERE name IN ('pgcrypto', 'earthdistance', 'cube')")}
    if "pgcrypto" in available:
        run(dba, "DROP EXTENSION IF EXISTS pgcrypto")
        su = connect("r_su_ext")  # interdict.allowed_extensions = 'pgcrypto, vector'
        refused(su, "CREATE EXTENSION pgcrypto SCHEMA pg_catalog", "system.protected")
        refused(su, "CREATE EXTENSION pgcrypto SCHEMA interdict", "extension.protected")
        eq(one(dba, "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"), 0, "not created")
        # Red team 9: made elsewhere, then moved into the guard's schema
        run(su, f"CREATE SCHEMA IF NOT EXISTS rt9_s_{ARGS.label}")
        run(su, f"CREATE EXTENSION pgcrypto SCHEMA rt9_s_{ARGS.label}")
        refused(su, "ALTER EXTENSION pgcrypto SET SCHEMA interdict", "extension.protected")
        refused(su, "ALTER EXTENSION pgcrypto SET SCHEMA pg_catalog", "system.protected")
        run(dba, "DROP EXTENSION pgcrypto")
        run(dba, f"DROP SCHEMA rt9_s_{ARGS.label}")
    if {"earthdistance", "cube"} <= available:
        run(dba, "DROP EXTENSION IF EXISTS earthdistance")
        run(dba, "DROP EXTENSION IF EXISTS cube")
        run(dba, "ALTER ROLE r_su_ext SET interdict.allowed_extensions = 'pgcrypto, vector, earthdistance'")
        try:
            su = connect("r_su_ext")
            refused(su, "CREATE EXTENSION earthdistance CASCADE", "guarded.untrusted_code")  # cube is not allowed
            eq(one(dba, "SELECT count(*) FROM pg_extension WHERE extname IN ('cube', 'earthdistance')"), 0, "neither created")
        finally:
            run(dba, "ALTER ROLE r_su_ext SET interdict.allowed_extensions = 'pgcrypto, vector'")


@test
def redteam8_a_lock_closed_as_the_connection_starts_keeps_the_dbas_mode():
    """Red team 8's D/C1 (critical, with shared_preload_libraries): a client option whose check looks
    a name up (default_text_search_config) reached the object-access hook during connection setup,
    before the role's settings were applied; the lock closed then, on the client's
    interdict.mode=off (red team 9: in the other order the lock closed before the client's interdict
    value was seen). The lock never closes during connection setup, and reads the DBA's values
    whenever a client gave interdict ones."""
    for options in ("-c interdict.mode=off -c default_text_search_config=english",
                    "-c default_text_search_config=english -c interdict.mode=off"):  # red team 9: the other order
        agent = connect("r_sess", options=options)
        eq(one(agent, "SHOW interdict.mode"), "readonly", f"the role's mode ({options})")
        refused(agent, "SELECT nextval('s')", "readonly.sequence")
