"""The red team's findings on guarded mode (F1..F13), each as the behaviour the guard must have:
a route to an unrecorded or unapprovable write is refused with its reason code, a revert that
cannot be exact is refused with nothing changed, an approval covers exactly what it was asked for,
once. Each test makes its own objects (named with the run's label) and drops them as the DBA.

Registered into harness.TESTS (imported by run.py); uses the drivers of harness.py.
"""
import os
import psycopg2
from harness import test, connect, run, one, eq, refused, refusal, last_change, ARGS

def fingerprint(conn, table):
    return one(conn, f"SELECT pg_catalog.md5(pg_catalog.string_agg(x::text, ',' ORDER BY id)) FROM {table} x")

def drop(dba, *sqls):
    """Clean-up as the DBA, each step on its own, whatever the test left."""
    for sql in sqls:
        try:
            run(dba, sql)
        except psycopg2.Error:
            pass

# --- F10: a write the table's own code makes while a revert runs with triggers off ------------------

@test
def redteam_f10_copy_from_run_by_a_check_during_a_revert_is_refused():
    """interdict.revert() runs the table's code with session_replication_role = replica (capture
    triggers off): a CHECK function that then runs COPY … FROM a server file into another recorded
    table would write it unrecorded. The revert is refused with guarded.bypass and rolled back."""
    dba, agent = connect("postgres"), connect("r_guard")
    tag = ARGS.label
    chk, checked, other = f"rt_chk_{tag}", f"rt_checked_{tag}", f"rt_copied_{tag}"
    path = os.path.join(ARGS.files, f"rt_copy_{tag}.txt")
    with open(path, "w") as f:
        f.write("from a server file\n")
    os.chmod(path, 0o644)
    run(dba, "GRANT pg_read_server_files TO r_guard")
    try:
        run(agent, f"CREATE TABLE {other} (what text PRIMARY KEY)")  # recorded as the agent creates it
        run(agent, f"INSERT INTO {other} VALUES ('before')")
        run(agent, f"""CREATE FUNCTION {chk}(v int) RETURNS boolean LANGUAGE plpgsql AS $$
                       BEGIN
                         IF current_setting('session_replication_role') = 'replica' THEN
                           EXECUTE $q$COPY public.{other} (what) FROM '{path}'$q$;
                         END IF;
                         RETURN true;
                       END $$""")
        run(agent, f"CREATE TABLE {checked} (id int PRIMARY KEY, x int CHECK ({chk}(x)))")
        run(agent, f"INSERT INTO {checked} VALUES (1, 1)")
        run(agent, f"UPDATE {checked} SET x = 2 WHERE id = 1")
        cid = last_change(agent)
        refused(agent, f"SELECT interdict.revert({cid})", "guarded.bypass")
        eq(run(dba, f"SELECT what FROM {other} ORDER BY what"), [("before",)], "nothing copied into the other recorded table")
        eq(run(dba, f"SELECT id, x FROM {checked}"), [(1, 2)], "the revert rolled back: the table unchanged")
        eq(one(dba, f"SELECT reverted_by IS NULL FROM interdict.changes WHERE id = {cid}"), True, "the change not marked reverted")
    finally:
        drop(dba, "REVOKE pg_read_server_files FROM r_guard", f"DROP TABLE IF EXISTS {checked}, {other}",
             f"DROP FUNCTION IF EXISTS {chk}(int)")
        os.remove(path)

# --- F4: capture order is not write order: a revert that cannot be exact is refused ------------------

def out_of_order_revert(table, rows, body, event, statement, check):
    """A table of `rows`, an AFTER trigger `a_…` on `event` (its name sorts before interdict_capture)
    running `body` at depth 1, then `statement`: `check` (sql, expected) holds after it, and the
    revert is refused with undo.out_of_order, changing nothing."""
    dba, agent = connect("postgres"), connect("r_guard")
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {table} {rows}")
        run(agent, f"""CREATE FUNCTION {table}_fn() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN
                         IF pg_trigger_depth() = 1 THEN {body} END IF;
                         RETURN NULL;
                       END $$""")
        run(agent, f"CREATE TRIGGER a_first AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_fn()")
        run(agent, statement)
        cid = last_change(agent)
        eq(run(dba, check[0]), check[1], "what the trigger wrote")
        before = fingerprint(dba, table)
        refused(agent, f"SELECT interdict.revert({cid})", "undo.out_of_order")
        eq(fingerprint(dba, table), before, "the failed revert changed nothing")
        eq(one(dba, f"SELECT reverted_by IS NULL FROM interdict.changes WHERE id = {cid}"), True, "not marked reverted")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP FUNCTION IF EXISTS {table}_fn()")

@test
def redteam_f4_a_trigger_rewriting_a_deleted_row_makes_revert_out_of_order():
    """An AFTER DELETE trigger firing before interdict_capture re-inserts a deleted key with other
    content: the nested write is recorded before the outer row. Reverting would restore the other
    row and silently keep the forged one: refused with undo.out_of_order, nothing changed."""
    table = f"rt_swap_{ARGS.label}"
    out_of_order_revert(table, "SELECT g, 'note ' || g FROM generate_series(1, 10) g",
                        f"IF OLD.id = 7 THEN INSERT INTO {table} VALUES (7, 'forged'); END IF;", "DELETE",
                        f"DELETE FROM {table} WHERE id IN (7, 8)", (f"SELECT id, v FROM {table} WHERE id IN (7, 8)", [(7, "forged")]))

@test
def redteam_f4_a_trigger_updating_the_same_row_again_makes_revert_out_of_order():
    """The UPDATE variant: an AFTER UPDATE trigger firing before interdict_capture updates the row
    the statement updated, the statement's only row. Refused with undo.out_of_order (not
    internal.failure "a change with no rows"), nothing changed."""
    table = f"rt_bump_{ARGS.label}"
    out_of_order_revert(table, "SELECT g, 'open' FROM generate_series(1, 5) g",
                        f"UPDATE {table} SET v = 'hacked' WHERE id = NEW.id;", "UPDATE",
                        f"UPDATE {table} SET v = 'closed' WHERE id = 2", (f"SELECT v FROM {table} WHERE id = 2", [("hacked",)]))

# --- F2, F3: DDL that changes a recorded table's rows without a recorded change ----------------------

@test
def redteam_f2_enum_rename_value_used_by_a_recorded_table_is_refused():
    """ALTER TYPE … RENAME VALUE changes what every row of a column of that type reads, unrecorded:
    refused with guarded.not_reversible; ADD VALUE changes no row and stays allowed."""
    dba, agent = connect("postgres"), connect("r_guard")
    typ, table = f"rt_mood_{ARGS.label}", f"rt_moods_{ARGS.label}"
    try:
        run(agent, f"CREATE TYPE {typ} AS ENUM ('calm', 'angry')")
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, m {typ})")
        run(agent, f"INSERT INTO {table} VALUES (1, 'calm'), (2, 'angry'), (3, 'calm')")
        before = fingerprint(dba, table)
        refused(agent, f"ALTER TYPE {typ} RENAME VALUE 'calm' TO 'frantic'", "guarded.not_reversible")
        eq(fingerprint(dba, table), before, "the rows read as before")
        eq(one(dba, f"SELECT pg_catalog.enum_range(NULL::{typ})::text"), "{calm,angry}", "the type unchanged")
        run(agent, f"ALTER TYPE {typ} ADD VALUE 'sad'")
        eq(one(dba, f"SELECT pg_catalog.enum_range(NULL::{typ})::text"), "{calm,angry,sad}", "ADD VALUE allowed")
        eq(fingerprint(dba, table), before, "and changes no row")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP TYPE IF EXISTS {typ}")

@test
def redteam_f3_attach_partition_of_a_non_empty_table_is_refused():
    """ATTACH PARTITION of a table with rows imports them into a recorded partitioned table with no
    recorded change (and past any row limit): refused with guarded.not_reversible."""
    dba, agent = connect("postgres"), connect("r_guard")
    parent = f"rt_parted_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {parent} (id int PRIMARY KEY, v text) PARTITION BY RANGE (id)")
        run(agent, f"CREATE TABLE {parent}_low PARTITION OF {parent} FOR VALUES FROM (0) TO (100)")
        run(agent, f"INSERT INTO {parent} VALUES (1, 'a'), (2, 'b')")
        run(agent, f"CREATE TABLE {parent}_high AS SELECT g AS id, 'imported'::text AS v FROM generate_series(100, 104) g")
        run(agent, f"ALTER TABLE {parent}_high ADD PRIMARY KEY (id)")
        refused(agent, f"ALTER TABLE {parent} ATTACH PARTITION {parent}_high FOR VALUES FROM (100) TO (200)", "guarded.not_reversible")
        eq(one(dba, f"SELECT count(*) FROM {parent}"), 2, "no row imported")
        eq(one(dba, f"SELECT count(*) FROM pg_catalog.pg_inherits WHERE inhrelid = '{parent}_high'::regclass"), 0, "not attached")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {parent}, {parent}_high")

# --- F7: simulate() must not run what a rollback cannot undo ----------------------------------------

@test
def redteam_f7_setval_inside_simulate_is_irreversible():
    """setval() moves a sequence outside the transaction: simulate() answers it with
    simulate.irreversible instead of running it, and the sequence stays where it was."""
    dba, agent = connect("postgres"), connect("r_guard")
    seq = f"rt_seq_{ARGS.label}"
    try:
        run(dba, f"CREATE SEQUENCE {seq}")
        run(dba, f"GRANT ALL ON SEQUENCE {seq} TO PUBLIC")
        run(dba, f"SELECT nextval('{seq}'), nextval('{seq}'), nextval('{seq}')")
        eq(run(dba, f"SELECT last_value, is_called FROM {seq}"), [(3, True)], "the sequence before")
        verdict = one(agent, f"SELECT interdict.simulate($$SELECT setval('{seq}', 1, false)$$)")
        eq((verdict["verdict"], verdict["reason"], verdict["reversible"]), ("refused", "simulate.irreversible", False), "the verdict")
        eq(run(dba, f"SELECT last_value, is_called FROM {seq}"), [(3, True)], "the sequence not moved back")
    finally:
        drop(dba, f"DROP SEQUENCE IF EXISTS {seq}")

# --- F1: ALTER COLUMN TYPE that loses data ---------------------------------------------------------

@test
def redteam_f1_retype_to_a_domain_named_text_is_refused():
    """A domain named `text` in another schema, over varchar(2): ALTER COLUMN … TYPE <schema>.text
    truncates every longer value. Refused with guarded.column_type, the data unchanged; the
    lossless retypes (varchar(10) -> text, int4 -> int8) stay allowed."""
    dba, agent = connect("postgres"), connect("r_guard")
    schema, table = f"rt_dom_{ARGS.label}", f"rt_retype_{ARGS.label}"
    try:
        run(dba, f"CREATE SCHEMA {schema} AUTHORIZATION r_guard")
        run(agent, f"CREATE DOMAIN {schema}.text AS varchar(2)")
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, c text, w varchar(10), n int4)")
        run(agent, f"INSERT INTO {table} VALUES (1, 'hello 1', 'short', 1), (2, 'hello 2', 'words', 2), (3, 'hello 3', NULL, 3)")
        # Control: retypes that keep every value are allowed.
        run(agent, f"ALTER TABLE {table} ALTER COLUMN w TYPE text")
        run(agent, f"ALTER TABLE {table} ALTER COLUMN n TYPE int8")
        eq(run(dba, f"SELECT id, c, w, n FROM {table} ORDER BY id"),
           [(1, "hello 1", "short", 1), (2, "hello 2", "words", 2), (3, "hello 3", None, 3)], "lossless retypes allowed, values kept")
        before = fingerprint(dba, table)
        refused(agent, f"ALTER TABLE {table} ALTER COLUMN c TYPE {schema}.text USING c::{schema}.text", "guarded.column_type")
        eq(fingerprint(dba, table), before, "nothing truncated")
        eq(one(dba, f"SELECT pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute WHERE attrelid = '{table}'::regclass AND attname = 'c'"),
           "text", "the column's type unchanged")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP SCHEMA IF EXISTS {schema} CASCADE")

@test
def redteam_f1b_retype_float_to_text_under_session_settings_is_refused():
    """float8 -> text renders each value through the session's extra_float_digits: at -15 the
    digits are lost. Refused with guarded.column_type, the data unchanged."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"rt_float_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, f float8)")
        run(agent, f"INSERT INTO {table} VALUES (1, 3.14159265358979), (2, 2.718281828459045), (3, 123456.789)")
        before = fingerprint(dba, table)
        run(agent, "SET extra_float_digits = -15")
        refused(agent, f"ALTER TABLE {table} ALTER COLUMN f TYPE text", "guarded.column_type")
        eq(fingerprint(dba, table), before, "no digit lost")
        eq(one(dba, f"SELECT pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute WHERE attrelid = '{table}'::regclass AND attname = 'f'"),
           "double precision", "the column's type unchanged")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}")

# --- F6, F9, F11: an approval covers one run of what the operator saw -------------------------------

@test
def redteam_f6_an_approval_consumed_in_a_rolled_back_block_is_still_used_once():
    """A function consumes its approval inside a PL/pgSQL block that then fails (the subtransaction
    rolled back), then writes over the limit outside it: the run that goes through uses the
    approval for good, and the next run is refused again."""
    dba, agent, op = connect("postgres"), connect("r_guard"), connect("p_op")
    table, fn = f"rt_once_{ARGS.label}", f"rt_once_fn_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 10) g")
        run(agent, f"""CREATE FUNCTION {fn}(s text) RETURNS void LANGUAGE plpgsql AS $$
                       BEGIN
                         BEGIN
                           UPDATE {table} SET v = 'tmp' WHERE id <= 3;
                           RAISE EXCEPTION 'roll the block back';
                         EXCEPTION WHEN others THEN NULL;
                         END;
                         UPDATE {table} SET v = s WHERE id <= 4;
                       END $$""")
        run(agent, "SET interdict.max_rows = 2")
        sql = f"SELECT {fn}('closed') /* {ARGS.label} f6 */"
        d = refusal(agent, sql)
        eq(d["reason"], "guarded.blast_radius", "first run over the limit")
        assert d.get("approval_id"), f"an approval id to ask for: {d}"
        eq(one(dba, f"SELECT count(*) FROM {table} WHERE v IN ('tmp', 'closed')"), 0, "nothing written")
        run(op, f"SELECT interdict.approve('{d['approval_id']}', max_rows => 10)")
        run(agent, sql)
        eq(one(dba, f"SELECT string_agg(v, ',' ORDER BY id) FROM {table} WHERE id <= 5"), "closed,closed,closed,closed,v5", "the approved run")
        eq(one(op, f"SELECT used_at IS NOT NULL FROM interdict.approvals WHERE id = '{d['approval_id']}'"), True, "the approval marked used")
        run(dba, f"UPDATE {table} SET v = 'v' || id")
        eq(refusal(agent, sql)["reason"], "guarded.blast_radius", "an approval goes through once")
        eq(one(dba, f"SELECT count(*) FROM {table} WHERE v IN ('tmp', 'closed')"), 0, "nothing written the third time")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP FUNCTION IF EXISTS {fn}(text)")

@test
def redteam_f9_execute_of_a_re_prepared_statement_has_its_own_approval_id():
    """`EXECUTE p` is bound to what p is: p prepared again as another statement gets another
    approval id, and an approval of the first does not let the second run."""
    dba, agent, op = connect("postgres"), connect("r_guard"), connect("p_op")
    a, b = f"rt_prep_a_{ARGS.label}", f"rt_prep_b_{ARGS.label}"
    try:
        for table in (a, b):
            run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
            run(agent, f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 10) g")
        run(agent, "SET interdict.max_rows = 2")
        run(agent, f"PREPARE p AS UPDATE {a} SET v = 'closed' WHERE id <= 5")
        da = refusal(agent, "EXECUTE p")
        run(agent, "DEALLOCATE p")
        run(agent, f"PREPARE p AS DELETE FROM {b} WHERE id <= 5")
        db = refusal(agent, "EXECUTE p")
        eq((da["reason"], db["reason"]), ("guarded.blast_radius", "guarded.blast_radius"), "both over the limit")
        assert da.get("approval_id") and db.get("approval_id"), f"approval ids: {da.get('approval_id')}, {db.get('approval_id')}"
        assert da["approval_id"] != db["approval_id"], f"one approval id for two statements: {da['approval_id']}"
        run(op, f"SELECT interdict.approve('{da['approval_id']}', max_rows => 5)")
        again = connect("r_guard")
        run(again, "SET interdict.max_rows = 2")
        run(again, f"PREPARE p AS DELETE FROM {b} WHERE id <= 5")
        refused(again, "EXECUTE p", "guarded.blast_radius")
        eq(one(dba, f"SELECT count(*) FROM {b}"), 10, "nothing deleted under the other statement's approval")
        eq(one(op, f"SELECT used_at IS NULL FROM interdict.approvals WHERE id = '{da['approval_id']}'"), True, "the approval not used")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {a}, {b}")

@test
def redteam_f11_refusals_at_commit_are_not_approvable():
    """Work done at COMMIT by deferred triggers has no statement of its own to bind an approval to:
    two different refusals there (a deferred over-limit insert, a deferred TRUNCATE) would share
    one approval id. Refusals raised at commit carry no approval id."""
    dba, agent = connect("postgres"), connect("r_guard")
    wipe, wiped = f"rt_wipe_{ARGS.label}", f"rt_wiped_{ARGS.label}"
    src = 3000 + (1 if ARGS.label == "shared_preload" else 0)
    try:
        run(agent, "SET interdict.max_rows = 2")
        # d_src's deferred trigger d_fill (db.sql) writes n rows into d_log at commit.
        d = refusal(agent, f"BEGIN; INSERT INTO d_src VALUES ({src}, 5); COMMIT")
        eq(d["reason"], "guarded.blast_radius", "the deferred insert over the limit")
        assert "approval_id" not in d, f"an approval id for a refusal at commit: {d.get('approval_id')}"
        eq(one(dba, f"SELECT count(*) FROM d_src WHERE id = {src}") + one(dba, f"SELECT count(*) FROM d_log WHERE src_id = {src}"), 0, "nothing committed")
        run(agent, f"CREATE TABLE {wiped} (id int PRIMARY KEY)")
        run(agent, f"INSERT INTO {wiped} VALUES (1), (2)")
        run(agent, f"CREATE TABLE {wipe} (id int PRIMARY KEY)")
        run(agent, f"""CREATE FUNCTION {wipe}_fn() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN TRUNCATE {wiped}; RETURN NULL; END $$""")
        run(agent, f"""CREATE CONSTRAINT TRIGGER wipe AFTER INSERT ON {wipe} DEFERRABLE INITIALLY DEFERRED
                       FOR EACH ROW EXECUTE FUNCTION {wipe}_fn()""")
        d2 = refusal(agent, f"BEGIN; INSERT INTO {wipe} VALUES (1); COMMIT")
        eq(d2["reason"], "guarded.truncate", "the deferred TRUNCATE")
        assert "approval_id" not in d2, f"an approval id for a refusal at commit: {d2.get('approval_id')}"
        eq(one(dba, f"SELECT count(*) FROM {wiped}") * 10 + one(dba, f"SELECT count(*) FROM {wipe}"), 20, "nothing truncated, nothing inserted")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {wipe}, {wiped}", f"DROP FUNCTION IF EXISTS {wipe}_fn()",
             f"DELETE FROM d_log WHERE src_id = {src}", f"DELETE FROM d_src WHERE id = {src}")

# --- F8: plain calls of the guard's API get their own reason codes ----------------------------------

@test
def redteam_f8_bad_calls_of_the_api_are_not_internal_failures():
    """revert() of an array holding NULL is undo.not_found, with nothing reverted; capture() called
    as a plain function (not as a trigger) is undo.not_allowed."""
    dba, agent = connect("postgres"), connect("r_guard")
    state = "SELECT (count(*), count(reverted_by), max(id))::text FROM interdict.changes"
    before = one(dba, state)
    eq(refusal(agent, "SELECT interdict.revert(ARRAY[NULL, 1]::bigint[])")["reason"], "undo.not_found", "a NULL change id")
    eq(one(dba, state), before, "nothing reverted")
    eq(refusal(agent, "SELECT interdict.capture()")["reason"], "undo.not_allowed", "capture() outside a trigger")

# --- readonly: native functions that write without a write statement --------------------------------

@test
def redteam_readonly_builtins_under_other_names_and_index_maintenance_are_refused():
    """A builtin declared by a DBA under another name is judged as the builtin it runs (prosrc),
    and index maintenance functions that write index pages are refused in readonly."""
    dba, agent = connect("postgres"), connect("r_sess")
    fn, table = f"rt_reload_{ARGS.label}", f"rt_gin_{ARGS.label}"
    try:
        run(dba, f"CREATE FUNCTION {fn}() RETURNS boolean LANGUAGE internal AS 'pg_reload_conf'")
        run(dba, f"GRANT EXECUTE ON FUNCTION {fn}() TO PUBLIC")
        r = refusal(agent, f"SELECT {fn}()")
        eq((r["reason"], r["runs"]), ("readonly.server_admin", "pg_reload_conf"), "an alias of pg_reload_conf")
        run(dba, f"CREATE TABLE {table} (a int[]) WITH (autovacuum_enabled = off)")
        run(dba, f"CREATE INDEX {table}_i ON {table} USING gin (a) WITH (fastupdate = on)")
        run(dba, f"INSERT INTO {table} SELECT ARRAY[g] FROM generate_series(1, 50) g")
        run(dba, f"GRANT SELECT ON {table} TO PUBLIC")
        refused(agent, f"SELECT gin_clean_pending_list('{table}_i'::regclass)", "readonly.maintenance")
    finally:
        drop(dba, f"DROP FUNCTION IF EXISTS {fn}()")
        drop(dba, f"DROP TABLE IF EXISTS {table}")

# --- F13: a revert's foreign-key check in REPEATABLE READ ----------------------------------------------

@test
def redteam_f13_a_revert_sees_references_committed_after_its_snapshot():
    """In a REPEATABLE READ transaction, a row another session committed after the snapshot that
    refers to a key the revert would remove is still a conflict (as Postgres' own check would say)."""
    dba, agent = connect("postgres"), connect("r_guard")
    parent, child = f"rt_fp_{ARGS.label}", f"rt_fc_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {parent} (id int PRIMARY KEY, code text UNIQUE)")
        run(agent, f"CREATE TABLE {child} (id int PRIMARY KEY, code text REFERENCES {parent} (code))")
        run(dba, f"GRANT ALL ON {parent}, {child} TO PUBLIC")
        run(agent, f"INSERT INTO {parent} VALUES (2, 'c')")
        run(agent, f"UPDATE {parent} SET code = 'd' WHERE id = 2")
        change = last_change(agent)
        run(agent, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        one(agent, f"SELECT count(*) FROM {child}")  # the snapshot
        run(dba, f"INSERT INTO {child} VALUES (2, 'd')")  # committed after it
        refused(agent, f"SELECT interdict.revert({change})", "undo.conflict")
        run(agent, "ROLLBACK")
        eq(run(dba, f"SELECT code FROM {parent}"), [("d",)], "nothing reverted")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {child}", f"DROP TABLE IF EXISTS {parent}")

# --- F12: stored generated columns computed again by a revert -----------------------------------------

@test
def redteam_f12_a_generated_column_computed_otherwise_is_a_conflict():
    """A stored generated column over a function that only claims to be immutable: reverting a
    delete after the function's answer changed would write back another value than the row held.
    undo.conflict, nothing restored; with the function answering as before, the revert is exact."""
    dba, agent = connect("postgres"), connect("r_guard")
    fn, table = f"rt_gk_{ARGS.label}", f"rt_gen_{ARGS.label}"
    try:
        run(agent, f"""CREATE FUNCTION {fn}(x int) RETURNS int IMMUTABLE LANGUAGE sql
                       AS $$ SELECT x + coalesce(nullif(current_setting('rt.k', true), ''), '0')::int $$""")
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, x int, g int GENERATED ALWAYS AS ({fn}(x)) STORED)")
        run(agent, f"INSERT INTO {table} (id, x) VALUES (1, 10), (2, 20)")
        before = fingerprint(dba, table)
        run(agent, f"DELETE FROM {table} WHERE id = 1")
        change = last_change(agent)
        run(agent, "SET rt.k = 100")
        refused(agent, f"SELECT interdict.revert({change})", "undo.conflict")
        eq(run(dba, f"SELECT id, x, g FROM {table} ORDER BY id"), [(2, 20, 20)], "nothing restored")
        run(agent, "RESET rt.k")
        run(agent, f"SELECT interdict.revert({change})")
        eq(fingerprint(dba, table), before, "restored exactly")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP FUNCTION IF EXISTS {fn}(int)")

# --- F5: an approval answers the refusal it was given for --------------------------------------------

@test
def redteam_f5_an_approval_of_a_row_limit_lets_no_other_refusal_through():
    """An approval of a function's over-limit UPDATE; the function then replaced by one that
    truncates: the call is refused guarded.truncate, with an approval id of its own, and the first
    approval stays unused."""
    dba, agent, op = connect("postgres"), connect("r_guard"), connect("p_op")
    table, fn = f"rt_swap_{ARGS.label}", f"rt_swap_fn_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 10) g")
        run(agent, f"CREATE FUNCTION {fn}() RETURNS void LANGUAGE plpgsql AS $$ BEGIN UPDATE {table} SET v = 'x' WHERE id <= 4; END $$")
        run(agent, "SET interdict.max_rows = 2")
        sql = f"SELECT {fn}() /* {ARGS.label} f5 */"
        d = refusal(agent, sql)
        eq(d["reason"], "guarded.blast_radius", "over the limit")
        run(op, f"SELECT interdict.approve('{d['approval_id']}', max_rows => 10)")
        run(agent, f"CREATE OR REPLACE FUNCTION {fn}() RETURNS void LANGUAGE plpgsql AS $$ BEGIN TRUNCATE {table}; END $$")
        t = refusal(agent, sql)
        eq(t["reason"], "guarded.truncate", "the replaced body's refusal")
        assert t.get("approval_id") and t["approval_id"] != d["approval_id"], f"an id of its own: {t}"
        eq(one(dba, f"SELECT count(*) FROM {table}"), 10, "nothing truncated")
        eq(one(op, f"SELECT used_at IS NULL FROM interdict.approvals WHERE id = '{d['approval_id']}'"), True, "the approval unused")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}", f"DROP FUNCTION IF EXISTS {fn}()")

@test
def redteam_readonly_superuser_cannot_switch_on_bitcode_dumps():
    """jit_dump_bitcode writes files into the data directory: an agent session may not switch it on."""
    su = connect("r_su")
    refused(su, "SET jit_dump_bitcode = on", "setting.locked")
    eq(one(su, "SHOW jit_dump_bitcode"), "off", "still off")

@test
def redteam_superuser_agent_cannot_switch_off_postgres_protections():
    """A superuser agent turning on allow_system_table_mods could ALTER the system catalogs (a column
    added to pg_description, allowed as DDL on a table); zero_damaged_pages, ignore_checksum_failure,
    allow_in_place_tablespaces and jit_profiling_support write past Postgres' protections too. Each
    stays as the DBA set it, by SET and by set_config, and the catalog is untouched."""
    su = connect("r_su")
    for name in ["allow_system_table_mods", "zero_damaged_pages", "ignore_checksum_failure", "allow_in_place_tablespaces"]:
        refused(su, f"SET {name} = on", "setting.locked")
        refused(su, f"SELECT set_config('{name}', 'on', false)", "setting.locked")
        eq(one(su, f"SHOW {name}"), "off", f"{name} still off")
    # set only at connect time: a client's value counts only where it is tighter than the DBA's
    eq(one(connect("r_su", options="-c jit_profiling_support=on"), "SHOW jit_profiling_support"), "off", "jit_profiling_support")
    try:
        run(su, "ALTER TABLE pg_catalog.pg_description ADD COLUMN rt_x int")
        raise AssertionError("a system catalog altered")
    except psycopg2.Error as e:
        assert "system catalog" in (e.pgerror or ""), e.pgerror
