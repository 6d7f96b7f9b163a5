"""An agent's code in other roles' sessions (src/agent_code.rs): a function an agent role owns runs,
in a session in mode off, as a readonly session would and leaves nothing behind there
(system.agent_code). Before, a DBA's DELETE cascading into an agent's table fired the agent's
trigger in the DBA's unguarded session, with the DBA's rights."""
from harness import test, connect, run, one, eq, refused, refusal, ARGS
from test_redteam import drop


def dba_session():
    """The DBA's session with the library loaded (the guard judges an agent's code only where it is
    loaded: shared_preload_libraries, or session_preload_libraries for the DBA's roles too)."""
    return connect("postgres", options="-c session_preload_libraries=interdict")


@test
def agent_code_runs_readonly_in_a_dbas_session():
    """The cascade route: the agent's table references the DBA's with ON DELETE CASCADE and carries
    a trigger of the agent's that deletes a DBA's table. The DBA's DELETE of a parent row is
    refused (nothing deleted anywhere); calling the agent's writing function, its inlinable SQL
    function moving a sequence, or its function changing the session's settings is refused too;
    its reading function runs; and once the DBA gives a function to itself, it is trusted."""
    dba, agent = dba_session(), connect("r_guard")
    tag = ARGS.label
    parent, victim, child, seq = f"ac_parent_{tag}", f"ac_victim_{tag}", f"ac_child_{tag}", f"ac_seq_{tag}"
    trig, writer, reader, sqlfn, setter = (f"ac_trig_{tag}", f"ac_writer_{tag}", f"ac_reader_{tag}", f"ac_sqlfn_{tag}",
                                           f"ac_setter_{tag}")
    try:
        run(dba, f"CREATE TABLE {parent} (id int PRIMARY KEY)")
        run(dba, f"INSERT INTO {parent} VALUES (1), (2)")
        run(dba, f"CREATE TABLE {victim} (id int PRIMARY KEY)")
        run(dba, f"INSERT INTO {victim} SELECT generate_series(1, 5)")
        run(dba, f"SELECT interdict.record('{victim}')")
        run(dba, f"GRANT SELECT, REFERENCES ON {parent} TO r_guard")
        run(dba, f"GRANT SELECT, INSERT, DELETE ON {victim} TO r_guard")
        run(agent, f"CREATE TABLE {child} (id int PRIMARY KEY, pid int REFERENCES {parent} ON DELETE CASCADE)")
        run(agent, f"INSERT INTO {child} VALUES (1, 1)")
        run(agent, f"CREATE SEQUENCE {seq}")
        run(agent, f"CREATE FUNCTION {trig}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {victim}; RETURN OLD; END $$")
        run(agent, f"CREATE TRIGGER t AFTER DELETE ON {child} FOR EACH ROW EXECUTE FUNCTION {trig}()")
        run(agent, f"CREATE FUNCTION {writer}() RETURNS int LANGUAGE plpgsql AS $$ BEGIN INSERT INTO {victim} VALUES (100); RETURN 1; END $$")
        run(agent, f"CREATE FUNCTION {reader}() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT count(*) FROM {victim}); END $$")
        run(agent, f"CREATE FUNCTION {sqlfn}() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('{seq}') $$")
        run(agent, f"CREATE FUNCTION {setter}() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN set_config('search_path', 'pg_temp', false); END $$")

        detail = refusal(dba, f"DELETE FROM {parent} WHERE id = 1")
        eq((detail["reason"], detail.get("refused_as")), ("system.agent_code", "readonly.dml"), "the cascade's trigger")
        eq(detail["agent_function"], f"function {trig}() of r_guard", "the function named, with its owner")
        eq(one(dba, f"SELECT count(*) FROM {victim}"), 5, "the DBA's table untouched")
        eq(one(dba, f"SELECT count(*) FROM {parent}"), 2, "the DBA's delete went with its statement")
        eq(one(dba, f"SELECT count(*) FROM {child}"), 1, "the cascade too")
        refused(dba, f"SELECT {writer}()", "system.agent_code")
        refused(dba, f"SELECT {sqlfn}()", "system.agent_code")
        eq(one(dba, f"SELECT last_value FROM {seq}"), 1, "the sequence never moved")
        eq(one(dba, f"SELECT is_called FROM {seq}"), False, "the sequence never moved")
        refused(dba, f"SELECT {setter}()", "system.agent_code")
        eq(one(dba, "SHOW search_path"), '"$user", public', "the DBA's settings unchanged")
        eq(one(dba, f"SELECT {reader}()"), 5, "reading runs")
        eq(one(dba, "SHOW interdict.mode"), "off", "the DBA's session stays in mode off")
        run(dba, f"INSERT INTO {victim} VALUES (6)")
        eq(one(dba, f"SELECT count(*) FROM {victim}"), 6, "the DBA's own writes after the agent's code returned")

        eq(one(agent, f"SELECT {writer}()"), 1, "in the agent's own session its function is judged as guarded")
        run(dba, f"ALTER FUNCTION {trig}() OWNER TO postgres")
        run(dba, f"DELETE FROM {parent} WHERE id = 1")
        eq(one(dba, f"SELECT count(*) FROM {victim}"), 0, "a function the DBA took over is the DBA's code")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {child}, {victim}, {parent} CASCADE", f"DROP SEQUENCE IF EXISTS {seq}",
             f"DROP FUNCTION IF EXISTS {trig}(), {writer}(), {reader}(), {sqlfn}(), {setter}()")


@test
def an_agents_procedure_cannot_commit_a_dbas_transaction():
    """PL/pgSQL's COMMIT reaches no utility hook: an agent's procedure a DBA calls would end the
    DBA's transaction. Refused before the commit (system.agent_code), and what the agent's code
    runs before it is judged too."""
    dba, agent = dba_session(), connect("r_guard")
    proc = f"ac_proc_{ARGS.label}"
    try:
        run(agent, f"CREATE PROCEDURE {proc}() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$")
        detail = refusal(dba, f"CALL {proc}()")
        eq((detail["reason"], detail["agent_function"]), ("system.agent_code", f"function {proc}() of r_guard"))
    finally:
        drop(dba, f"DROP PROCEDURE IF EXISTS {proc}()")


@test
def an_agents_functions_stay_the_agents():
    """A function a guarded session creates belongs to the session's role or another agent role:
    made under a group role that is no agent, other sessions would not know it for an agent's code."""
    dba, agent = dba_session(), connect("r_guard")
    group, fn = f"ac_group_{ARGS.label}", f"ac_groupfn_{ARGS.label}"
    try:
        run(dba, f"CREATE ROLE {group}")
        run(dba, f"GRANT {group} TO r_guard")
        run(dba, f"GRANT CREATE ON SCHEMA public TO {group}")
        try:
            run(agent, f"SET ROLE {group}")
        except Exception as e:  # a guarded session may not switch roles: the route is closed before
            raise AssertionError(f"SET ROLE refused: {e}")
        refused(agent, f"CREATE FUNCTION {fn}() RETURNS int LANGUAGE sql AS 'SELECT 1'", "guarded.untrusted_code")
        eq(one(dba, f"SELECT to_regproc('{fn}') IS NULL"), True, "no function of the group's")
    finally:
        drop(dba, f"DROP FUNCTION IF EXISTS {fn}()", f"REVOKE CREATE ON SCHEMA public FROM {group}", f"DROP ROLE IF EXISTS {group}")
