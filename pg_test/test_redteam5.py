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
