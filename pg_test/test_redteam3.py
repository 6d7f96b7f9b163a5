"""Red team 3 (PostgreSQL 16, eleventh session): what runs before a session's first statement, and
parallel workers. Each test failed on the build the finding was made on."""
import ctypes, ctypes.util, struct
from harness import test, connect, run, one, eq, refused, last_change, ARGS
from test_adversary import server_version


class Fastpath:
    """A libpq connection that calls functions by OID with `PQfn` (the fastpath protocol: no
    statement, no executor), as its first messages."""

    class _Value(ctypes.Union):
        _fields_ = [("ptr", ctypes.c_void_p), ("integer", ctypes.c_int)]

    class _Arg(ctypes.Structure):
        pass

    _Arg._fields_ = [("len", ctypes.c_int), ("isint", ctypes.c_int), ("u", _Value)]

    def __init__(self, role, options=None):
        pq = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
        pq.PQconnectdb.restype, pq.PQconnectdb.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        pq.PQstatus.argtypes = [ctypes.c_void_p]
        pq.PQerrorMessage.restype, pq.PQerrorMessage.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
        pq.PQfn.restype = ctypes.c_void_p
        pq.PQfn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                            ctypes.POINTER(self._Arg), ctypes.c_int]
        pq.PQresultStatus.argtypes = [ctypes.c_void_p]
        pq.PQresultErrorMessage.restype, pq.PQresultErrorMessage.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
        pq.PQresultErrorField.restype, pq.PQresultErrorField.argtypes = ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int]
        pq.PQclear.argtypes = [ctypes.c_void_p]
        pq.PQfinish.argtypes = [ctypes.c_void_p]
        self.pq = pq
        extra = f" options='{options}'" if options else ""
        self.conn = pq.PQconnectdb(f"host={ARGS.host} port={ARGS.port} dbname=pgtest user={role}{extra}".encode())
        assert pq.PQstatus(self.conn) == 0, pq.PQerrorMessage(self.conn)
        self.keep = []

    def _bytes(self, b):
        buf = ctypes.create_string_buffer(b, len(b))
        self.keep.append(buf)
        a = self._Arg()
        a.len, a.isint, a.u.ptr = len(b), 0, ctypes.cast(buf, ctypes.c_void_p).value
        return a

    def call(self, oid, *args):
        """Calls function `oid` with binary arguments (bytes); returns None, or the error's message
        and detail."""
        arr = (self._Arg * max(1, len(args)))(*[self._bytes(a) for a in args])
        out, n = ctypes.create_string_buffer(8192), ctypes.c_int(0)
        r = self.pq.PQfn(self.conn, oid, out, ctypes.byref(n), 0, arr, len(args))
        status = self.pq.PQresultStatus(r)
        field = lambda code: (self.pq.PQresultErrorField(r, ord(code)) or b"").decode()
        error = None if status in (1, 2) else f"{field('M')} {field('D')}"
        self.pq.PQclear(r)
        return error

    def exec(self, sql):
        """Runs `sql` as a simple query on the same connection; returns None, or the error's message
        and detail."""
        self.pq.PQexec.restype, self.pq.PQexec.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]
        r = self.pq.PQexec(self.conn, sql.encode())
        status = self.pq.PQresultStatus(r)
        field = lambda code: (self.pq.PQresultErrorField(r, ord(code)) or b"").decode()
        error = None if status in (1, 2) else f"{field('M')} {field('D')}"
        self.pq.PQclear(r)
        return error

    def close(self):
        self.pq.PQfinish(self.conn)


def text(s):
    return s.encode()


def boolean(v):
    return b"\x01" if v else b"\x00"


@test
def redteam3_r1_a_fastpath_call_before_any_statement_is_judged_in_the_locked_mode():
    """The lock closed on the first statement only: a fastpath call (libpq's PQfn) as the session's
    first message ran with the settings unlocked, so set_config('interdict.mode', 'off') was
    allowed and every later fastpath call ran unguarded (setval on a DBA's sequence, lo_export over
    a data file, pg_terminate_backend). Now the first function call locks the session: the mode
    cannot be loosened, and setval is refused as readonly refuses it."""
    dba = connect("postgres")
    oid = lambda sig: one(dba, f"SELECT '{sig}'::regprocedure::oid")
    set_config, setval = oid("set_config(text,text,boolean)"), oid("setval(regclass,bigint)")
    seq = one(dba, "SELECT 's'::regclass::oid")
    before = one(dba, "SELECT last_value FROM s")
    fp = Fastpath("r_sess")
    try:
        error = fp.call(set_config, text("interdict.mode"), text("off"), boolean(False))
        assert error and '"reason":"mode.locked"' in error, error
        error = fp.call(setval, struct.pack("!I", seq), struct.pack("!q", 777))
        assert error and '"reason":"readonly.' in error, error
    finally:
        fp.close()
    eq(one(dba, "SELECT last_value FROM s"), before, "the sequence unchanged")
    # Postgres' own settings are locked before a first fastpath call can loosen them (the floor
    # was the value in force at the first statement).
    fp = Fastpath("r_sess")
    try:
        error = fp.call(set_config, text("debug_print_parse"), text("on"), boolean(False))
        assert error and '"reason":"setting.locked"' in error, error
    finally:
        fp.close()


@test
def redteam3_r3_a_parallel_worker_runs_in_its_leaders_mode():
    """A parallel worker took its mode from the setting's winning value, which a client's startup
    value (-c interdict.mode=off) is, not from its leader's lock: functions a worker ran were judged
    in mode off. A worker now locks as its leader did."""
    agent = connect("r_sess", options="-c interdict.mode=off")
    eq(one(agent, "SHOW interdict.mode"), "readonly", "the leader's lock")
    eq(workers_mode(agent), [("readonly",)], "the worker's mode")


def workers_mode(agent):
    """interdict.mode as a parallel worker of the session sees it (one worker, the leader idle)."""
    force = "debug_parallel_query" if server_version(agent) >= 160000 else "force_parallel_mode"
    run(agent, f"SET {force} = on")
    run(agent, "SET parallel_leader_participation = off")
    plan = "\n".join(r[0] for r in run(agent, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT DISTINCT current_setting('interdict.mode') FROM t"))
    assert "Workers Launched: 1" in plan, plan
    return run(agent, "SELECT DISTINCT current_setting('interdict.mode') FROM t")


@test
def redteam3_n1_a_table_cannot_depend_on_another_sessions_temporary_object():
    """The G3 fix read only the session's own temporary schema: a superuser agent (or a definer
    helper) made a permanent table OF another session's pg_temp_N type, and that session's end
    dropped the table with its rows, unrecorded. Any session's temporary objects count now."""
    from test_redteam import drop
    dba, other, agent = connect("postgres"), connect("r_off"), connect("r_su")
    table = f"rt3_victim_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {table} VALUES (1, 'precious')")
        run(other, "CREATE TYPE pg_temp.x AS (id int, v text)")
        schema = one(other, "SELECT pg_my_temp_schema()::regnamespace::text")
        eq(one(agent, "SELECT pg_my_temp_schema()::int"), 0, "the agent has no temporary schema of its own")
        refused(agent, f"ALTER TABLE {table} OF {schema}.x", "guarded.temporary_dependency")
        other.close()
        eq(one(dba, f"SELECT reloftype = 0 FROM pg_catalog.pg_class WHERE oid = '{table}'::regclass"), True, "not a typed table")
        eq(run(dba, f"SELECT id, v FROM {table}"), [(1, "precious")], "the table and its row")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}")


@test
def redteam3_n4_n5_an_operators_revert_judges_the_reverted_tables_code():
    """The G11 fix held only when the reverting session was guarded: an operator (mode off)
    reverting an agent's change ran the table's CHECK unguarded with triggers off — a DELETE of
    another table (unrecorded, its ON DELETE CASCADE skipped), or G11's ALTER of another table of
    the change (SIGSEGV, every session of the server ended). While a revert runs, any session judges
    that code as guarded mode does (guarded.bypass); the function here is an agent role's, which an
    operator's session runs as readonly whether reverting or not (system.agent_code, test_agent_code):
    nothing reverted, the server up."""
    from test_redteam import drop
    from test_redteam2 import alive_dba, columns
    dba, agent = connect("postgres"), connect("r_guard")
    tag = ARGS.label
    fn, ra, rb, victim = f"rt3_mid_{tag}", f"rt3_ra_{tag}", f"rt3_rb_{tag}", f"rt3_victim_{tag}"
    try:
        run(agent, f"CREATE TABLE {victim} (id int PRIMARY KEY)")
        run(agent, f"INSERT INTO {victim} VALUES (1), (2)")
        run(agent, f"""CREATE FUNCTION {fn}(v int) RETURNS boolean LANGUAGE plpgsql AS $$
                       BEGIN
                         IF current_setting('session_replication_role') = 'replica' THEN
                           IF v = 1 THEN EXECUTE 'DELETE FROM public.{victim}'; END IF;
                           IF v = 3 THEN EXECUTE 'ALTER TABLE public.{rb} ALTER COLUMN c TYPE text'; END IF;
                         END IF;
                         RETURN true;
                       END $$""")
        run(agent, f"CREATE TABLE {ra} (id int PRIMARY KEY, v int CHECK ({fn}(v)))")
        run(agent, f"CREATE TABLE {rb} (id int PRIMARY KEY, c int)")
        run(agent, f"INSERT INTO {ra} VALUES (1, 1), (3, 3)")
        run(agent, f"UPDATE {ra} SET v = 10 + v WHERE id = 1")
        deleting = last_change(agent)
        op = connect("p_op")
        refused(op, f"SELECT interdict.revert({deleting})", "system.agent_code")
        eq(run(dba, f"SELECT id FROM {victim} ORDER BY id"), [(1,), (2,)], "nothing deleted by the CHECK")
        eq(run(dba, f"SELECT v FROM {ra} WHERE id = 1"), [(11,)], "nothing reverted")
        run(agent, f"INSERT INTO {rb} VALUES (1073741823, 5)")
        run(agent, f"WITH x AS (DELETE FROM {rb} WHERE id = 1073741823 RETURNING 1) UPDATE {ra} SET v = 13 WHERE id = 3")
        altering = last_change(agent)
        try:
            refused(op, f"SELECT interdict.revert({altering})", "system.agent_code")
        finally:
            dba = alive_dba()
        eq(one(op, "SELECT 1"), 1, "the operator's backend is still alive")
        eq(columns(dba, rb), [("id", "integer", None, ""), ("c", "integer", None, "")], "the other table not retyped")
        eq(run(dba, f"SELECT id, c FROM {rb}"), [], "no row restored")
    finally:
        dba = alive_dba()
        drop(dba, f"DROP TABLE IF EXISTS {ra}, {rb}, {victim}", f"DROP FUNCTION IF EXISTS {fn}(int)")


@test
def redteam3_n3_lossy_modifier_changes_are_column_type_refusals():
    """Type modifiers were compared as plain numbers: interval month -> interval year kept only
    whole years, numeric(2,2) -> numeric(2,-2) rounded to hundreds (a negative scale read as 2046),
    numeric(5,2)[] -> numeric(6,0)[] rounded every element; all allowed, unrecorded. Each is
    guarded.column_type now, the rows unchanged; a wider precision still passes."""
    from test_redteam import drop
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"rt3_lossy_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, iv interval month, n numeric(2,2), a numeric(5,2)[], ts timestamp(3))")
        run(agent, f"INSERT INTO {table} VALUES (1, '1 year 5 months', 0.49, '{{1.49, 2.51}}', '2024-01-01 12:00:00.123')")
        before = run(dba, f"SELECT iv::text, n::text, a::text, ts::text FROM {table}")
        refused(agent, f"ALTER TABLE {table} ALTER COLUMN iv TYPE interval year", "guarded.column_type")
        if server_version(dba) >= 150000:
            refused(agent, f"ALTER TABLE {table} ALTER COLUMN n TYPE numeric(2,-2)", "guarded.column_type")
        refused(agent, f"ALTER TABLE {table} ALTER COLUMN a TYPE numeric(6,0)[]", "guarded.column_type")
        eq(run(dba, f"SELECT iv::text, n::text, a::text, ts::text FROM {table}"), before, "the values unchanged")
        run(agent, f"ALTER TABLE {table} ALTER COLUMN a TYPE numeric(7,2)[]")
        run(agent, f"ALTER TABLE {table} ALTER COLUMN ts TYPE timestamp(6)")
        eq(run(dba, f"SELECT iv::text, n::text, a::text, ts::text FROM {table}"), before, "the widened columns keep every value")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}")


@test
def redteam3_n7_n10_the_guards_records_and_the_catalogs_are_never_written():
    """COPY into interdict.change_rows, and DML on pg_db_role_setting (a superuser agent deleting
    its own role's interdict.mode), were refused as the approvable guarded.not_reversible: one
    approval let the agent forge undo's records or drop its own guard. They are
    guarded.guard_schema and system.protected now, with no approval id."""
    from harness import refusal
    dba, agent = connect("postgres"), connect("r_su")
    d = refusal(agent, "COPY interdict.change_rows FROM STDIN")
    eq((d["reason"], "approval_id" in d), ("guarded.guard_schema", False), "COPY into the guard's records")
    d = refusal(agent, "DELETE FROM pg_catalog.pg_db_role_setting WHERE setrole = 'r_su'::regrole")
    eq((d["reason"], "approval_id" in d), ("system.protected", False), "DML on a system catalog")
    eq(one(dba, "SELECT count(*) FROM pg_catalog.pg_db_role_setting WHERE setrole = 'r_su'::regrole"), 1, "the role's settings kept")


@test
def redteam3_n6_an_approval_of_a_nested_statement_binds_that_statement():
    """An approval of `SELECT run(q) FROM jobs` refused for the nested DROP TABLE old_scratch ran
    DROP TABLE precious once the agent changed q (nothing redefined: the nested text came from
    data); a cursor's bound parameter did the same through FETCH. The nested statement's text and
    parameters are in the approval id now: the other DROP is refused with another id, the approved
    one runs. (A cursor's bound parameter values are in a FETCH's id too.)"""
    from harness import refusal
    from test_redteam import drop
    dba, agent, op = connect("postgres"), connect("r_guard"), connect("p_op")
    tag = ARGS.label
    fn, jobs, scratch, precious = f"rt3_run_{tag}", f"rt3_jobs_{tag}", f"rt3_scratch_{tag}", f"rt3_precious_{tag}"
    try:
        run(agent, f"CREATE FUNCTION {fn}(q text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; RETURN 1; END $$")
        run(agent, f"CREATE TABLE {jobs} (id int PRIMARY KEY, q text)")
        run(agent, f"CREATE TABLE {scratch} (id int PRIMARY KEY)")
        run(agent, f"CREATE TABLE {precious} (id int PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {precious} VALUES (1, 'keep me')")
        run(agent, f"INSERT INTO {jobs} VALUES (1, 'DROP TABLE public.{scratch}')")
        job = f"SELECT {fn}(q) FROM {jobs} WHERE id = 1"
        first = refusal(agent, job)
        eq(first["reason"], "guarded.drop", "the nested DROP refused")
        run(op, f"SELECT interdict.approve('{first['approval_id']}')")
        run(agent, f"UPDATE {jobs} SET q = 'DROP TABLE public.{precious}' WHERE id = 1")
        other = refusal(agent, job)
        eq(other["reason"], "guarded.drop", "another nested DROP is refused")
        assert other["approval_id"] != first["approval_id"], other
        eq(run(dba, f"SELECT v FROM {precious}"), [("keep me",)], "precious kept")
        run(agent, f"UPDATE {jobs} SET q = 'DROP TABLE public.{scratch}' WHERE id = 1")
        run(agent, job)
        eq(one(dba, f"SELECT to_regclass('{scratch}') IS NULL"), True, "the approved DROP ran")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {jobs}, {scratch}, {precious}", f"DROP FUNCTION IF EXISTS {fn}(text)")


@test
def redteam3_n2_n8_no_code_of_the_agents_runs_in_other_sessions():
    """Routes around the G16 fix, each ran an agent's code unguarded in other sessions: a superuser
    agent replacing the function behind a DBA's trigger (or giving its own function to the DBA);
    an index calling the agent's function (autovacuum's ANALYZE ran it: an "IMMUTABLE" PL/pgSQL
    wrapper deleting rows); a table of the agent's inheriting from a DBA's table (the agent's
    trigger on it fired for the DBA's UPDATE of the parent). Each is guarded.untrusted_code; the
    agent's own functions, indexes with Postgres' functions and children of its own tables stay
    allowed."""
    from test_redteam import drop
    dba, su, agent = connect("postgres"), connect("r_su"), connect("r_guard")
    tag = ARGS.label
    dba_fn, mine, idx_t, parent, child, own_parent = (f"rt3_dbafn_{tag}", f"rt3_mine_{tag}", f"rt3_idx_{tag}",
                                                       f"rt3_parent_{tag}", f"rt3_child_{tag}", f"rt3_own_{tag}")
    try:
        run(dba, f"CREATE FUNCTION {dba_fn}() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        refused(su, f"CREATE OR REPLACE FUNCTION {dba_fn}() RETURNS int LANGUAGE sql AS 'SELECT 2'", "guarded.untrusted_code")
        refused(su, f"ALTER FUNCTION {dba_fn}() SECURITY DEFINER", "guarded.untrusted_code")
        eq(one(dba, f"SELECT {dba_fn}()"), 1, "the DBA's function unchanged")
        run(su, f"CREATE FUNCTION {mine}(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN i; END $$")
        run(su, f"CREATE OR REPLACE FUNCTION {mine}(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN i + 0; END $$")
        refused(su, f"ALTER FUNCTION {mine}(int) OWNER TO postgres", "guarded.privileges")
        run(agent, f"CREATE TABLE {idx_t} (id int PRIMARY KEY, v text)")
        run(agent, f"CREATE INDEX ON {idx_t} (lower(v))")
        run(agent, f"CREATE FUNCTION {mine}_g(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN i; END $$")
        refused(agent, f"CREATE INDEX ON {idx_t} (({mine}_g(id)))", "guarded.untrusted_code")
        refused(agent, f"CREATE INDEX ON {idx_t} (id) WHERE {mine}_g(id) > 0", "guarded.untrusted_code")
        eq(one(dba, f"SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = '{idx_t}'::regclass"), 2, "the key and lower(v) only")
        run(dba, f"CREATE TABLE {parent} (id int PRIMARY KEY, v text)")
        refused(su, f"CREATE TABLE {child} (PRIMARY KEY (id)) INHERITS ({parent})", "guarded.untrusted_code")
        eq(one(dba, f"SELECT to_regclass('{child}') IS NULL"), True, "no child of the DBA's table")
        run(agent, f"CREATE TABLE {own_parent} (id int PRIMARY KEY, v text)")
        run(agent, f"CREATE TABLE {own_parent}_c (PRIMARY KEY (id)) INHERITS ({own_parent})")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {idx_t}, {child}, {parent}, {own_parent} CASCADE",
             f"DROP FUNCTION IF EXISTS {dba_fn}(), {mine}(int), {mine}_g(int)")
