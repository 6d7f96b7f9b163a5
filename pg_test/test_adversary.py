"""Issue 13: what an adversarial agent tried, as classes, each from its mechanism.

Registered into harness.TESTS (imported by run.py); uses the drivers of harness.py.
"""
import json, os, subprocess
import psycopg2
import harness as h
from harness import test, connect, run, one, eq, refused, refusal, mode, restore_t, last_change, ARGS

def notices(conn):
    return [n for n in conn.notices if "HOSTILE" in n]

# --- class 1: the guard's own SQL is immune to the session's name resolution ----------------------

HOSTILE_PATH = "hostile, pg_catalog, public"

@test
def hostile_objects_never_run_inside_the_guard():
    """Operators, functions and types an agent planted in a schema it writes and in pg_temp, first in
    its search_path, are never called by the guard's own SQL (record, revert, history, last_change,
    simulate, approve/deny, pending, policy load, check_role, the lock's reads)."""
    opts = f"-c search_path={HOSTILE_PATH.replace(' ', '')}"
    agent = connect("r_guard", options=opts)
    run(agent, "SET interdict.max_rows = 1")
    # Temporary objects that would shadow the catalog and the guard's tables (pg_temp is searched
    # first for relations and types unless named later in the path).
    for sql in ["CREATE TEMP TABLE changes (id bigint)", "CREATE TEMP TABLE change_rows (change_id bigint)",
                "CREATE TEMP TABLE approvals (id pg_catalog.text)", "CREATE TEMP TABLE pg_index (indexrelid oid)",
                "CREATE TEMP TABLE pg_attribute (attrelid oid)", "CREATE TEMP TABLE pg_db_role_setting (setrole oid)",
                "CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (hostile.watch(VALUE))",
                "CREATE DOMAIN pg_temp.oid AS pg_catalog.oid CHECK (hostile.watch(VALUE))"]:
        run(agent, sql)
    agent.notices.clear()
    tag = h.ARGS.label
    run(agent, f"UPDATE t SET v = 'hostile {tag}' WHERE id OPERATOR(pg_catalog.=) 1")            # record
    cid = one(agent, "SELECT id FROM interdict.last_change()")                                   # last_change
    run(agent, "SELECT * FROM interdict.history(5)")                                              # history
    run(agent, f"SELECT interdict.revert({cid})")                                                 # revert
    run(agent, "SELECT interdict.simulate('UPDATE t SET v = v WHERE id OPERATOR(pg_catalog.=) 2')")  # simulate
    d = refusal(agent, f"DELETE FROM t WHERE id OPERATOR(pg_catalog.>) 8 /* hostile {tag} */")    # approval id
    op = connect("p_op", options=opts)
    op.notices.clear()
    run(op, f"SELECT interdict.approve('{d['approval_id']}', max_rows => 2)")                     # approve
    d2 = refusal(agent, f"DELETE FROM t WHERE id OPERATOR(pg_catalog.>) 7 /* hostile deny {tag} */")
    run(op, f"SELECT interdict.deny('{d2['approval_id']}')")                                       # deny
    if tag == "shared_preload":
        run(op, "SELECT * FROM interdict.pending()")                                              # pending
    run(agent, f"DELETE FROM t WHERE id OPERATOR(pg_catalog.>) 8 /* hostile {tag} */")            # consume
    run(agent, "SELECT * FROM interdict.check_role('r_guard')")                                   # check_role
    dba = connect("postgres", options=opts)
    dba.notices.clear()
    run(dba, "SELECT interdict.load_policy('version: 1')")                                        # policy load
    # The lock's reads: a client's mode=off, with the hostile path, against the DBA's modes.
    ro = connect("r_sess", options=f"{opts} -c interdict.mode=off")
    eq(mode(ro), "readonly", "the lock reads the DBA's settings whatever the session resolves")
    eq(mode(connect("r_guard", options=f"{opts} -c interdict.mode=off")), "guarded", "guarded role")
    eq(one(agent, "SHOW search_path").replace(" ", ""), HOSTILE_PATH.replace(" ", ""), "the session's own path is back")
    for who, conn in [("agent", agent), ("operator", op), ("dba", dba), ("readonly", ro)]:
        eq(notices(conn), [], f"hostile objects called in the {who}'s session")
    restore_t()

@test
def guard_sql_ignores_a_path_of_only_a_hostile_schema():
    """With search_path set to the hostile schema alone (pg_catalog then comes first, implicitly) and
    with pg_catalog named after it, nothing in it is called."""
    for path in ["hostile", "hostile,pg_catalog", "pg_temp,hostile,pg_catalog"]:
        agent = connect("r_guard", options=f"-c search_path={path}")
        agent.notices.clear()
        run(agent, f"UPDATE public.t SET v = 'p' WHERE id OPERATOR(pg_catalog.=) 3 /* {path} */")
        run(agent, f"SELECT interdict.revert((SELECT id FROM interdict.last_change()))")
        run(agent, "SELECT count(*) FROM interdict.history()")
        eq(notices(agent), [], f"hostile objects called with search_path={path}")
    restore_t()

# --- class 3: parameter lists of every kind; deferred triggers ------------------------------------

@test
def deferred_plpgsql_trigger_write_is_recorded_not_crashed():
    """A deferred constraint trigger in PL/pgSQL, whose statements carry PL/pgSQL variables (a
    parameter list with a fetch hook and no array), writes one row at commit: recorded, no error."""
    agent = connect("r_guard")
    run(agent, f"INSERT INTO d_src VALUES ({1000 + (1 if h.ARGS.label == 'shared_preload' else 0)}, 1)")
    eq(one(agent, "SELECT count(*) FROM d_log WHERE src_id >= 1000"), 1, "the deferred trigger's row")
    stmt = one(connect("postgres"), "SELECT statement FROM interdict.changes ORDER BY id DESC LIMIT 1")
    assert stmt.startswith("(deferred triggers at commit)"), stmt
    run(connect("postgres"), "DELETE FROM d_log; DELETE FROM d_src")

# --- class 4: the blast radius holds for everything one statement causes ---------------------------

@test
def copy_from_rows_count_toward_the_limit():
    agent = connect("r_guard")
    run(agent, "SET interdict.max_rows = 5")
    cur = agent.cursor()
    data = "".join(f"{100 + i}\tcopied\n" for i in range(6))
    try:
        cur.copy_expert("COPY t FROM STDIN", __import__("io").StringIO(data))
        raise AssertionError("COPY of 6 rows allowed with max_rows 5")
    except psycopg2.Error as e:
        eq(json.loads(e.diag.message_detail)["reason"], "guarded.blast_radius", "COPY FROM refused")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "nothing loaded")
    cur.copy_expert("COPY t FROM STDIN", __import__("io").StringIO(data[: data.index("105")]))
    eq(one(agent, "SELECT count(*) FROM t"), 15, "5 rows load")
    run(agent, "SELECT interdict.revert((SELECT id FROM interdict.last_change()))")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "and are reverted")

@test
def commit_inside_a_procedure_does_not_reset_the_count():
    agent = connect("r_guard")
    run(agent, "SET interdict.max_rows = 20")
    d = refusal(agent, "CALL insert_batches(3, 10)")  # 10 rows, COMMIT, 10 rows, COMMIT, 10 rows
    eq((d["reason"], d["rows_reached"]), ("guarded.blast_radius", "21"), "refused at limit + 1 across commits")
    eq(one(agent, "SELECT count(*) FROM batch"), 20, "the two committed batches stay, the third went")
    d = refusal(agent, "DO $$ BEGIN FOR i IN 1..3 LOOP INSERT INTO batch SELECT 1000 * i + g FROM generate_series(1, 10) g; COMMIT AND CHAIN; END LOOP; END $$")
    eq((d["reason"], d["rows_reached"]), ("guarded.blast_radius", "21"), "COMMIT AND CHAIN in DO")
    run(connect("postgres"), "DELETE FROM batch")

@test
def deferred_trigger_work_at_commit_has_one_limit():
    agent = connect("r_guard")
    run(agent, "SET interdict.max_rows = 20")
    # Each insert queues a deferred trigger that writes 5 rows at commit: 25 rows, one limit.
    d = refusal(agent, "BEGIN; " + " ".join(f"INSERT INTO d_src VALUES ({i}, 5);" for i in range(1, 6)) + " COMMIT")
    eq((d["reason"], d["rows_reached"]), ("guarded.blast_radius", "21"), "refused at commit, at limit + 1")
    eq(one(agent, "SELECT count(*) FROM d_src") + one(agent, "SELECT count(*) FROM d_log"), 0, "nothing committed")

# --- class 5: session_replication_role cannot change in agent modes --------------------------------

@test
def session_replication_role_is_locked_by_every_route():
    # A superuser agent may set it in every way; an ordinary one through a superuser's definer helper.
    su = connect("r_su")
    for sql in ["SELECT set_config('session_replication_role', 'replica', false)", "SELECT replica_role_fn()",
                "SELECT definer_replica()", "SET session_replication_role = replica",
                "BEGIN; SET LOCAL session_replication_role = local; COMMIT"]:
        refused(su, sql, "guarded.bypass")
    eq(one(su, "SHOW session_replication_role"), "origin", "superuser agent: still origin")
    for role, code in [("r_guard", "guarded.bypass"), ("r_sess", "readonly.transaction_mode")]:
        c = connect(role)
        refused(c, "SELECT definer_replica()", code)
        eq(one(c, "SHOW session_replication_role"), "origin", f"{role}: still origin")
    d = refusal(su, "SELECT set_config('session_replication_role', 'replica', false)")
    assert "approval_id" not in d, "no approval lets it change"
    started = connect("r_su", options="-c session_replication_role=replica")
    eq(one(started, "SHOW session_replication_role"), "origin", "a superuser client's startup value is brought back to origin")
    eq(one(connect("r_off"), "SELECT definer_replica()"), "replica", "mode off: untouched")

# --- class 6: the audit trail's settings only tighten ----------------------------------------------

@test
def logging_settings_only_tighten_in_agent_modes():
    su = connect("r_su_log")  # superuser agent; the DBA set log_statement = 'all' for it
    eq(one(su, "SHOW log_statement"), "all", "the DBA's value")
    for sql in ["SET log_statement = 'ddl'", "SET log_min_messages = panic", "SET log_min_error_statement = panic",
                "SET log_error_verbosity = terse", "SELECT set_config('log_min_messages', 'fatal', false)",
                "SET interdict.log_statement = 'none'", "SELECT quiet_logs()"]:
        refused(su, sql, "setting.locked")
    run(su, "SET log_min_messages = debug1")       # tighter: allowed
    run(su, "SET log_min_duration_statement = 0")
    run(su, "SET log_error_verbosity = verbose")
    run(su, "RESET log_min_messages")
    eq(one(su, "SHOW log_min_messages"), "warning", "back to the DBA's value, not below")
    eq(one(su, "SHOW log_statement"), "all", "unchanged")
    refused(connect("r_guard"), "SELECT definer_quiet_logs()", "setting.locked")  # an ordinary agent, through a definer helper
    client = connect("r_su_log", options="-c log_min_messages=panic -c log_statement=none")
    eq((one(client, "SHOW log_min_messages"), one(client, "SHOW log_statement")), ("warning", "all"),
       "a superuser client's startup values cannot loosen the DBA's")

# --- class 8: approvals bind what the statement resolves to ----------------------------------------

@test
def approval_is_bound_to_the_objects_not_the_text():
    """An approval given while another table of the same name came first in the search path does
    not let the same text through against the real table."""
    tag = h.ARGS.label
    shadowing = connect("r_guard", options="-c search_path=hostile,public")
    run(shadowing, f"CREATE TABLE IF NOT EXISTS hostile.t_{tag} (id int PRIMARY KEY)")
    run(connect("postgres"), f"CREATE TABLE IF NOT EXISTS public.t_{tag} (id int PRIMARY KEY); INSERT INTO public.t_{tag} SELECT generate_series(1, 5) ON CONFLICT DO NOTHING; GRANT ALL ON public.t_{tag} TO PUBLIC; SELECT interdict.record('public.t_{tag}')")
    sql = f"TRUNCATE t_{tag}"
    shadowed = refusal(shadowing, sql)
    eq(shadowed["reason"], "guarded.truncate", "refused while hostile.t shadows public.t")
    run(connect("p_op"), f"SELECT interdict.approve('{shadowed['approval_id']}')")
    agent = connect("r_guard")
    real = refusal(agent, sql)
    eq(real["reason"], "guarded.truncate", "the same text over the real table is refused again")
    assert real["approval_id"] != shadowed["approval_id"], "another object, another approval id"
    eq(one(agent, f"SELECT count(*) FROM t_{tag}"), 5, "the real table untouched")
    eq(refusal(agent, sql)["approval_id"], real["approval_id"], "stable for the same objects")
    run(shadowing, sql)  # the approved statement itself goes through, once
    # The session's own temporary tables are scratch: truncating or dropping one needs no approval.
    run(agent, "CREATE TEMP TABLE scratch_t (id int)")
    run(agent, "TRUNCATE scratch_t")
    run(agent, "DROP TABLE scratch_t")

# --- class 9: what was wrongly refused ---------------------------------------------------------------

@test
def where_current_of_is_scoped():
    agent = connect("r_guard")
    agent.autocommit = False
    run(agent, "DECLARE c CURSOR FOR SELECT * FROM t WHERE id > 2 ORDER BY id FOR UPDATE")
    run(agent, "FETCH c")
    run(agent, "UPDATE t SET v = 'current' WHERE CURRENT OF c")
    run(agent, "FETCH c")
    run(agent, "DELETE FROM t WHERE CURRENT OF c")
    agent.commit()
    agent.autocommit = True
    eq(one(agent, "SELECT count(*) FROM t"), 9, "one row deleted")
    eq(one(agent, "SELECT v FROM t WHERE id = 3"), "current", "one row updated")
    restore_t()

@test
def large_objects_read_in_readonly():
    dba = connect("postgres")
    oid = one(dba, "SELECT lo_from_bytea(0, 'readable')")
    run(dba, f"GRANT SELECT, UPDATE ON LARGE OBJECT {oid} TO r_sess")  # so that the guard, not a privilege, refuses
    ro = connect("r_sess")
    ro.autocommit = False
    eq(one(ro, f"SELECT convert_from(loread(lo_open({oid}, 262144), 100), 'UTF8')"), "readable", "lo_open(INV_READ) + loread")
    ro.rollback()
    lo = ro.lobject(oid, "rb")  # libpq's fast path, as psql's \lo_export
    eq(lo.read(), b"readable", "fast-path read")
    ro.rollback()
    ro.autocommit = True
    refused(ro, f"SELECT lo_open({oid}, 131072)", "readonly.large_object")         # INV_WRITE, a constant
    refused(ro, f"SELECT lowrite(lo_open({oid}, 393216), 'x')", "readonly.large_object")  # the write itself
    ro.autocommit = False
    try:
        # A mode computed at run time: 15 opens, and the write through it is refused; from 16 core
        # refuses the open itself (be-fsstubs.c), with the guard's reason code added.
        d = refusal(ro, f"SELECT lowrite(lo_open({oid}, (SELECT 131072)), 'x')")
        eq(d["reason"], "readonly.large_object", "a computed INV_WRITE mode")
    finally:
        ro.rollback()
    run(dba, f"SELECT lo_unlink({oid})")

@test
def session_temp_tables_are_scratch_in_guarded():
    agent = connect("r_guard")
    run(agent, "SET interdict.max_rows = 5")
    run(agent, "CREATE TEMP TABLE scratch (id int PRIMARY KEY, v text)")
    run(agent, "INSERT INTO scratch SELECT g, 'x' FROM generate_series(1, 100) g")  # 100 rows, limit 5: scratch
    run(agent, "UPDATE scratch SET v = 'y'")                                        # unscoped, on scratch
    run(agent, "DELETE FROM scratch")
    eq(one(agent, "SELECT count(*) FROM scratch"), 0, "")
    run(agent, "CREATE TEMP TABLE relay (id int)")
    run(agent, "CREATE FUNCTION pg_temp.relay_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.t VALUES (NEW.id, 'relayed'); RETURN NEW; END $$")
    run(agent, "CREATE TRIGGER relay_t AFTER INSERT ON relay FOR EACH ROW EXECUTE FUNCTION pg_temp.relay_fn()")
    d = refusal(agent, "INSERT INTO relay SELECT g FROM generate_series(101, 110) g")
    eq((d["reason"], d["rows_reached"]), ("guarded.blast_radius", "6"), "writes a temporary table's trigger makes in a real one count")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "")

# --- class 10: errors from beneath pass through untouched --------------------------------------------

TRANSPARENCY = r"""
\set VERBOSITY verbose
\set SHOW_CONTEXT always
CREATE TEMP TABLE tt (id int PRIMARY KEY, v text CHECK (v <> 'bad'));
CREATE VIEW pg_temp.vv AS SELECT no_such_column FROM tt;
CREATE TEMP VIEW vv AS SELECT * FROM no_such_table;
PREPARE p AS SELECT nope FROM tt;
CREATE TEMP TABLE ll (LIKE no_such_table);
INSERT INTO tt VALUES (1, 'a');
INSERT INTO tt VALUES (1, 'b');
INSERT INTO tt VALUES (2, 'bad');
UPDATE tt SET v = (1 / 0)::text WHERE id = 1;
SELECT 1 / 0 FROM tt;
CREATE FUNCTION pg_temp.f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM * FROM no_such_table; END $$;
SELECT pg_temp.f();
DO $$ BEGIN PERFORM * FROM also_missing; END $$;
DO $$ BEGIN EXECUTE 'SELECT * FROM tt WHERE nope = 1'; END $$;
CREATE FUNCTION pg_temp.g() RETURNS int LANGUAGE sql AS $$ SELECT 1 / 0 $$;
SELECT pg_temp.g();
CREATE FUNCTION pg_temp.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO missing_log VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER tt_trg BEFORE INSERT ON tt FOR EACH ROW EXECUTE FUNCTION pg_temp.trg();
INSERT INTO tt VALUES (3, 'c');
COPY tt FROM STDIN;
4	d
x	e
\.
SELECT * FROM tt WHERE id = 'x';
EXPLAIN SELECT * FROM tt WHERE nope;
CREATE INDEX ON tt (nope);
ALTER TABLE tt ADD COLUMN w int DEFAULT 1 / 0;
WITH w AS (SELECT nope) SELECT 1;
"""

def psql_output(role, db, script):
    env = dict(os.environ, PGOPTIONS="")
    out = subprocess.run([h.ARGS.psql, "-X", "-h", h.ARGS.host, "-p", str(h.ARGS.port), "-U", role, "-d", db, "-a", "-f", "-"],
                         input=script, capture_output=True, text=True, env=env)
    import re
    return re.sub(r"pg_temp_\d+", "pg_temp_N", out.stdout + out.stderr)

@test
def errors_from_beneath_reach_the_client_untouched():
    """The same failing statements, at various depths, loaded in mode off and not loaded: identical
    output with VERBOSITY verbose (position, internal query, context, schema/table/column names)."""
    loaded, absent = psql_output("r_off", "pgtest", TRANSPARENCY), psql_output("r_none", "pgtest", TRANSPARENCY)
    if loaded != absent:
        import difflib
        diff = "\n".join(difflib.unified_diff(absent.splitlines(), loaded.splitlines(), "not loaded", "mode off", lineterm=""))
        raise AssertionError("output differs:\n" + diff[:4000])
    assert "LINE 1:" in loaded and "CONTEXT:" in loaded and "SCHEMA NAME:" in loaded, "the script exercised positions, contexts and names"

# --- issue 14: guarded mode for superuser agents ---------------------------------------------------

@test
def simulate_runs_nothing_a_rollback_cannot_undo():
    agent = connect("r_guard")
    for sql in ["LOAD ''auto_explain''", "PREPARE sim_p AS SELECT 1", "DISCARD PLANS", "CHECKPOINT", "COMMIT", "SAVEPOINT s", "BEGIN"]:
        verdict = one(agent, f"SELECT interdict.simulate('{sql}')")
        eq((verdict["verdict"], verdict.get("reason")), ("refused", "simulate.irreversible"), sql)
    try:
        run(agent, "EXECUTE sim_p")
        raise AssertionError("a simulated PREPARE left a prepared statement")
    except psycopg2.Error as e:
        eq(e.pgcode, "26000", "no such prepared statement")
    eq(one(agent, "SELECT interdict.simulate('UPDATE t SET v = v WHERE id = 1')")["verdict"], "allowed", "a plain write is simulated")

@test
def extensions_only_from_the_dba_list():
    su = connect("r_su_ext")  # superuser agent, interdict.allowed_extensions = 'pgcrypto, vector'
    dba = connect("postgres")
    ext = one(dba, "SELECT min(name) FROM pg_available_extensions WHERE name IN ('pgcrypto', 'vector')")
    refused(su, "CREATE EXTENSION IF NOT EXISTS hstore", "guarded.untrusted_code")
    refused(su, "SET interdict.allowed_extensions = 'pgcrypto, vector, hstore'", "setting.locked")
    if ext is None:
        return  # this server ships neither allowed extension (the 16 wheel ships pgvector only under that name)
    run(dba, f"DROP EXTENSION IF EXISTS {ext}")
    run(su, f"CREATE EXTENSION {ext}")
    eq(one(su, f"SELECT count(*) FROM pg_extension WHERE extname = '{ext}'"), 1, "the allowed extension, its C functions included")
    run(su, "SET interdict.allowed_extensions = ''")  # shrinking is fine
    run(dba, f"DROP EXTENSION IF EXISTS {ext}")
    refused(su, f"CREATE EXTENSION {ext}", "guarded.untrusted_code")

@test
def replication_connections_of_agent_roles_are_refused():
    if h.ARGS.label != "shared_preload":
        return  # loaded per session, a walsender never loads the library: documented, see the README
    try:
        psycopg2.connect(host=h.ARGS.host, port=h.ARGS.port, dbname="pgtest", user="r_su", replication="database")
        raise AssertionError("a replication connection of a guarded superuser agent was accepted")
    except psycopg2.Error as e:
        assert '"reason":"session.replication"' in str(e), e
    conn = psycopg2.connect(host=h.ARGS.host, port=h.ARGS.port, dbname="pgtest", user="postgres", replication="database")
    conn.close()  # a DBA's replication connection is not an agent's

@test
def superuser_agent_cannot_touch_the_guard_objects():
    su = connect("r_su")
    for sql in ["CREATE OR REPLACE FUNCTION interdict.capturing() RETURNS boolean LANGUAGE sql AS 'SELECT false'",
                "ALTER EVENT TRIGGER interdict_record_new_tables DISABLE",
                "SELECT setval('interdict.changes_id_seq', 1)",
                "ALTER SEQUENCE interdict.changes_id_seq RESTART",
                "ALTER FUNCTION interdict.capture() SECURITY DEFINER",
                "DROP FUNCTION interdict.capturing() CASCADE",
                "DROP SCHEMA interdict CASCADE",
                "ALTER EXTENSION interdict UPDATE",
                "COMMENT ON SCHEMA interdict IS 'x'"]:
        refused(su, sql, "extension.protected")
    eq(one(connect("postgres"), "SELECT prosrc FROM pg_proc WHERE proname = 'capturing'"), "capturing_wrapper", "the recording switch is the guard's own")
    refused(su, "SELECT pg_terminate_backend(pg_backend_pid() + 1)", "guarded.server_admin")
    d = refusal(su, "CREATE FUNCTION my_exec(text, text) RETURNS text AS '$libdir/dblink', 'dblink_exec' LANGUAGE C")
    assert d["reason"] == "guarded.untrusted_code" and "approval_id" not in d, d

# --- issue 15: what later versions add -------------------------------------------------------------

def server_version(conn):
    return int(one(conn, "SHOW server_version_num"))

@test
def virtual_generated_columns_round_trip_through_undo():
    dba = connect("postgres")
    if server_version(dba) < 180000:
        return  # 18 added virtual generated columns
    table = f"vgen_{h.ARGS.label}"
    run(dba, f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) VIRTUAL, c int GENERATED ALWAYS AS (a + 1) STORED)")
    run(dba, f"INSERT INTO {table} (id, a) SELECT g, g FROM generate_series(1, 5) g; GRANT ALL ON {table} TO PUBLIC; SELECT interdict.record('{table}')")
    before = run(dba, f"SELECT * FROM {table} ORDER BY id")
    agent = connect("r_guard")
    changes = []
    for sql in [f"UPDATE {table} SET a = a + 100 WHERE id OPERATOR(pg_catalog.<=) 2", f"DELETE FROM {table} WHERE id OPERATOR(pg_catalog.=) 3",
                f"INSERT INTO {table} (id, a) VALUES (9, 9)"]:
        run(agent, sql)
        changes.append(last_change(agent))
    eq(one(agent, f"SELECT b FROM {table} WHERE id = 1"), 202, "the virtual column computes from the new value")
    run(agent, f"SELECT interdict.revert(ARRAY{changes}::bigint[])")
    eq(run(dba, f"SELECT * FROM {table} ORDER BY id"), before, "reverted exactly, generated columns computed again")

@test
def transaction_timeout_is_a_fourth_ceiling():
    c = connect("r_sess")
    if server_version(c) < 170000:
        return  # 17 added transaction_timeout
    eq(one(c, "SHOW interdict.max_transaction_timeout"), "5min", "the default ceiling")
    eq(one(c, "SHOW transaction_timeout"), "5min", "0 (none) from the server is capped at the ceiling")
    refused(c, "SET transaction_timeout = 0", "setting.ceiling")
    refused(c, "SET transaction_timeout = '1h'", "setting.ceiling")
    run(c, "SET transaction_timeout = '10s'")
    eq(one(c, "SHOW transaction_timeout"), "10s", "lowered")

@test
def a_recording_trigger_that_records_nothing_does_not_make_a_table_recorded():
    """An agent that owns a table with a key but no recording trigger cannot make its writes look
    recorded with a trigger of interdict.capture() of its own that never records: a WHEN that is
    never true, a column list, or only some of the operations. Writes stay refused; interdict.record()
    makes the table recorded, and only its trigger records (no row twice)."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"fake_rec_{h.ARGS.label}"
    run(agent, f"CREATE TABLE {table} (id int, v text)")  # no key: not recorded as it is created
    run(agent, f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    eq(refusal(agent, f"INSERT INTO {table} VALUES (1, 'a')")["reason"], "guarded.not_reversible", "not recorded")
    fakes = [
        f"CREATE TRIGGER f1 AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW WHEN (false) EXECUTE FUNCTION interdict.capture()",
        f"CREATE TRIGGER f2 AFTER INSERT OR UPDATE OF v OR DELETE ON {table} FOR EACH ROW WHEN (interdict.capturing() AND false) EXECUTE FUNCTION interdict.capture()",
        f"CREATE TRIGGER f3 AFTER INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION interdict.capture()",
        f"CREATE TRIGGER f4 AFTER DELETE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION interdict.capture()",
        f"CREATE TRIGGER interdict_capture AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW WHEN (NOT interdict.capturing()) EXECUTE FUNCTION interdict.capture()",
    ]
    for sql in fakes:
        run(agent, sql)
        eq(refusal(agent, f"INSERT INTO {table} VALUES (1, 'a')")["reason"], "guarded.not_reversible", sql)
    run(agent, f"CREATE TRIGGER f5 AFTER UPDATE OF v ON {table} FOR EACH ROW WHEN (interdict.capturing()) EXECUTE FUNCTION interdict.capture()")
    eq(refusal(agent, f"DELETE FROM {table} WHERE id = 1")["reason"], "guarded.not_reversible", "a column list covers no DELETE")
    eq(one(dba, f"SELECT count(*) FROM {table}"), 0, "nothing written")
    eq(one(dba, f"SELECT interdict.is_recorded('{table}')"), False, "not recorded, its interdict_capture trigger made by hand")
    eq(one(dba, f"SELECT interdict.record('{table}')"), True, "a DBA records it, replacing that trigger")
    eq(one(dba, f"SELECT interdict.is_recorded('{table}')"), True, "recorded")
    run(agent, f"INSERT INTO {table} VALUES (1, 'a')")
    eq(one(dba, f"SELECT count(*) FROM interdict.change_images({last_change(agent)})"), 1, "one row, recorded once")
    run(agent, f"SELECT interdict.revert({last_change(agent)})")
    eq(one(dba, f"SELECT count(*) FROM {table}"), 0, "reverted")

@test
def volatile_native_functions_are_default_deny():
    """A native function declared VOLATILE that the guard does not know is refused in both modes,
    under any name (a DBA's alias of a builtin); declared STABLE by the DBA (Postgres' word that it
    changes nothing), the same function runs: the verdict cache follows pg_proc."""
    dba, ro, gu = connect("postgres"), connect("r_sess"), connect("r_guard")
    fn = f"cfg_dump_{ARGS.label}"
    run(dba, f"CREATE FUNCTION public.{fn}(regclass, text) RETURNS void LANGUAGE internal VOLATILE AS 'pg_extension_config_dump'")
    run(dba, f"GRANT EXECUTE ON FUNCTION public.{fn}(regclass, text) TO r_sess, r_guard")
    try:
        call = f"SELECT public.{fn}('pg_class'::regclass, '')"
        d = refusal(ro, call)
        eq((d["reason"], d["function"], d["runs"]), ("readonly.unknown_function", fn, "pg_extension_config_dump"), "readonly: by what it runs")
        refused(gu, call, "guarded.unknown_function")
        refused(ro, "SELECT pg_extension_config_dump('pg_class'::regclass, '')", "readonly.unknown_function")
        eq(one(ro, "SELECT random() >= 0 AND pg_relation_size('pg_class') > 0"), True, "known volatile reads run")
        refused(ro, "SELECT txid_current()", "readonly.server_admin")  # STABLE, yet draws a transaction id
        eq(one(gu, "SELECT txid_current() > 0"), True, "guarded writes draw transaction ids anyway")
        run(dba, f"ALTER FUNCTION public.{fn}(regclass, text) STABLE")
        try:
            run(ro, call)
            raise AssertionError("declared STABLE: Postgres itself should have refused the call outside CREATE EXTENSION")
        except psycopg2.Error as e:
            assert "interdict" not in (e.pgerror or ""), f"declared STABLE, still refused by the guard: {e.pgerror}"
    finally:
        run(dba, f"DROP FUNCTION IF EXISTS public.{fn}(regclass, text)")
