"""Undo: revert's bad input, purge and retention; a failure of the guard's own steps."""
import json, os, re, subprocess, time
import psycopg2
from harness import *  # noqa: F401,F403 the drivers: test, connect, run, one, eq, refused, refusal, …

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
    run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text, gone int)")  # recorded as the agent creates it
    run(agent, f"INSERT INTO {table} VALUES (1, 'a', 1)")
    created = last_change(agent)
    run(dba, f"ALTER TABLE {table} DROP COLUMN gone")
    eq(refusal(agent, f"SELECT interdict.revert({created})")["reason"], "undo.table_changed", "a column dropped since")
    eq(one(dba, f"SELECT count(*) FROM {table}"), 1, "nothing reverted")
    run(dba, f"DROP TABLE {table}")
    eq(refusal(agent, f"SELECT interdict.revert({created})")["reason"], "undo.table_changed", "the table dropped since")
    eq(one(dba, f"SELECT reverted_by FROM interdict.changes WHERE id = {created}"), None, "not marked reverted")

@test
def a_change_names_its_table_as_it_is_now():
    """Names and shapes are kept between changes until Postgres says the table or a schema changed."""
    dba, agent = connect("postgres"), connect("r_guard")
    schema, table = f"names_{ARGS.label}", f"named_{ARGS.label}"
    run(dba, f"CREATE SCHEMA {schema} AUTHORIZATION r_guard")
    run(agent, f"CREATE TABLE {schema}.{table} (id int PRIMARY KEY, v text)")
    def name_of_next_change(sql):
        run(agent, sql)
        return one(dba, f"SELECT table_name FROM interdict.change_tables WHERE change_id = {last_change(agent)}")
    eq(name_of_next_change(f"INSERT INTO {schema}.{table} VALUES (1, 'a')"), f"{schema}.{table}", "as created")
    run(dba, f"ALTER TABLE {schema}.{table} RENAME TO {table}_2")
    eq(name_of_next_change(f"INSERT INTO {schema}.{table}_2 VALUES (2, 'b')"), f"{schema}.{table}_2", "the table renamed")
    run(dba, f"ALTER SCHEMA {schema} RENAME TO {schema}_2")
    eq(name_of_next_change(f"INSERT INTO {schema}_2.{table}_2 VALUES (3, 'c')"), f"{schema}_2.{table}_2", "its schema renamed")
    run(dba, f"ALTER TABLE {schema}_2.{table}_2 ADD COLUMN w int")
    cid_shape = one(dba, f"SELECT shape FROM interdict.change_tables WHERE change_id = {last_change(agent)}")
    name_of_next_change(f"INSERT INTO {schema}_2.{table}_2 VALUES (4, 'd', 4)")
    eq(one(dba, f"SELECT shape FROM interdict.change_tables WHERE change_id = {last_change(agent)}"), cid_shape + ",w@3:23:-1", "a column added")
    run(agent, f"SELECT interdict.revert({last_change(agent)})")
    eq(one(dba, f"SELECT count(*) FROM {schema}_2.{table}_2"), 3, "reverted onto the shape it recorded")
    run(dba, f"DROP SCHEMA {schema}_2 CASCADE")

@test
def a_rules_later_plans_add_to_the_statements_change():
    """A statement a rule rewrites into several plans is one change: the later plans' rows are added
    to it, table counts merged (a table seen again) or appended (a new one), and one revert undoes all."""
    dba, agent = connect("postgres"), connect("r_guard")
    main, log = f"rule_main_{ARGS.label}", f"rule_log_{ARGS.label}"
    run(agent, f"CREATE TABLE {main} (id int PRIMARY KEY, v text)")
    run(agent, f"CREATE TABLE {log} (id int PRIMARY KEY, ref int, what text)")
    run(agent, f"INSERT INTO {main} VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    # DELETE on main logs into log (first plan), whose INSERT rule touches main again (second), then
    # the DELETE itself (third) runs.
    run(dba, f"CREATE RULE logged AS ON DELETE TO {main} DO ALSO INSERT INTO {log} VALUES (old.id + 100, old.id, old.v)")
    run(dba, f"CREATE RULE touched AS ON INSERT TO {log} DO ALSO UPDATE {main} SET v = v || '!' WHERE id = new.ref")
    before = one(dba, f"SELECT pg_catalog.md5(pg_catalog.string_agg(m::text, ',' ORDER BY id)) FROM {main} m")
    run(agent, f"DELETE FROM {main} WHERE id IN (1, 2)")
    cid = last_change(agent)
    eq(run(dba, f"SELECT table_name, inserted, updated, deleted FROM interdict.change_tables WHERE change_id = {cid}"),
       [(f"public.{log}", 2, 0, 0), (f"public.{main}", 0, 2, 2)], "one change, its tables in the order written")
    eq(one(dba, f"""SELECT (first_batch_rows, cardinality(rows_at), (SELECT sum(row_count) FROM interdict.change_rows WHERE change_id = c.id))::text
                    FROM interdict.changes c WHERE id = {cid}"""), "(2,2,4)", "a batch of rows per plan, six rows: the first plan's in the change's row")
    run(agent, f"SELECT interdict.revert({cid})")
    eq(one(dba, f"SELECT pg_catalog.md5(pg_catalog.string_agg(m::text, ',' ORDER BY id)) FROM {main} m"), before, "main as before")
    eq(one(dba, f"SELECT count(*) FROM {log}"), 0, "the log's rows removed")
    run(dba, f"DROP TABLE {main}, {log}")

@test
def a_conflicting_revert_lists_exactly_the_rows_and_changes_nothing():
    """The writes' own WHERE is the conflict check: the images not written are listed (updated,
    inserted and deleted rows alike), and what was written before the conflict is undone."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"conflicts_{ARGS.label}"
    run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    run(agent, f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 6) g")
    def conflict(write, meddle, rows, what):
        run(agent, write.format(table=table))
        cid = last_change(agent)
        run(dba, meddle.format(table=table))
        before = run(dba, f"SELECT id, v FROM {table} ORDER BY id")
        d = refusal(agent, f"SELECT interdict.revert({cid})")
        eq((d["reason"], d["rows"]), ("undo.conflict", rows), what)
        eq(run(dba, f"SELECT id, v FROM {table} ORDER BY id"), before, f"{what}: the other rows not reverted either")
    conflict("UPDATE {table} SET v = v || '+' WHERE id <= 3", "UPDATE {table} SET v = 'later' WHERE id = 2", "(2,v2+)", "an updated row changed since")
    conflict("INSERT INTO {table} VALUES (7, 'new'), (8, 'new')", "UPDATE {table} SET v = 'edited' WHERE id = 8", "(8,new)", "an inserted row changed since")
    conflict("DELETE FROM {table} WHERE id IN (5, 6)", "INSERT INTO {table} VALUES (6, 'reused')", "(6,v6)", "a deleted key in use again")
    run(dba, f"DROP TABLE {table}")

@test
def keys_follow_rows_whatever_their_text():
    """A row is followed through a change by its key, taken from the images' text: a composite key
    of text needing quotes and a number with a dropped column between, deleted and taken again in one
    statement, and moved to another key."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"keys_{ARGS.label}"
    run(agent, f"CREATE TABLE {table} (k text, gone int, n int, v text, PRIMARY KEY (k, n))")
    run(dba, f"ALTER TABLE {table} DROP COLUMN gone")
    keys = ['a, "b"', "(x)", "back\\slash", " ", ""]
    for i, k in enumerate(keys):
        run(agent, f"INSERT INTO {table} VALUES ({psycopg2.extensions.adapt(k).getquoted().decode()}, {i}, 'v{i}')")
    before = run(dba, f"SELECT k, n, v FROM {table} ORDER BY k, n")
    # One statement: each row deleted and its key taken again by a new row (a function writes twice).
    run(dba, f"""CREATE FUNCTION {table}_churn() RETURNS void LANGUAGE sql AS $$
                   DELETE FROM {table} WHERE n >= 0; INSERT INTO {table} SELECT k, n, 'again' FROM unnest(ARRAY[{", ".join(psycopg2.extensions.adapt(k).getquoted().decode() for k in keys)}]) WITH ORDINALITY AS u(k, n1), LATERAL (SELECT n1 - 1 AS n) m;
                   UPDATE {table} SET k = k || '!', v = 'moved' WHERE n = 1 $$""")
    run(dba, f"GRANT EXECUTE ON FUNCTION {table}_churn() TO r_guard")
    run(agent, f"SELECT {table}_churn()")
    churn = last_change(agent)
    eq(run(dba, f"SELECT inserted, updated, deleted FROM interdict.change_tables WHERE change_id = {churn}"), [(5, 1, 5)], "every event recorded")
    run(agent, f"SELECT interdict.revert({churn})")
    eq(run(dba, f"SELECT k, n, v FROM {table} ORDER BY k, n"), before, "every row as it was")
    run(dba, f"DROP TABLE {table} CASCADE")
    run(dba, f"DROP FUNCTION {table}_churn()")

@test
def a_transactions_changes_share_its_open_records():
    """The record tables stay open for the transaction that first wrote a change: its later changes,
    across savepoints rolled back and kept and after an aborted transaction, are each
    recorded (or not) exactly as if each had opened them, and nothing is left open (no leak warning)."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"xact_{ARGS.label}"
    run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    run(agent, f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 4) g")
    before = run(dba, f"SELECT id, v FROM {table} ORDER BY id")
    first = last_change(agent)
    agent.autocommit = False
    run(agent, f"UPDATE {table} SET v = 'a' WHERE id = 1")
    run(agent, "SAVEPOINT s")
    run(agent, f"UPDATE {table} SET v = 'b' WHERE id = 2")
    run(agent, "ROLLBACK TO SAVEPOINT s")
    run(agent, "SAVEPOINT s2")
    run(agent, f"UPDATE {table} SET v = 'c' WHERE id = 3")
    run(agent, "RELEASE SAVEPOINT s2")
    agent.commit()
    run(agent, f"UPDATE {table} SET v = 'lost' WHERE id = 4")
    agent.rollback()
    run(agent, f"UPDATE {table} SET v = 'd' WHERE id = 4")
    agent.commit()
    agent.autocommit = True
    eq(run(dba, f"""SELECT t.inserted + t.updated + t.deleted, c.statement FROM interdict.changes c JOIN interdict.change_tables t ON t.change_id = c.id
                    WHERE c.id > {first} AND c.role_name = 'r_guard' AND t.relid = '{table}'::regclass ORDER BY c.id"""),
       [(1, f"UPDATE {table} SET v = 'a' WHERE id = 1"), (1, f"UPDATE {table} SET v = 'c' WHERE id = 3"), (1, f"UPDATE {table} SET v = 'd' WHERE id = 4")],
       "the kept statements' changes, the rolled-back ones' not")
    ids = [r[0] for r in run(dba, f"SELECT id FROM interdict.changes WHERE id > {first} AND role_name = 'r_guard' ORDER BY id")]
    run(agent, f"SELECT interdict.revert(ARRAY{ids}::bigint[])")
    eq(run(dba, f"SELECT id, v FROM {table} ORDER BY id"), before, "all reverted")
    # A procedure that commits between its writes, and a deferred trigger writing at commit: each
    # commit closes the open records, the next write opens them again.
    run(dba, f"""CREATE PROCEDURE {table}_twice() LANGUAGE plpgsql AS $$
                   BEGIN UPDATE {table} SET v = 'p1' WHERE id = 1; COMMIT; UPDATE {table} SET v = 'p2' WHERE id = 2; END $$""")
    run(agent, f"CREATE TABLE {table}_log (id int PRIMARY KEY, what text)")
    run(dba, f"""CREATE FUNCTION {table}_logged() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN INSERT INTO {table}_log VALUES (new.id, new.v); RETURN NULL; END $$""")
    run(dba, f"""CREATE CONSTRAINT TRIGGER logged AFTER UPDATE ON {table} DEFERRABLE INITIALLY DEFERRED
                   FOR EACH ROW WHEN (new.id = 3) EXECUTE FUNCTION {table}_logged()""")
    last = last_change(agent)
    run(agent, f"CALL {table}_twice()")
    run(agent, f"BEGIN; UPDATE {table} SET v = 'deferred' WHERE id = 3; COMMIT")
    eq(run(dba, f"""SELECT t.table_name, t.updated + t.inserted FROM interdict.changes c JOIN interdict.change_tables t ON t.change_id = c.id
                    WHERE c.id > {last} AND c.role_name = 'r_guard' ORDER BY c.id, t.relid"""),
       [(f"public.{table}", 1), (f"public.{table}", 1), (f"public.{table}", 1), (f"public.{table}_log", 1)],
       "the procedure's two transactions and the deferred write each recorded")
    ids = [r[0] for r in run(dba, f"SELECT id FROM interdict.changes WHERE id > {last} AND role_name = 'r_guard' ORDER BY id")]
    run(agent, f"SELECT interdict.revert(ARRAY{ids}::bigint[])")
    eq(run(dba, f"SELECT id, v FROM {table} ORDER BY id"), before, "all reverted")
    eq(one(dba, f"SELECT count(*) FROM {table}_log"), 0, "the deferred write reverted")
    eq([n for n in agent.notices if "leak" in n], [], "no reference left open")
    run(dba, f"DROP TABLE {table}, {table}_log")
    run(dba, f"DROP PROCEDURE {table}_twice()")
    run(dba, f"DROP FUNCTION {table}_logged()")

@test
def purge_and_retention():
    op, dba, agent = connect("p_op"), connect("postgres"), connect("r_guard")
    eq(refusal(agent, "SELECT interdict.purge('1 day')")["reason"], "undo.not_allowed", "agents do not purge")
    eq(refusal(connect("r_off"), "SELECT interdict.purge('1 day')")["reason"], "undo.not_allowed", "nor do non-operators")
    eq(refusal(op, "SELECT interdict.purge()")["reason"], "undo.not_allowed", "no retention set: purge() needs an age")
    for sql in ["DELETE FROM interdict.changes WHERE false", "UPDATE interdict.change_rows SET row_count = row_count WHERE false",
                "TRUNCATE interdict.changes", "DELETE FROM interdict.approvals WHERE false"]:
        refused(dba, sql, "records.protected")  # a DBA in mode off too: only the guard changes its records
    def old_change(v):
        # Ids and times rise together (expiry reads the oldest ids): a change two days old comes
        # after changes at least as old.
        run(agent, f"UPDATE t SET v = '{v}' WHERE id = 2")
        cid = last_change(agent)
        run(dba, "SET session_replication_role = replica")  # the records refuse direct changes otherwise
        run(dba, f"UPDATE interdict.changes SET made_at = least(made_at, now() - interval '2 days') WHERE id <= {cid}")
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

@test
def rows_are_found_by_address_and_after_their_table_is_rewritten():
    """A change's rows have no index: revert finds them by the addresses their change keeps, with
    a TID scan; after VACUUM FULL moves them (a new file), by change id. Revert and purge work both
    ways, and a change whose row images are missing is not reverted by half. Rows are packed in
    batches of about 1,800 bytes: two rows of 1,000 bytes are two batches."""
    op, dba, agent = connect("p_op"), connect("postgres"), connect("r_guard")
    run(agent, f"UPDATE t SET v = 'addressed' WHERE id IN (1, 2, 3) /* {ARGS.label} */")
    eq(one(dba, f"SELECT (first_batch_rows, cardinality(rows_at), (SELECT count(*) FROM interdict.change_rows WHERE change_id = c.id))::text FROM interdict.changes c WHERE id = {last_change(agent)}"),
       "(3,0,0)", "three small rows, one batch, kept in the change's own row")
    run(agent, f"SELECT interdict.revert({last_change(agent)})")
    run(agent, f"UPDATE t SET v = 'addressed' || repeat('.', 1000) WHERE id IN (4, 5) /* {ARGS.label} */")
    first = last_change(agent)
    eq(one(dba, f"SELECT (first_batch_rows, cardinality(rows_at))::text FROM interdict.changes WHERE id = {first}"), "(1,1)", "one in the change's row, one address")
    eq(one(dba, f"""SELECT pg_catalog.array_agg(r.ctid ORDER BY r.seq) = c.rows_at FROM interdict.change_rows r, interdict.changes c
                    WHERE c.id = {first} AND r.change_id = c.id GROUP BY c.rows_at"""), True, "they are the rows', in order")
    run(agent, f"UPDATE t SET v = 'moved' || repeat('.', 1000) WHERE id IN (6, 10) /* {ARGS.label} */")
    second = last_change(agent)
    run(dba, "VACUUM FULL interdict.change_rows")
    eq(one(dba, f"""SELECT rows_file <> pg_catalog.pg_relation_filenode('interdict.change_rows')
                    FROM interdict.change_tables WHERE change_id = {second}"""), True, "a new file")
    run(agent, f"SELECT interdict.revert({second})")
    eq(one(agent, "SELECT string_agg(v, ',' ORDER BY id) FROM t WHERE id IN (6, 10)"), "v6,v10", "reverted after its rows moved")
    run(agent, f"SELECT interdict.revert({first})")
    eq(one(agent, "SELECT count(*) FROM t WHERE v LIKE 'addressed%'"), 0, "both rows reverted")
    run(agent, f"UPDATE t SET v = 'stale' || repeat('.', 1000) WHERE id IN (9, 10) /* {ARGS.label} */")
    stale = last_change(agent)
    run(dba, "SET session_replication_role = replica")  # addresses that no longer hold, in the same file (a restore)
    run(dba, f"""UPDATE interdict.changes SET rows_at = ARRAY['(0,1)'::tid]
                 WHERE id = {stale}""")
    run(dba, "RESET session_replication_role")
    run(agent, f"SELECT interdict.revert({stale})")
    eq(one(agent, "SELECT string_agg(v, ',' ORDER BY id) FROM t WHERE id IN (9, 10)"), "v9,v10", "reverted though its addresses were stale")
    run(agent, f"UPDATE t SET v = 'half' || repeat('.', 1000) WHERE id IN (7, 8) /* {ARGS.label} */")
    half = last_change(agent)
    run(dba, "SET session_replication_role = replica")  # the records refuse direct changes otherwise
    run(dba, f"DELETE FROM interdict.change_rows WHERE change_id = {half} AND seq = 2")
    run(dba, "RESET session_replication_role")
    e = refusal(agent, f"SELECT interdict.revert({half})")
    eq((e["reason"], "1 of its 2 row images" in e["error"]), ("internal.failure", True), "a missing image stops the revert")
    eq(one(agent, "SELECT count(*) FROM t WHERE v LIKE 'half%'"), 2, "nothing reverted by half")
    run(dba, "SET session_replication_role = replica")
    run(dba, f"UPDATE interdict.changes SET made_at = made_at - interval '2 days' WHERE id IN ({first}, {second}, {half}, {stale})")
    run(dba, "RESET session_replication_role")
    eq(one(op, "SELECT interdict.purge('1 day') >= 4"), True, "purged, moved rows and addressed ones")
    eq(one(dba, f"SELECT count(*) FROM interdict.change_rows WHERE change_id IN ({first}, {second}, {half}, {stale})"), 0,
       "no row left behind")
    restore_t()

# --- issue 6: agent identity, stats, audit, ceilings, check_role, dry run -----------------------

@test
def a_failure_of_the_guards_own_is_internal_failure():
    """A step of the guard's own that fails (here: its record table renamed away by a DBA) stops the
    statement with internal.failure, saying what failed; nothing is written unrecorded."""
    dba = connect("postgres")
    agent = connect("r_guard")
    before = one(dba, "SELECT count(*) FROM t")
    run(dba, "ALTER TABLE interdict.change_rows RENAME TO change_rows_away")
    try:
        e = refusal(agent, "INSERT INTO t VALUES (990001, 'x')")
    finally:
        run(dba, "ALTER TABLE interdict.change_rows_away RENAME TO change_rows")
    eq(e["reason"], "internal.failure", "the guard's own step failed")
    assert "error" in e and e["error"], "it says why"
    eq(one(dba, "SELECT count(*) FROM t"), before, "the write went with its statement")
    restore_t()

@test
def images_are_the_rows_bytes_read_back_exactly():
    """Row images are the rows' bytes (values stored out of line fetched into them): a revert restores
    them exactly; operators read them as text; they are served only to a revert's own statements; a
    column dropped and added again under its name is another column."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"images_{ARGS.label}"
    run(agent, f"""CREATE TABLE {table} (id int PRIMARY KEY, gone int, v text, big text, squeezed text, n numeric,
                   f float8, ts timestamptz, arr int[], j jsonb)""")
    run(dba, f"ALTER TABLE {table} DROP COLUMN gone")
    # big: incompressible, stored out of line; squeezed: compressed inline.
    run(agent, f"""INSERT INTO {table} SELECT 1, 'é ü', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 2000) i),
                   repeat('x', 50000), 1.50, 0.1, '2024-02-29 12:34:56.789+00', '{{1,NULL,3}}', '{{"a": [1, 2]}}'""")
    fingerprint = f"SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"
    before = one(agent, fingerprint)
    run(agent, f"UPDATE {table} SET v = 'changed', big = big || 'y', squeezed = squeezed || 'z', n = 2, arr = '{{}}' WHERE id = 1")
    updated = last_change(agent)
    eq(one(dba, f"SELECT pg_typeof(first_batch)::text FROM interdict.changes WHERE id = {updated}"), "bytea", "stored as bytes")
    got = run(dba, f"SELECT seq, table_name, op, old_row IS NOT NULL, new_row = (SELECT t::text FROM {table} t) FROM interdict.change_images({updated})")
    eq(got, [(1, f"public.{table}", "U", True, True)], "an operator reads the images as the rows' text")
    eq(refusal(agent, f"SELECT * FROM interdict.change_images({updated})")["reason"], "undo.not_allowed", "agents do not read images")
    eq(refusal(dba, "SELECT * FROM interdict.change_images(-1)")["reason"], "undo.not_found", "no such change")
    eq(refusal(agent, f"SELECT interdict.revert_image(0, 1, NULL::{table})")["reason"], "undo.not_allowed", "images are served to a revert only")
    run(agent, f"DELETE FROM {table} WHERE id = 1")
    deleted = last_change(agent)
    run(agent, f"SELECT interdict.revert({deleted})")
    run(agent, f"SELECT interdict.revert({updated})")
    eq(one(agent, fingerprint), before, "every value back exactly, the out-of-line and compressed ones too")
    as_it_was = one(agent, f"SELECT t::text FROM {table} t")
    run(agent, f"UPDATE {table} SET v = 'again' WHERE id = 1")
    again = last_change(agent)
    # The last column, dropped and added again: the same names and types in the same order.
    run(dba, f"ALTER TABLE {table} DROP COLUMN j")
    run(dba, f"ALTER TABLE {table} ADD COLUMN j jsonb")
    eq(refusal(agent, f"SELECT interdict.revert({again})")["reason"], "undo.table_changed", "a column of the same name is another column")
    eq(one(dba, f"SELECT old_row FROM interdict.change_images({again})"), as_it_was, "its images read as the table was then")

@test
def a_database_not_in_utf8_reverts_its_text_exactly():
    agent = connect("r_guard", db="pgtest_latin1")
    eq(one(agent, "SHOW server_encoding"), "LATIN1", "the database's encoding")
    run(agent, f"UPDATE t SET v = 'é ü ß {ARGS.label}' WHERE id = 1")
    first = last_change(agent)
    run(agent, "UPDATE t SET v = 'ÿ' WHERE id = 1")
    run(agent, f"SELECT interdict.revert({last_change(agent)})")
    eq(one(agent, "SELECT v FROM t WHERE id = 1"), f"é ü ß {ARGS.label}", "non-ASCII text restored")
    run(agent, f"SELECT interdict.revert({first})")
    eq(one(agent, "SELECT v FROM t WHERE id = 1"), "v1", "and the first change too")
    eq(one(agent, f"SELECT statement FROM interdict.history(1, {first})"), f"UPDATE t SET v = 'é ü ß {ARGS.label}' WHERE id = 1",
       "its history shows the statement's text as written")

@test
def a_revert_that_would_leave_a_dangling_reference_is_a_conflict():
    """Foreign keys are checked for the rows a revert wrote and the keys it removed: a reference made
    since to a row the change inserted, or a reinserted row whose referenced row is gone, is
    undo.conflict naming the constraint, with nothing reverted; a key that moves back with its
    cascaded references is no conflict."""
    dba, agent = connect("postgres"), connect("r_guard")
    parent, child = f"fk_parent_{ARGS.label}", f"fk_child_{ARGS.label}"
    run(agent, f"CREATE TABLE {parent} (id int PRIMARY KEY, v text)")
    run(agent, f"""CREATE TABLE {child} (id int PRIMARY KEY, parent_id int
                   CONSTRAINT {child}_ref REFERENCES {parent} ON UPDATE CASCADE, v text)""")
    run(agent, f"INSERT INTO {parent} VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    run(agent, f"INSERT INTO {child} VALUES (10, 2, 'x'), (11, NULL, 'no reference')")
    def refused_until_fixed(change, why, unchanged, fix, reverted):
        """The revert is undo.conflict naming the constraint and reverts nothing, until `fix` runs."""
        d = refusal(agent, f"SELECT interdict.revert({change})")
        eq((d["reason"], d["constraint"]), ("undo.conflict", f"{child}_ref"), why)
        eq(one(dba, unchanged[0]), unchanged[1], f"nothing reverted: {why}")
        run(dba, fix)
        run(agent, f"SELECT interdict.revert({change})")
        eq(one(dba, reverted[0]), reverted[1], f"reverted once fixed: {why}")
    run(agent, f"INSERT INTO {parent} VALUES (4, 'd')")
    inserted = last_change(agent)
    run(dba, f"INSERT INTO {child} VALUES (12, 4, 'refers to the inserted row')")
    refused_until_fixed(inserted, "a reference made since to an inserted row", (f"SELECT count(*) FROM {parent} WHERE id = 4", 1),
                        f"DELETE FROM {child} WHERE id = 12", (f"SELECT count(*) FROM {parent} WHERE id = 4", 0))
    run(agent, f"DELETE FROM {child} WHERE id = 10")
    deleted = last_change(agent)
    run(dba, f"DELETE FROM {parent} WHERE id = 2")
    refused_until_fixed(deleted, "a reinserted row whose referenced row is gone", (f"SELECT count(*) FROM {child} WHERE id = 10", 0),
                        f"INSERT INTO {parent} VALUES (2, 'b again')", (f"SELECT parent_id FROM {child} WHERE id = 10", 2))
    run(agent, f"UPDATE {parent} SET id = 20 WHERE id = 2")
    moved = last_change(agent)
    eq(one(dba, f"SELECT parent_id FROM {child} WHERE id = 10"), 20, "the reference cascaded")
    run(agent, f"SELECT interdict.revert({moved})")
    eq(run(dba, f"SELECT (SELECT parent_id FROM {child} WHERE id = 10), (SELECT count(*) FROM {parent} WHERE id = 2)"), [(2, 1)],
       "the key and its reference moved back together")

@test
def a_revert_checks_foreign_keys_through_partitions():
    """A change recorded on a partition is checked against the foreign keys of its partitioned
    ancestors, on both sides: a reference made since to a row it inserted into a partition of the
    referenced table, and a row it deleted from a partition of a referencing table whose referenced
    row is gone since, are each undo.conflict naming the constraint, with nothing reverted."""
    dba, agent = connect("postgres"), connect("r_guard")
    parent, child = f"pfk_parent_{ARGS.label}", f"pfk_child_{ARGS.label}"
    run(agent, f"CREATE TABLE {parent} (id int PRIMARY KEY, v text) PARTITION BY RANGE (id)")
    run(agent, f"CREATE TABLE {parent}_low PARTITION OF {parent} FOR VALUES FROM (0) TO (100)")
    run(agent, f"CREATE TABLE {child} (id int PRIMARY KEY, parent_id int CONSTRAINT {child}_ref REFERENCES {parent}) PARTITION BY RANGE (id)")
    run(agent, f"CREATE TABLE {child}_low PARTITION OF {child} FOR VALUES FROM (0) TO (100)")
    run(dba, f"SELECT interdict.record('{parent}_low'), interdict.record('{child}_low')")
    run(agent, f"INSERT INTO {parent} VALUES (1, 'a'), (2, 'b')")
    run(agent, f"INSERT INTO {child} VALUES (10, 1)")
    run(agent, f"INSERT INTO {parent} VALUES (3, 'c')")
    inserted = last_change(agent)
    eq(one(dba, f"SELECT table_name FROM interdict.change_tables WHERE change_id = {inserted}"), f"public.{parent}_low", "recorded on the partition")
    run(dba, f"INSERT INTO {child} VALUES (11, 3)")
    d = refusal(agent, f"SELECT interdict.revert({inserted})")
    eq((d["reason"], d["constraint"]), ("undo.conflict", f"{child}_ref"), "a reference made since to a row inserted into a partition")
    eq(one(dba, f"SELECT count(*) FROM {parent} WHERE id = 3"), 1, "nothing reverted")
    run(agent, f"DELETE FROM {child} WHERE id = 10")
    deleted = last_change(agent)
    run(dba, f"DELETE FROM {child} WHERE id = 11; DELETE FROM {parent} WHERE id = 1")
    d = refusal(agent, f"SELECT interdict.revert({deleted})")
    eq((d["reason"], d["constraint"]), ("undo.conflict", f"{child}_ref"), "a row of a partition whose referenced row is gone")
    eq(one(dba, f"SELECT count(*) FROM {child} WHERE id = 10"), 0, "nothing reverted")
    run(dba, f"INSERT INTO {parent} VALUES (1, 'a again')")
    run(agent, f"SELECT interdict.revert({deleted}), interdict.revert({inserted})")
    eq(run(dba, f"SELECT (SELECT parent_id FROM {child} WHERE id = 10), (SELECT count(*) FROM {parent} WHERE id = 3)"), [(1, 0)],
       "both reverted once the references hold")

@test
def a_large_statement_writes_its_images_as_it_goes():
    """A statement's full batches of row images are written to change_rows while it runs (64 batches
    held at most, so its memory stays bounded), under the id its change then takes: reverted exactly.
    Rolled back — the transaction, a savepoint, a PL/pgSQL block that fails — they go with it, and
    what the statement captured outside the block stays recorded; a block that succeeds keeps them."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"ahead_{ARGS.label}"
    run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, n int, pad text)")
    run(agent, f"INSERT INTO {table} SELECT g, g, repeat(md5(g::text), 10) FROM generate_series(1, 600) g")
    fingerprint = f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {table} t"
    orphans = "SELECT count(*) FROM interdict.change_rows r WHERE NOT EXISTS (SELECT FROM interdict.changes c WHERE c.id = r.change_id)"
    before = one(dba, fingerprint)

    run(agent, f"UPDATE {table} SET n = n + 1 WHERE id > 0")
    big = last_change(agent)
    eq(one(dba, f"""SELECT (c.first_batch_rows + (SELECT sum(row_count) FROM interdict.change_rows WHERE change_id = c.id),
                            cardinality(c.rows_at) > 64,
                            c.rows_at = (SELECT array_agg(ctid ORDER BY seq) FROM interdict.change_rows WHERE change_id = c.id))::text
                    FROM interdict.changes c WHERE id = {big}"""), "(600,t,t)", "every row, its batches' addresses in order")
    run(agent, f"SELECT interdict.revert({big})")
    eq(one(dba, fingerprint), before, "reverted exactly")

    # Written ahead under an id taken then: rolled back, the id is gone with nothing left behind.
    run(agent, f"BEGIN; UPDATE {table} SET n = n + 1 WHERE id > 0; ROLLBACK")
    run(agent, f"UPDATE {table} SET n = n + 1 WHERE id = 1")
    eq(last_change(agent) - big, 3, "the revert's change, then an id taken while the rolled-back UPDATE ran")
    run(agent, f"SELECT interdict.revert({last_change(agent)})")
    run(agent, "BEGIN")
    run(agent, f"UPDATE {table} SET n = n + 2 WHERE id <= 5")
    kept = last_change(agent)
    run(agent, "SAVEPOINT s")
    run(agent, f"UPDATE {table} SET n = n + 3 WHERE id > 0")
    run(agent, "ROLLBACK TO SAVEPOINT s")
    run(agent, "COMMIT")
    eq(one(dba, f"SELECT max(id) FROM interdict.changes"), kept, "no change for the statement rolled back to the savepoint")
    eq(one(dba, orphans), 0, "and none of its images")

    # Large writes through other routes: a procedure that commits after one (its rows are written
    # at that COMMIT), COPY, and a deferred trigger writing at commit. Each its own change, exact.
    last, now = one(dba, "SELECT max(id) FROM interdict.changes"), one(dba, fingerprint)
    run(dba, f"""CREATE PROCEDURE {table}_proc() LANGUAGE plpgsql AS $$
                 BEGIN UPDATE {table} SET n = n + 5 WHERE id > 0; COMMIT; UPDATE {table} SET n = n + 5 WHERE id <= 3; END $$""")
    run(agent, f"CALL {table}_proc()")
    run(agent, f"CREATE TABLE {table}_copy (id int PRIMARY KEY, pad text)")
    agent.cursor().copy_expert(f"COPY {table}_copy FROM STDIN",
                               __import__("io").StringIO("".join(f"{i}\t{'c' * 300}\n" for i in range(1, 601))))
    run(dba, f"""CREATE FUNCTION {table}_later() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN UPDATE {table} SET n = n + 7 WHERE id > 0; RETURN NULL; END $$""")
    run(dba, f"""CREATE CONSTRAINT TRIGGER later AFTER INSERT ON {table}_copy DEFERRABLE INITIALLY DEFERRED
                 FOR EACH ROW WHEN (new.id = 0) EXECUTE FUNCTION {table}_later()""")
    run(agent, f"BEGIN; INSERT INTO {table}_copy VALUES (0, 'fires at commit'); COMMIT")
    eq(run(dba, f"""SELECT (inserted OPERATOR(pg_catalog.||) updated)::text, cardinality(rows_at) > 0
                    FROM interdict.changes WHERE id > {last} AND role_name = 'r_guard' ORDER BY id"""),
       [("{0,600}", True), ("{0,3}", False), ("{600,0}", True), ("{1,0}", False), ("{0,600}", True)],
       "the procedure's two transactions, the COPY, the insert and the deferred write, the large ones in batches")
    ids = [r[0] for r in run(dba, f"SELECT id FROM interdict.changes WHERE id > {last} AND role_name = 'r_guard' ORDER BY id")]
    for change in reversed(ids):  # one statement each: together they pass max_rows (1,000)
        run(agent, f"SELECT interdict.revert({change})")
    eq((one(dba, fingerprint), one(dba, f"SELECT count(*) FROM {table}_copy"), one(dba, orphans)), (now, 0, 0),
       "all reverted: the table as it was, the copied rows gone, no image left behind")
    run(dba, f"DROP TABLE {table}_copy")
    run(dba, f"DROP FUNCTION {table}_later()")
    run(dba, f"DROP PROCEDURE {table}_proc()")

    fn = f"ahead_fn_{ARGS.label}"
    run(dba, f"""CREATE FUNCTION {fn}(fail boolean) RETURNS int LANGUAGE plpgsql AS $$
                 BEGIN
                     BEGIN
                         UPDATE {table} SET n = n + 100 WHERE id > 0;
                         IF fail THEN RAISE EXCEPTION 'undo the block'; END IF;
                     EXCEPTION WHEN raise_exception THEN NULL;
                     END;
                     UPDATE {table} SET n = n + 10 WHERE id <= 3;
                     RETURN 1;
                 END $$""")
    run(agent, f"SELECT {fn}(true)")
    failed = last_change(agent)
    eq(one(dba, f"SELECT (inserted, updated, deleted, first_batch_rows, cardinality(rows_at))::text FROM interdict.changes WHERE id = {failed}"),
       "({0},{3},{0},3,0)", "the failed block's rows are not in the change, the rows after it are")
    eq(one(dba, orphans), 0, "the failed block's images went with it")
    run(agent, f"SELECT {fn}(false)")
    whole = last_change(agent)
    eq(one(dba, f"SELECT updated::text FROM interdict.changes WHERE id = {whole}"), "{603}", "a block that succeeds: its rows and the later ones")
    for change in (whole, failed, kept):
        run(agent, f"SELECT interdict.revert({change})")
    eq(one(dba, fingerprint), before, "every change reverted: the table as it was")
    run(dba, f"DROP FUNCTION {fn}(boolean)")
    run(dba, f"DROP TABLE {table}")

@test
def a_large_revert_reads_and_records_in_bounded_parts():
    """A revert reads a change's later batches a group at a time (256) and writes its own change's
    full batches as it packs them: reverting a change of more than one group, then the revert,
    then that again, gives back each state exactly, and every change's addresses are its batches'."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"groups_{ARGS.label}"
    run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, n int, pad text)")
    run(agent, f"INSERT INTO {table} SELECT g, g, repeat(md5(g::text), 25) FROM generate_series(1, 1000) g")
    fingerprint = f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {table} t"
    addressed = """SELECT (cardinality(c.rows_at),
                           c.first_batch_rows + coalesce((SELECT sum(row_count) FROM interdict.change_rows WHERE change_id = c.id), 0),
                           c.rows_at = (SELECT array_agg(ctid ORDER BY seq) FROM interdict.change_rows WHERE change_id = c.id))::text
                     FROM interdict.changes c WHERE id = {}"""
    before = one(dba, fingerprint)
    run(agent, f"UPDATE {table} SET n = -n, pad = pad || 'x' WHERE id > 0")
    after, change = one(dba, fingerprint), last_change(agent)
    batches = int(one(dba, addressed.format(change)).strip("()").split(",")[0])
    assert batches > 256, f"the change needs more than one group of batches: {batches}"
    eq(one(dba, addressed.format(change)), f"({batches},1000,t)", "the change's batches by address")
    run(agent, f"SELECT interdict.revert({change})")
    eq(one(dba, fingerprint), before, "reverted exactly")
    undo = last_change(agent)
    eq(one(dba, addressed.format(undo)).split(",")[1:], ["1000", "t)"], "the revert's own change: every row, its batches by address")
    run(agent, f"SELECT interdict.revert({undo})")
    eq(one(dba, fingerprint), after, "the revert reverted: the UPDATE again")
    run(agent, f"SELECT interdict.revert({last_change(agent)})")
    eq(one(dba, fingerprint), before, "and back")
