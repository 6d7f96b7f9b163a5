"""The lock: the mode a DBA sets holds from the session's first statement, by every route; agent
settings only tighten; mode off behaves as if the guard were absent."""
import json, os, re, subprocess, time
import psycopg2
from harness import *  # noqa: F401,F403 the drivers: test, connect, run, one, eq, refused, refusal, …

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
def an_invalid_startup_value_leaves_the_role_settings_in_force():
    """A client value that does not parse is refused: with the library loaded at server start the
    connection fails (Postgres checks startup values of defined settings); loaded per session, the
    role's values stay in force, not the defaults."""
    def session(role, options):
        try:
            return connect(role, options=options)
        except psycopg2.OperationalError as e:
            eq((ARGS.label, '"reason":"setting.invalid"' in str(e)), ("shared_preload", True), "refused at connect")
            return None
    for bad in ("bogus", "", "offf"):
        c = session("r_sess", f"-c interdict.mode={bad}")
        if c:
            eq(mode(c), "readonly", f"mode={bad!r}")
            refused(c, "DELETE FROM t", "readonly.dml")
    c = session("r_su_blocked", "-c interdict.blocked_commands=NOT_A_TAG -c interdict.mode=bogus")
    if c:
        eq((mode(c), one(c, "SHOW interdict.blocked_commands")), ("guarded", "VACUUM"), "every setting, the superuser's too")
        refused(c, "VACUUM t", "command.blocked")

@test
def a_server_file_value_holds_against_a_client_value():
    """ALTER SYSTEM (postgresql.auto.conf) sets a ceiling for every session; a client's looser
    startup value does not replace it, whether the library is loaded per session or at start."""
    dba = connect("postgres")
    try:
        run(dba, "LOAD 'interdict'")  # ALTER SYSTEM checks the setting exists
        run(dba, "ALTER SYSTEM SET interdict.max_statement_timeout = '1h'")
        run(dba, "SELECT pg_reload_conf()")
        time.sleep(1)
        try:
            c = connect("r_sess", options="-c interdict.max_statement_timeout=0")
        except psycopg2.OperationalError as e:
            eq((ARGS.label, '"reason":"setting.locked"' in str(e) or '"reason":"setting.ceiling"' in str(e)), ("shared_preload", True), "refused at connect")
            return
        eq(one(c, "SHOW interdict.max_statement_timeout"), "60min", "the server file's ceiling")
    finally:
        run(dba, "ALTER SYSTEM RESET interdict.max_statement_timeout")
        run(dba, "SELECT pg_reload_conf()")
        time.sleep(1)

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
    refused(c, "SET SESSION AUTHORIZATION r_none", "setting.locked")  # the user who logged in, always
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
