"""Red team 6 (thirteenth session) and the gaps the twelfth session's note left. Each test is the
finding's reproduction, asserting what must hold."""
import os
import psycopg2
from harness import test, connect, run, one, eq, refused, refusal, last_change, ARGS


@test
def redteam6_reconnecting_draws_on_the_roles_log_budget():
    """Red team 4's L1: each connection had a server-log budget of its own, and reconnecting wrote
    127 MB in 1.4 s. With shared memory an agent role's sessions (and their parallel workers) draw
    on one bucket; loaded per session each process still has its own (README says so)."""
    before = os.path.getsize(ARGS.log)
    for _ in range(3):
        agent = connect("r_flood2")
        run(agent, "DO $$ BEGIN FOR i IN 1..15 LOOP RAISE LOG '%', repeat('x', 100000); END LOOP; END $$")
        agent.close()
    grown = os.path.getsize(ARGS.log) - before
    if ARGS.label == "shared_preload":
        assert 900_000 < grown < 1_400_000, f"three connections of one role wrote {grown} bytes"
    else:
        assert grown > 2_700_000, f"each process its own bucket: {grown} bytes"


@test
def redteam6_a_superuser_agent_stays_the_user_who_logged_in():
    """P3, P8, R3: SET SESSION AUTHORIZATION let a guarded superuser agent be the DBA (replace the
    DBA's trigger function: it kept the DBA as owner and ran unguarded in the DBA's sessions) or
    another agent (revert its changes, spend its approvals, have its own writes recorded as
    theirs). In an agent session session_authorization names only the user who logged in, by
    every route."""
    agent = connect("r_su")
    refused(agent, "SET SESSION AUTHORIZATION postgres", "setting.locked")
    refused(agent, "SELECT set_config('session_authorization', 'r_guard', false)", "setting.locked")
    refused(agent, "BEGIN; SET LOCAL SESSION AUTHORIZATION r_guard", "setting.locked")
    run(agent, "ROLLBACK")
    # a function's SET clause: refused as the function is made (Postgres tries the value then)
    refused(agent, "CREATE FUNCTION pg_temp.as_other() RETURNS text LANGUAGE sql SET session_authorization = 'r_guard' AS 'SELECT session_user::text'", "setting.locked")
    run(agent, "SET SESSION AUTHORIZATION r_su")  # the user who logged in: allowed
    run(agent, "RESET SESSION AUTHORIZATION")
    eq(one(agent, "SELECT session_user::text"), "r_su", "the session user")
    run(agent, "UPDATE t SET v = v WHERE id = 1")
    eq(one(agent, "SELECT role_name::text FROM interdict.changes ORDER BY id DESC LIMIT 1"), "r_su", "whose change it is")
    late = connect("r_su", options="-c session_authorization=postgres")
    eq(one(late, "SELECT session_user::text"), "r_su", "a client's session_authorization at connect (Postgres does not apply it)")


def agent_deleted(dba, table, rows, where, *ddl):
    """A DBA's recorded table (id, v) with `rows`, then `ddl`, written by r_guard, whose DELETE …
    WHERE `where` is recorded: (the agent's session, the change)."""
    run(dba, f"DROP TABLE IF EXISTS {table}")
    run(dba, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    run(dba, f"INSERT INTO {table} {rows}")
    run(dba, f"SELECT interdict.record('{table}')")
    for statement in ddl:
        run(dba, statement)
    run(dba, f"GRANT ALL ON {table} TO r_guard")
    agent = connect("r_guard")
    run(agent, f"DELETE FROM {table} WHERE {where}")
    return agent, last_change(agent)


@test
def redteam6_a_revert_needs_the_rights_its_writes_need():
    """R1: a revert writes as the table's owner, and checked only that the change was the agent's:
    after a DBA revoked every right the agent had on a table, its revert (and the revert of that,
    redoing the write) still wrote the table. A role reverts only where it may still write what the
    revert writes (an operator may always)."""
    dba = connect("postgres")
    agent, change = agent_deleted(dba, "rt6_priv", "VALUES (1, 'a')", "id = 1")
    run(dba, "REVOKE ALL ON rt6_priv FROM r_guard")
    refused(agent, f"SELECT interdict.revert({change})", "undo.not_allowed")
    eq(one(dba, "SELECT count(*) FROM rt6_priv"), 0, "nothing written back")
    run(dba, "GRANT INSERT ON rt6_priv TO r_guard")
    run(agent, f"SELECT interdict.revert({change})")
    eq(one(dba, "SELECT v FROM rt6_priv WHERE id = 1"), "a", "with INSERT back, the deleted row is restored")
    run(dba, "DROP TABLE rt6_priv")


@test
def redteam6_a_range_types_subtype_diff_is_no_agent_function():
    """P10: autovacuum's ANALYZE of a column of a range type calls the type's subtype_diff, outside
    any session a guard judges (without shared_preload_libraries): an agent's function there wrote
    unrecorded tables and signalled other sessions. As in an index, a range type's functions are
    Postgres' own or refused."""
    agent = connect("r_guard")
    run(agent, "DROP TYPE IF EXISTS rt6_range_ok")
    run(agent, "CREATE OR REPLACE FUNCTION rt6_diff(int4, int4) RETURNS float8 LANGUAGE sql IMMUTABLE AS 'SELECT ($1 - $2)::float8'")
    refused(agent, "CREATE TYPE rt6_range AS RANGE (subtype = int4, subtype_diff = rt6_diff)", "guarded.untrusted_code")
    eq(one(agent, "SELECT count(*) FROM pg_type WHERE typname = 'rt6_range'"), 0, "the type went with the statement")
    run(agent, "CREATE TYPE rt6_range_ok AS RANGE (subtype = int4, subtype_diff = int4range_subdiff)")  # Postgres' own
    run(agent, "DROP TYPE rt6_range_ok")
    run(agent, "DROP FUNCTION rt6_diff(int4, int4)")


@test
def redteam6_a_simulation_never_outlives_an_error():
    """R4 (critical): an error escaping simulate() (here: called in parallel mode, where it cannot
    begin its subtransaction) left the session's statement state a simulation's for good: every
    later statement ran unrecorded, with no row limit and no refusal. The caller's state is put
    back however simulate() ends, and a simulation's never outlives its transaction."""
    agent = connect("r_guard")
    run(agent, "CREATE OR REPLACE FUNCTION rt6_sim() RETURNS text LANGUAGE plpgsql PARALLEL SAFE AS $$ BEGIN RETURN interdict.simulate('SELECT 1')::text; END $$")
    parallel = "force_parallel_mode" if one(agent, "SELECT current_setting('server_version_num')::int") < 160000 else "debug_parallel_query"
    run(agent, f"SET {parallel} = on")
    run(agent, "SET max_parallel_workers = 0")
    try:
        run(agent, "SELECT rt6_sim()")
    except psycopg2.Error:
        pass
    else:
        raise AssertionError("simulate() ran in parallel mode")
    run(agent, f"RESET {parallel}")
    refused(agent, "DELETE FROM t", "guarded.unscoped_write")
    run(agent, "UPDATE t SET v = v WHERE id = 2")
    eq(one(agent, "SELECT statement FROM interdict.last_change()"), "UPDATE t SET v = v WHERE id = 2", "the write is recorded")
    run(agent, "DROP FUNCTION rt6_sim()")


@test
def redteam6_a_revert_restores_columns_added_with_a_default_after_a_rewrite():
    """R8: rows stored before ADD COLUMN … DEFAULT hold fewer columns; Postgres reads the rest from
    attmissingval, which VACUUM FULL clears. Images copied the stored bytes, so a revert after the
    DBA's VACUUM FULL put the rows back with NULL there (or failed on NOT NULL). Images hold every
    column."""
    dba = connect("postgres")
    agent, change = agent_deleted(dba, "rt6_fd", "SELECT g, 'v' || g FROM generate_series(1, 3) g", "id IN (1, 2)",
                                  "ALTER TABLE rt6_fd ADD COLUMN c int NOT NULL DEFAULT 5, ADD COLUMN d text DEFAULT 'dflt'")
    run(dba, "VACUUM FULL rt6_fd")
    run(agent, f"SELECT interdict.revert({change})")
    eq(run(dba, "SELECT id, v, c, d FROM rt6_fd ORDER BY id"), [(1, "v1", 5, "dflt"), (2, "v2", 5, "dflt"), (3, "v3", 5, "dflt")], "the rows as they were")
    run(dba, "DROP TABLE rt6_fd")


@test
def redteam6_others_objects_keep_their_names():
    """P4, P1: a guarded agent (a superuser one, or ordinary through a DBA's definer helper) swapped
    the names of two DBA tables, and a DBA's TRUNCATE of one emptied the other; moving a table or
    renaming its schema took it out of a policy's rule. Another role's object is neither renamed
    nor moved (its columns neither); the agent's own are."""
    dba = connect("postgres")
    run(dba, "DROP SCHEMA IF EXISTS rt6_s CASCADE")
    run(dba, "CREATE SCHEMA rt6_s")
    run(dba, "CREATE TABLE rt6_s.dba_t (id int PRIMARY KEY, v text)")
    agent = connect("r_su")
    refused(agent, "ALTER TABLE t RENAME TO t_old", "guarded.others_name")
    refused(agent, "ALTER TABLE t RENAME COLUMN v TO w", "guarded.others_name")
    refused(agent, "ALTER TABLE t SET SCHEMA rt6_s", "guarded.others_name")
    refused(agent, "ALTER SCHEMA rt6_s RENAME TO rt6_s2", "guarded.others_name")
    refused(agent, "ALTER SEQUENCE s RENAME TO s_old", "guarded.others_name")
    eq(one(dba, "SELECT count(*) FROM pg_class WHERE relname IN ('t', 's') AND relnamespace = 'public'::regnamespace"), 2, "the DBA's names stand")
    mine = f"rt6_mine_{ARGS.label}"
    run(agent, f"CREATE TABLE {mine} (id int PRIMARY KEY)")
    run(agent, f"ALTER TABLE {mine} RENAME TO {mine}_2")  # its own (a guarded session drops no table: left)
    run(agent, f"ALTER TABLE {mine}_2 RENAME COLUMN id TO key")
    run(dba, "DROP SCHEMA rt6_s CASCADE")


@test
def redteam6_nothing_of_an_agent_holds_the_guards_records():
    """P6: a guarded superuser agent's table with a foreign key to interdict.changes pinned every
    change it named (the DBA's purge failed), and its LOCK TABLE interdict.changes stopped every
    guarded write. Nothing an agent makes depends on the guard's tables, and it locks none."""
    agent = connect("r_su")
    refused(agent, f"CREATE TABLE rt6_pin_{ARGS.label} (id bigint PRIMARY KEY REFERENCES interdict.changes (id))", "extension.protected")
    refused(agent, f"CREATE VIEW rt6_chg_{ARGS.label} AS SELECT id FROM interdict.changes", "extension.protected")
    refused(agent, "BEGIN; LOCK TABLE interdict.changes IN ACCESS EXCLUSIVE MODE", "guarded.guard_schema")
    run(agent, "ROLLBACK")
    eq(one(connect("postgres"), f"SELECT count(*) FROM pg_class WHERE relname IN ('rt6_pin_{ARGS.label}', 'rt6_chg_{ARGS.label}')"), 0, "nothing made")


@test
def redteam6_copy_never_writes_the_servers_own_files():
    """P2: with a policy allowing writes outside the database (or one approval), a guarded agent's
    COPY … TO rewrote the DBA's policy file, and its next session ran under the agent's policy; the
    same reaches postgresql.auto.conf or pg_hba.conf. A COPY into the data directory, beside the
    configuration files or to the policy file is guarded.server_config, never approvable."""
    agent = connect("r_su")
    refused(agent, "COPY (SELECT 'x') TO 'postgresql.auto.conf'", "guarded.server_config")
    data = one(agent, "SELECT current_setting('data_directory')")
    refused(agent, f"COPY (SELECT 'x') TO '{data}/base/../pg_hba.conf'", "guarded.server_config")
    hba = one(agent, "SELECT current_setting('hba_file')")
    refused(agent, f"COPY (SELECT 'x') TO '{hba}'", "guarded.server_config")
    refused(agent, f"COPY (SELECT 'x') TO '{ARGS.files}/rt6_elsewhere.txt'", "guarded.not_reversible")  # a named directory: approvable
    refused(agent, "COPY (SELECT 'x') TO '/tmp/rt6_outside.txt'", "guarded.server_file")  # a directory no DBA named


@test
def redteam6_no_function_writes_the_servers_own_files():
    """The gap P2 left: lo_export and adminpack's pg_file_write/rename/unlink write server files by a
    name, and were guarded.not_reversible (an approval or a policy's `non_reversible: allow` let them
    rewrite postgresql.auto.conf, the policy file, the OS user's ~/.ssh/authorized_keys). A name
    among the server's own files is guarded.server_config; one outside the directories
    interdict.file_directories names, or not a constant of the statement, guarded.server_file:
    neither approvable."""
    agent = connect("r_su")
    hba = one(agent, "SELECT current_setting('hba_file')")
    refused(agent, "SELECT lo_export(0, 'postgresql.auto.conf')", "guarded.server_config")
    refused(agent, f"SELECT lo_export(0, '{hba}')", "guarded.server_config")
    refused(agent, "SELECT lo_export(0, current_setting('hba_file'))", "guarded.server_file")  # computed as it runs
    # a PL/pgSQL variable or a parameter: Postgres' custom plan holds its value as a constant
    refused(agent, "DO $$ DECLARE p text := 'postgresql.auto.conf'; BEGIN PERFORM lo_export(0, p); END $$", "guarded.server_config")
    run(agent, "PREPARE rt6_export(text) AS SELECT lo_export(0, $1)")
    refused(agent, "EXECUTE rt6_export('postgresql.auto.conf')", "guarded.server_config")
    refused(agent, f"EXECUTE rt6_export('{ARGS.files}/rt6_lo.txt')", "guarded.not_reversible")
    run(agent, "SET plan_cache_mode = force_generic_plan")  # a generic plan holds the parameter: not spelled out
    refused(agent, f"EXECUTE rt6_export('{ARGS.files}/rt6_lo.txt')", "guarded.server_file")
    run(agent, "RESET plan_cache_mode")
    refused(agent, f"SELECT lo_export(0, '{ARGS.files}/rt6_lo.txt')", "guarded.not_reversible")  # a named directory: approvable
    refused(agent, "SELECT lo_export(0, '/tmp/rt6_lo.txt')", "guarded.server_file")  # a directory no DBA named
    home = one(connect("postgres"), "SELECT current_setting('data_directory')") + "/../.ssh/authorized_keys"
    refused(agent, f"SELECT lo_export(0, '{home}')", "guarded.server_file")  # beside the data directory
    dba = connect("postgres")
    if one(dba, "SELECT count(*) FROM pg_available_extensions WHERE name = 'adminpack'"):  # 13-16
        run(dba, "CREATE EXTENSION IF NOT EXISTS adminpack")
        refused(agent, "SELECT pg_file_write('postgresql.auto.conf', 'x', false)", "guarded.server_config")
        refused(agent, "SELECT pg_file_rename('postgresql.auto.conf', 'old.conf', NULL)", "guarded.server_config")
        refused(agent, "SELECT pg_file_rename('postgresql.auto.conf', 'old.conf')", "guarded.server_file")  # a SQL wrapper: its parameters
        refused(agent, "SELECT pg_file_unlink('pg_hba.conf')", "guarded.server_config")
        refused(agent, f"SELECT pg_file_write('{ARGS.files}/rt6_pf.txt', 'x', false)", "guarded.not_reversible")
        run(dba, "DROP EXTENSION adminpack")


@test
def redteam6_a_revert_has_a_blast_radius():
    """R5: reverts were not counted against max_rows: one revert of three changes of 10 rows each (or
    the redo of an approved write, a revert of its revert) wrote 30 rows with max_rows 20 and no
    approval. A revert's rows are its statement's, refused past the limit, approvable as any write."""
    dba = connect("postgres")
    run(dba, "DROP TABLE IF EXISTS rt6_radius")
    run(dba, "CREATE TABLE rt6_radius (id int PRIMARY KEY, v text)")
    run(dba, "INSERT INTO rt6_radius SELECT g, 'a' FROM generate_series(1, 30) g")
    run(dba, "SELECT interdict.record('rt6_radius')")
    run(dba, "GRANT ALL ON rt6_radius TO r_guard")
    agent = connect("r_guard")
    run(agent, "SET interdict.max_rows = 20")
    ids = []
    for low in (1, 11, 21):
        run(agent, f"UPDATE rt6_radius SET v = 'b' WHERE id BETWEEN {low} AND {low + 9}")
        ids.append(last_change(agent))
    sql = f"SELECT interdict.revert(ARRAY{ids}::bigint[]) /* {ARGS.label} */"
    d = refusal(agent, sql)
    eq((d["reason"], d["rows_reached"], d["max_rows"]), ("guarded.blast_radius", "30", "20"), "a revert of 30 rows, limit 20")
    eq(one(dba, "SELECT count(*) FROM rt6_radius WHERE v = 'b'"), 30, "nothing reverted")
    run(agent, f"SELECT interdict.revert({ids[0]})")  # within the limit
    eq(one(dba, "SELECT count(*) FROM rt6_radius WHERE v = 'b'"), 20, "one change reverted")
    run(agent, "SET interdict.max_rows = 15")
    rest = f"SELECT interdict.revert(ARRAY{ids[1:]}::bigint[]) /* {ARGS.label} */"
    d = refusal(agent, rest)
    eq((d["reason"], d["rows_reached"]), ("guarded.blast_radius", "20"), "two changes of 10, limit 15")
    run(dba, f"SELECT interdict.approve('{d['approval_id']}', max_rows => 20)")
    run(agent, rest)  # approved
    eq(one(dba, "SELECT count(*) FROM rt6_radius WHERE v = 'b'"), 0, "with the approval, the rest reverted")
    run(dba, "DROP TABLE rt6_radius")


@test
def redteam6_copy_from_stops_near_its_limit():
    """R6: COPY … FROM was counted only when it had loaded (and recorded) every row: 300,001 rows
    loaded and captured before the refusal. Its rows are counted as they are written (as the
    recording trigger's WHEN sees each): a 5,000-row COPY with max_rows 5 stops at row 6."""
    agent = connect("r_guard")
    run(agent, "SET interdict.max_rows = 5")
    data = "".join(f"{1000 + i}\tcopied\n" for i in range(5000))
    try:
        agent.cursor().copy_expert("COPY t FROM STDIN", __import__("io").StringIO(data))
        raise AssertionError("COPY of 5,000 rows allowed with max_rows 5")
    except psycopg2.Error as e:
        d = __import__("json").loads(e.diag.message_detail)
        eq((d["reason"], d["rows_reached"]), ("guarded.blast_radius", "6"), "refused at limit + 1")
    run(agent, "ROLLBACK")
    eq(one(agent, "SELECT count(*) FROM t"), 10, "nothing loaded")
