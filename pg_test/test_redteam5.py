"""Red team 5 (PostgreSQL 16, twelfth session): an agent's stored code — a default argument, a
domain's or a table's CHECK, an aggregate's or operator's function, a view's query, a trigger's WHEN
— is evaluated in whichever session reaches it, with that session's rights, outside any function of
the agent's; and names that shadow Postgres' own. Each finding's effect was confirmed as the DBA
(the agent approving its own refused DELETE through interdict.approve in a default argument, the
DBA's search_path changed, another session terminated)."""
from harness import test, connect, run, one, eq, refused, ARGS
from test_redteam import drop


@test
def redteam5_stored_code_calls_nothing_that_acts_in_other_sessions():
    """Each route is guarded.untrusted_code as the object is made; the agent's own view of plain
    reads, its table's CHECK calling its own function and a serial column stay allowed."""
    agent, su, dba = connect("r_guard"), connect("r_su"), connect("postgres")
    t = ARGS.label
    try:
        refused(agent, f"CREATE FUNCTION rt5_pol_{t}(p text DEFAULT interdict.approve('x')) RETURNS int LANGUAGE sql AS 'SELECT 1'", "guarded.untrusted_code")
        refused(agent, f"CREATE DOMAIN rt5_d_{t} AS int CHECK (set_config('search_path', 'evil', false) IS NOT NULL)", "guarded.untrusted_code")
        refused(agent, f"CREATE AGGREGATE rt5_agg_{t}(text, boolean) (sfunc = set_config, stype = text)", "guarded.untrusted_code")
        refused(agent, f"CREATE VIEW rt5_v_{t} AS SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "guarded.untrusted_code")
        refused(agent, f"CREATE VIEW rt5_v2_{t} AS SELECT set_config('session_replication_role', 'replica', false)", "guarded.untrusted_code")
        run(agent, f"CREATE TABLE rt5_t_{t} (id serial PRIMARY KEY, v int)")
        refused(agent, f"CREATE TRIGGER w BEFORE DELETE ON rt5_t_{t} FOR EACH ROW WHEN (pg_terminate_backend(0)) EXECUTE FUNCTION suppress_redundant_updates_trigger()", "guarded.untrusted_code")
        refused(agent, f"ALTER TABLE rt5_t_{t} ALTER COLUMN v SET DEFAULT length(set_config('search_path', 'evil', false))", "guarded.untrusted_code")
        run(dba, f"CREATE TABLE rt5_dba_{t} (id int PRIMARY KEY)")
        refused(su, f"ALTER TABLE rt5_dba_{t} ADD CONSTRAINT c CHECK (set_config('search_path', 'evil', false) IS NOT NULL) NOT VALID", "guarded.untrusted_code")
        run(agent, f"CREATE FUNCTION rt5_own_{t}(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN i; END $$")
        run(agent, f"CREATE DOMAIN rt5_d2_{t} AS int")
        refused(agent, f"ALTER DOMAIN rt5_d2_{t} ADD CONSTRAINT c CHECK (rt5_own_{t}(VALUE) > 0) NOT VALID", "guarded.untrusted_code")
        run(agent, f"CREATE VIEW rt5_ok_{t} AS SELECT id, v, now() AS at FROM rt5_t_{t}")
        run(agent, f"ALTER TABLE rt5_t_{t} ADD CONSTRAINT ok CHECK (rt5_own_{t}(v) >= 0)")
        eq(one(dba, f"SELECT count(*) FROM pg_constraint WHERE conrelid = 'rt5_dba_{t}'::regclass AND contype = 'c'"), 0, "no CHECK on the DBA's table")
        eq(one(dba, "SHOW search_path"), '"$user", public', "the DBA's search_path")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS rt5_t_{t}, rt5_dba_{t} CASCADE", f"DROP DOMAIN IF EXISTS rt5_d2_{t}", f"DROP FUNCTION IF EXISTS rt5_own_{t}(int)")


@test
def redteam5_no_name_shadows_postgres_own_for_other_sessions():
    """public.count(int4) answered the DBA's count(id) (an exact argument type beats pg_catalog's
    count("any")); a superuser agent's schema named postgres came first in the DBA's "$user",
    public. Both are system.protected; a function of a name Postgres does not use stays allowed."""
    agent, su, dba = connect("r_guard"), connect("r_su"), connect("postgres")
    t = ARGS.label
    try:
        refused(agent, "CREATE FUNCTION public.count(int4) RETURNS bigint LANGUAGE sql AS 'SELECT 1265::bigint'", "system.protected")
        refused(su, "CREATE SCHEMA postgres", "system.protected")
        eq(one(dba, "SELECT count(id) FROM t"), 10, "the DBA's count")
        run(agent, f"CREATE FUNCTION rt5_counted_{t}(int4) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'")
    finally:
        drop(dba, "DROP FUNCTION IF EXISTS public.count(int4)", "DROP SCHEMA IF EXISTS postgres CASCADE", f"DROP FUNCTION IF EXISTS rt5_counted_{t}(int4)")


@test
def redteam5_b1_writes_while_a_plan_starts_count_toward_its_statement():
    """Run-time partition pruning calls a STABLE function as the plan starts (ExecutorStart), and
    a STABLE wrapper may call a VOLATILE writer: each of those writes began a "statement" of its own,
    so one client statement wrote K times the row limit. They are now the statement's own rows:
    past the limit it is refused, nothing written."""
    from wire import Wire
    agent, dba = connect("r_guard"), connect("postgres")
    t = ARGS.label
    rows, m, w, s = f"rt5_rows_{t}", f"rt5_m_{t}", f"rt5_w_{t}", f"rt5_s_{t}"
    wire = None
    try:
        run(agent, f"CREATE TABLE {rows} (id int PRIMARY KEY, v int)")
        run(agent, f"INSERT INTO {rows} SELECT g, 0 FROM generate_series(1, 10) g")
        run(agent, f"CREATE TABLE {m} (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)")
        run(agent, f"CREATE TABLE {m}_eu PARTITION OF {m} FOR VALUES IN ('eu')")
        run(agent, f"CREATE TABLE {m}_us PARTITION OF {m} FOR VALUES IN ('us')")
        run(agent, f"""CREATE FUNCTION {w}() RETURNS text LANGUAGE plpgsql VOLATILE AS $$ BEGIN
                       IF current_setting('x.go', true) = 'on' THEN UPDATE {rows} SET v = v + 1 WHERE id <= 10; END IF; RETURN 'zz'; END $$""")
        run(agent, f"CREATE FUNCTION {s}() RETURNS text LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN {w}(); END $$")
        branch = f"SELECT id FROM {m} WHERE region = {s}()"
        wire = Wire("r_guard")
        wire.query("SET interdict.max_rows = 20")
        wire.parse("S", f"SELECT count(*) FROM ({' UNION ALL '.join([branch] * 4)}) x")
        wire.bind("p1", "S")
        wire.execute("p1")
        eq([m for k, m in wire.sync() if k == "E"], [], "planned and run with the writer idle")
        wire.query("SET x.go = on")
        wire.bind("p2", "S")
        wire.execute("p2")
        errors = [m for k, m in wire.sync() if k == "E"]
        eq(len(errors), 1, "the statement refused")
        assert '"reason":"guarded.blast_radius"' in errors[0].get("D", ""), errors[0]
        eq(one(dba, f"SELECT sum(v) FROM {rows}"), 0, "nothing written")
    finally:
        if wire:
            wire.close()
        drop(dba, f"DROP TABLE IF EXISTS {rows}, {m} CASCADE", f"DROP FUNCTION IF EXISTS {s}(), {w}()")


@test
def redteam5_a1_an_approval_binds_the_functions_its_statement_calls():
    """The approval id bound the statement's text, relations and a search path read at the
    refusal (inside a function, after its own SET search_path): an approval of SELECT f(id) FROM …
    for one f ran another f of the same name, once a schema earlier in the session's path had it.
    The id binds the functions the plan depends on and the path as the statement began."""
    from harness import refusal
    agent, dba = connect("r_guard"), connect("postgres")
    t = ARGS.label
    rows, f, sch = f"rt5_ar_{t}", f"rt5_af_{t}", f"rt5_sch_{t}"
    try:
        run(dba, f"CREATE SCHEMA {sch}")
        run(dba, f"GRANT CREATE, USAGE ON SCHEMA {sch} TO r_guard")
        run(agent, f"CREATE TABLE {rows} (id int PRIMARY KEY, v int)")
        run(agent, f"INSERT INTO {rows} SELECT g, 0 FROM generate_series(1, 30) g")
        run(agent, f"CREATE FUNCTION public.{f}(i int) RETURNS int LANGUAGE plpgsql SET search_path = public AS $$ BEGIN UPDATE {rows} SET v = v + 1 WHERE id = i; RETURN 1; END $$")
        run(agent, "SET interdict.max_rows = 20")
        run(agent, f"SET search_path = {sch}, public")
        first = refusal(agent, f"SELECT {f}(id) FROM {rows}")
        run(agent, f"CREATE FUNCTION {sch}.{f}(i int) RETURNS int LANGUAGE plpgsql SET search_path = public AS $$ BEGIN UPDATE {rows} SET v = 0 WHERE id = i; RETURN 1; END $$")
        second = refusal(agent, f"SELECT {f}(id) FROM {rows}")
        eq((first["reason"], second["reason"]), ("guarded.blast_radius", "guarded.blast_radius"))
        assert first["approval_id"] != second["approval_id"], "another function of the same name is another request"
    finally:
        drop(dba, f"DROP SCHEMA IF EXISTS {sch} CASCADE", f"DROP TABLE IF EXISTS {rows}", f"DROP FUNCTION IF EXISTS public.{f}(int)")
