"""The second red team's findings on PostgreSQL 18 (G… in guarded mode, F…/I… in readonly mode),
each as the behaviour the guard must have: a route to an unrecorded change or to the server is
refused with its reason code, a revert either restores exactly or is refused with nothing changed,
and the server survives. Each test makes its own objects (named with the run's label) and drops
them as the DBA.

Registered into harness.TESTS (imported by run.py); uses the drivers of harness.py.
"""
import json, re, time
import psycopg2
from harness import test, connect, run, one, eq, refused, refusal, last_change, ARGS
from test_redteam import drop
from test_adversary import server_version

def alive_dba(timeout=60):
    """A new DBA connection, waiting (a crash's recovery) until the server accepts one again."""
    deadline = time.time() + timeout
    while True:
        try:
            dba = connect("postgres")
            run(dba, "SELECT 1")
            return dba
        except psycopg2.Error:
            if time.time() > deadline:
                raise
            time.sleep(0.5)

def strict_json(text):
    """JSON that must not repeat a key (F4: ambiguous, parsers disagree on which value counts)."""
    def pairs(items):
        keys = [k for k, _ in items]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        assert not dup, f"duplicate keys {dup} in {text}"
        return dict(items)
    return json.loads(text, object_pairs_hook=pairs)

def refused_at_connect(**kw):
    """The DETAIL object of a connection the server refuses (FATAL); fails if it is accepted."""
    try:
        conn = psycopg2.connect(host=ARGS.host, port=ARGS.port, **kw)
    except psycopg2.OperationalError as e:
        m = re.search(r"DETAIL:\s+(\{.*\})", str(e))
        assert m, f"a refusal at connect with no JSON DETAIL: {str(e).strip()}"
        return strict_json(m.group(1))
    conn.close()
    raise AssertionError(f"connection accepted: {kw}")

def columns(conn, table):
    """Each column's name, type, collation and identity, as the catalog has them."""
    return run(conn, f"""SELECT attname, pg_catalog.format_type(atttypid, atttypmod), (SELECT collname::text FROM pg_catalog.pg_collation WHERE oid = attcollation), attidentity::text
                         FROM pg_catalog.pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped
                         ORDER BY attnum""")

# --- G11: the reverted table's own code alters another table of the same change mid-revert ----------

@test
def redteam2_g11_ddl_run_by_a_check_during_a_revert_is_refused():
    """A CHECK function that, only inside interdict.revert() (replica role), retypes another table
    of the same change: the revert then handed that table's old row images to its new row type
    (backend memory written into the table, or SIGSEGV taking the whole server down). The revert is
    refused with guarded.bypass, nothing changed, and the server and the session stay up."""
    dba, agent = connect("postgres"), connect("r_guard")
    tag = ARGS.label
    fn, ra, rb = f"rt2_mid_{tag}", f"rt2_ra_{tag}", f"rt2_rb_{tag}"
    try:
        run(agent, f"""CREATE FUNCTION {fn}(v int) RETURNS boolean LANGUAGE plpgsql AS $$
                       BEGIN
                         IF current_setting('session_replication_role') = 'replica' THEN
                           EXECUTE 'ALTER TABLE public.{rb} ALTER COLUMN c TYPE text';
                         END IF;
                         RETURN true;
                       END $$""")
        run(agent, f"CREATE TABLE {ra} (id int PRIMARY KEY, v int CHECK ({fn}(v)))")  # lower OID: reverted first
        run(agent, f"CREATE TABLE {rb} (id int PRIMARY KEY, c int)")
        run(agent, f"INSERT INTO {ra} VALUES (1, 1)")
        run(agent, f"INSERT INTO {rb} VALUES (1073741823, 5)")
        run(agent, f"WITH x AS (DELETE FROM {rb} WHERE id = 1073741823 RETURNING 1) UPDATE {ra} SET v = 2 WHERE id = 1")
        cid = last_change(agent)
        try:
            refused(agent, f"SELECT interdict.revert({cid})", "guarded.bypass")
        finally:
            dba = alive_dba()  # a crash ends every session: wait for the server before checking anything
        eq(one(dba, "SELECT 1"), 1, "the server accepts a new connection")
        eq(one(agent, "SELECT 1"), 1, "the agent's own backend is still alive")
        eq(run(dba, f"SELECT id, v FROM {ra}"), [(1, 2)], "the table with the CHECK as before the revert")
        eq(run(dba, f"SELECT id, c FROM {rb}"), [], "the other table as before the revert: no row restored")
        eq(columns(dba, rb), [("id", "integer", None, ""), ("c", "integer", None, "")], "the other table not retyped")
        eq(one(dba, f"SELECT reverted_by IS NULL FROM interdict.changes WHERE id = {cid}"), True, "the change not marked reverted")
    finally:
        dba = alive_dba()
        drop(dba, f"DROP TABLE IF EXISTS {ra}, {rb}", f"DROP FUNCTION IF EXISTS {fn}(int)")

# --- G3: a permanent table tied to a temporary object is dropped with it, unrecorded ------------------

@test
def redteam2_g3_a_recorded_table_cannot_depend_on_a_temporary_object():
    """ALTER TABLE … OF a pg_temp type, a column retyped to a pg_temp collation, a column of a temp
    table's row type: at DISCARD TEMP or the session's end Postgres drops the temporary schema with
    CASCADE, and the permanent table (or column) with it, unrecorded. Each is refused with
    guarded.temporary_dependency; temporary objects depending on each other stay allowed; the
    table, its columns and rows survive DISCARD TEMP and the session's end."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"rt2_victim_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {table} VALUES (1, 'precious'), (2, 'also precious'), (3, NULL)")
        shape, rows = columns(dba, table), run(dba, f"SELECT id, v FROM {table} ORDER BY id")
        eq(shape, [("id", "integer", None, ""), ("v", "text", "default", "")], "the table before")
        run(agent, "CREATE TYPE pg_temp.x AS (id int, v text)")
        refused(agent, f"ALTER TABLE {table} OF pg_temp.x", "guarded.temporary_dependency")
        eq(one(dba, f"SELECT reloftype = 0 FROM pg_catalog.pg_class WHERE oid = '{table}'::regclass"), True, "not a typed table")
        run(agent, "CREATE COLLATION pg_temp.c (provider = libc, locale = 'C')")
        refused(agent, f"ALTER TABLE {table} ALTER COLUMN v TYPE text COLLATE pg_temp.c", "guarded.temporary_dependency")
        run(agent, "CREATE TEMP TABLE tt (a int)")
        refused(agent, f"ALTER TABLE {table} ADD COLUMN c2 tt", "guarded.temporary_dependency")
        eq(columns(dba, table), shape, "no column retyped or added")
        run(agent, "CREATE TEMP TABLE tt2 (a pg_temp.x)")  # control: temporary on temporary is fine
        run(agent, "DISCARD TEMP")
        eq((columns(dba, table), run(dba, f"SELECT id, v FROM {table} ORDER BY id")), (shape, rows), "after DISCARD TEMP")
        pid = one(agent, "SELECT pg_backend_pid()")
        agent.close()
        deadline = time.time() + 10
        while one(dba, f"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = {pid}") and time.time() < deadline:
            time.sleep(0.1)
        eq(one(dba, f"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = {pid}"), 0, "the agent's backend has exited")
        dba = connect("postgres")
        eq((columns(dba, table), run(dba, f"SELECT id, v FROM {table} ORDER BY id")), (shape, rows), "after the session's end")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}")

# --- F4: replication connections of agent roles --------------------------------------------------

@test
def redteam2_f4_replication_refusal_detail_has_no_duplicate_key():
    """The session.replication refusal's DETAIL repeated "mode": each key once."""
    if ARGS.label != "shared_preload":
        return
    d = refused_at_connect(dbname="pgtest", user="r_su", replication="database")
    eq((d.get("reason"), d.get("mode")), ("session.replication", "guarded"), f"the refusal: {d}")

# --- F9, F5: settings that flood the server log or hide the session -----------------------------------

@test
def redteam2_f9_readonly_agent_cannot_switch_on_debug_dumps():
    """debug_print_parse/_rewritten/_plan and trace_sort are USERSET: an ordinary readonly agent
    could write the server log at ~70 MB/s and fill its file system. Each is refused with
    setting.locked, by SET and by set_config, and stays off; a client's startup value does not
    switch it on either. (debug_pretty_print is on by default: nothing to lock.)"""
    agent, dba = connect("r_sess"), connect("postgres")
    names = ["debug_print_plan", "debug_print_parse", "debug_print_rewritten"]
    if one(dba, "SELECT count(*) FROM pg_catalog.pg_settings WHERE name = 'trace_sort'"):
        names.append("trace_sort")
    for name in names:
        eq(one(agent, f"SHOW {name}"), "off", f"{name} off before")
        refused(agent, f"SET {name} = on", "setting.locked")
        refused(agent, f"SELECT set_config('{name}', 'on', false)", "setting.locked")
        refused(agent, f"BEGIN; SET LOCAL {name} = on; COMMIT", "setting.locked")
        eq(one(agent, f"SHOW {name}"), "off", f"{name} still off")
    eq(one(connect("r_sess", options="-c debug_print_plan=on"), "SHOW debug_print_plan"), "off", "a client's startup value")

@test
def redteam2_f5_superuser_agent_cannot_hide_its_session():
    """A superuser agent switching off track_activities (pg_stat_activity shows nothing),
    track_counts, event_triggers (PostgreSQL 17+): refused with setting.locked (SET, set_config),
    the DBA's value stays; log_disconnections (the DBA's on, for the server) and track_activities
    sent off by the client at connect time stay on."""
    su, dba = connect("r_su"), connect("postgres")
    names = ["track_activities", "track_counts"]
    if server_version(dba) >= 170000:
        names.append("event_triggers")
    for name in names:
        eq(one(su, f"SHOW {name}"), "on", f"{name} on before")
        refused(su, f"SET {name} = off", "setting.locked")
        refused(su, f"SELECT set_config('{name}', 'off', false)", "setting.locked")
        eq(one(su, f"SHOW {name}"), "on", f"{name} still on")
    # log_disconnections can only be set at connect time (nor by ALTER ROLE): the DBA turns it on
    # for the server, a superuser agent's client sends off.
    try:
        run(dba, "ALTER SYSTEM SET log_disconnections = on")
        run(dba, "SELECT pg_reload_conf()")
        time.sleep(1)
        eq(one(connect("r_su"), "SHOW log_disconnections"), "on", "the DBA's value")
        try:
            c = connect("r_su", options="-c log_disconnections=off -c track_activities=off")
        except psycopg2.OperationalError as e:  # refused at connect is as good as held
            assert '"reason":"setting.locked"' in str(e), str(e)
        else:
            eq((one(c, "SHOW log_disconnections"), one(c, "SHOW track_activities")), ("on", "on"), "a client's startup values")
            c.close()
    finally:
        dba = connect("postgres")
        run(dba, "ALTER SYSTEM RESET log_disconnections")
        run(dba, "SELECT pg_reload_conf()")
        time.sleep(1)

@test
def redteam2_superuser_agent_keeps_query_ids_statistics_and_temp_file_bound():
    """Watching and bounds a superuser agent could loosen: compute_query_id off (pg_stat_statements
    and %Q lose the session's queries), the log_*_stats dumps on (a block of figures in the server
    log for every statement), temp_file_limit raised or unbounded (a sort filling the disk). Each
    is refused with setting.locked and keeps the DBA's value; tighter values are allowed."""
    su, dba = connect("r_su"), connect("postgres")
    if server_version(dba) >= 140000:
        eq(one(su, "SHOW compute_query_id"), "auto", "the DBA's compute_query_id")
        refused(su, "SET compute_query_id = off", "setting.locked")
        refused(su, "SELECT set_config('compute_query_id', 'off', false)", "setting.locked")
        run(su, "SET compute_query_id = on")
        eq(one(su, "SHOW compute_query_id"), "on", "computing more is allowed")
        refused(su, "SET compute_query_id = off", "setting.locked")
    for name in ["log_parser_stats", "log_planner_stats", "log_executor_stats", "log_statement_stats"]:
        refused(su, f"SET {name} = on", "setting.locked")
        eq(one(su, f"SHOW {name}"), "off", f"{name} still off")
    run(dba, "ALTER ROLE r_su SET temp_file_limit = '10MB'")
    try:
        c = connect("r_su")
        eq(one(c, "SHOW temp_file_limit"), "10MB", "the DBA's bound")
        refused(c, "SET temp_file_limit = -1", "setting.locked")
        refused(c, "SET temp_file_limit = '20MB'", "setting.locked")
        run(c, "SET temp_file_limit = '5MB'")
        eq(one(c, "SHOW temp_file_limit"), "5MB", "a tighter bound is allowed")
        c.close()
    finally:
        run(connect("postgres"), "ALTER ROLE r_su RESET temp_file_limit")

# --- F6: peeking at a replication slot ----------------------------------------------------------------

@test
def redteam2_f6_peeking_at_a_replication_slot_is_server_admin():
    """pg_logical_slot_peek_(binary_)changes acquire the DBA's slot, write snapshot files and keep an
    abandoned slot alive: refused before they run (no slot needed) as readonly.server_admin for a
    readonly superuser agent, guarded.server_admin for a guarded one."""
    ro = connect("r_su", options="-c interdict.mode=readonly")
    eq(one(ro, "SHOW interdict.mode"), "readonly", "a readonly superuser agent")
    gu = connect("r_su")
    for fn in ["pg_logical_slot_peek_changes", "pg_logical_slot_peek_binary_changes"]:
        refused(ro, f"SELECT * FROM {fn}('no_such_slot', NULL, NULL)", "readonly.server_admin")
        refused(gu, f"SELECT * FROM {fn}('no_such_slot', NULL, NULL)", "guarded.server_admin")

# --- I1: the guard's trigger function called as a plain function ---------------------------------------

@test
def redteam2_i1_protect_records_outside_a_trigger_is_not_allowed():
    """interdict.protect_records() called as a plain function failed as internal.failure
    ("PgTrigger::from_fcinfo failed"): undo.not_allowed, as capture() gives."""
    for role in ("r_guard", "r_sess"):
        eq(refusal(connect(role), "SELECT interdict.protect_records()")["reason"], "undo.not_allowed", role)

# --- G2, G4, G9: DDL that removes a protection by an allowed subcommand ----------------------------------

@test
def redteam2_g2_foreign_key_not_enforced_is_bypass():
    """PostgreSQL 18: ALTER CONSTRAINT … NOT ENFORCED drops a foreign key's triggers (cascades
    stop, orphans allowed), as DISABLE TRIGGER would: guarded.bypass, the key still enforced.
    Changing deferrability stays allowed."""
    dba, agent = connect("postgres"), connect("r_guard")
    if server_version(dba) < 180000:
        return  # NOT ENFORCED foreign keys are new in 18
    parent, child = f"rt2_fkp_{ARGS.label}", f"rt2_fkc_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {parent} (id int PRIMARY KEY)")
        run(agent, f"CREATE TABLE {child} (id int PRIMARY KEY, pid int CONSTRAINT {child}_fk REFERENCES {parent} ON DELETE CASCADE)")
        run(agent, f"INSERT INTO {parent} VALUES (1), (2)")
        run(agent, f"INSERT INTO {child} VALUES (1, 1), (2, 2)")
        refused(agent, f"ALTER TABLE {child} ALTER CONSTRAINT {child}_fk NOT ENFORCED", "guarded.bypass")
        eq(one(dba, f"SELECT conenforced FROM pg_catalog.pg_constraint WHERE conname = '{child}_fk'"), True, "still enforced")
        try:
            run(agent, f"INSERT INTO {child} VALUES (3, 999)")
            raise AssertionError("a dangling reference accepted")
        except psycopg2.errors.ForeignKeyViolation:
            pass
        run(agent, f"ALTER TABLE {child} ALTER CONSTRAINT {child}_fk DEFERRABLE INITIALLY DEFERRED")  # control
        eq(one(dba, f"SELECT (condeferrable, condeferred, conenforced)::text FROM pg_catalog.pg_constraint WHERE conname = '{child}_fk'"),
           "(t,t,t)", "deferrability changed, still enforced")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {child}, {parent}")

@test
def redteam2_g4_drop_identity_is_not_reversible():
    """DROP IDENTITY drops the identity sequence with its state (ADD … AS IDENTITY then starts
    again below the values in use: the refused RESTART in two allowed steps):
    guarded.not_reversible, the identity and its sequence where they were."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"rt2_ident_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {table} (v) VALUES ('a'), ('b'), ('c')")
        seq = one(dba, f"SELECT pg_catalog.pg_get_serial_sequence('{table}', 'id')")
        assert seq, "an identity sequence"
        refused(agent, f"ALTER TABLE {table} ALTER COLUMN id DROP IDENTITY", "guarded.not_reversible")
        eq(columns(dba, table)[0], ("id", "integer", None, "d"), "still an identity column")
        eq(one(dba, f"SELECT pg_catalog.pg_get_serial_sequence('{table}', 'id')"), seq, "the same sequence")
        eq(run(dba, f"SELECT last_value, is_called FROM {seq}"), [(3, True)], "the sequence where it was")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}")

@test
def redteam2_g9_drop_index_of_a_unique_index_is_drop_key():
    """DROP INDEX of a unique index removes a key as DROP CONSTRAINT … would (refused
    guarded.drop_key): guarded.drop_key, the index still there; a plain index drops as before."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"rt2_idx_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, code text, n int)")
        run(agent, f"INSERT INTO {table} VALUES (1, 'a', 1), (2, 'b', 1)")
        run(agent, f"CREATE UNIQUE INDEX {table}_code ON {table} (code)")
        run(agent, f"CREATE INDEX {table}_n ON {table} (n)")
        refused(agent, f"DROP INDEX {table}_code", "guarded.drop_key")
        eq(one(dba, f"SELECT indisunique FROM pg_catalog.pg_index WHERE indexrelid = to_regclass('{table}_code')"), True, "the unique index still there")
        run(agent, f"DROP INDEX {table}_n")
        eq(one(dba, f"SELECT to_regclass('{table}_n') IS NULL"), True, "the plain index dropped")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}")

# --- G10: revert of a GENERATED ALWAYS identity column set to DEFAULT ----------------------------------

@test
def redteam2_g10_revert_restores_generated_always_identity_columns():
    """UPDATE … SET n = DEFAULT on a GENERATED ALWAYS identity column: the revert's UPDATE left
    the column out, kept the new value (also when it is the primary key: the old row never came
    back) and recorded that it had restored it. Reverting gives back the rows exactly."""
    dba, agent = connect("postgres"), connect("r_guard")
    ida, idk = f"rt2_ida_{ARGS.label}", f"rt2_idk_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {ida} (k int PRIMARY KEY, n int GENERATED ALWAYS AS IDENTITY, v text)")
        run(agent, f"INSERT INTO {ida} (k, v) VALUES (1, 'a'), (2, 'b')")
        before = run(dba, f"SELECT k, n, v FROM {ida} ORDER BY k")
        eq(before, [(1, 1, "a"), (2, 2, "b")], "the rows before")
        run(agent, f"UPDATE {ida} SET n = DEFAULT, v = 'changed' WHERE k = 1")
        eq(run(dba, f"SELECT k, n, v FROM {ida} ORDER BY k"), [(1, 3, "changed"), (2, 2, "b")], "the update")
        run(agent, f"SELECT interdict.revert({last_change(agent)})")
        eq(run(dba, f"SELECT k, n, v FROM {ida} ORDER BY k"), before, "reverted exactly (n back)")

        run(agent, f"CREATE TABLE {idk} (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)")
        run(agent, f"INSERT INTO {idk} (v) VALUES ('a'), ('b')")
        before = run(dba, f"SELECT id, v FROM {idk} ORDER BY id")
        eq(before, [(1, "a"), (2, "b")], "the rows before")
        run(agent, f"UPDATE {idk} SET id = DEFAULT WHERE id = 1")
        eq(run(dba, f"SELECT id, v FROM {idk} ORDER BY id"), [(2, "b"), (3, "a")], "the key changed")
        run(agent, f"SELECT interdict.revert({last_change(agent)})")
        eq(run(dba, f"SELECT id, v FROM {idk} ORDER BY id"), before, "reverted exactly (row 1 back, no row 3)")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {ida}, {idk}")

# --- G8: columns added or renamed after a change -------------------------------------------------------

@test
def redteam2_g8_changes_stay_revertable_across_added_and_renamed_columns():
    """One allowed ADD COLUMN or RENAME COLUMN made every earlier change of the table unrevertable
    (undo.table_changed, force included): an agent could put its own deletes beyond undo. The
    images read the same while every recorded column is in place with its type: the revert restores
    the recorded columns exactly, a row inserted back takes the added column's default, a restored
    row keeps what was written in it since; reverting the revert redoes the change. A column
    dropped or retyped since is still undo.table_changed."""
    dba, agent = connect("postgres"), connect("r_guard")
    table = f"rt2_g8_{ARGS.label}"
    rows = f"SELECT id, label, n::text, w FROM {table} ORDER BY id"
    try:
        run(agent, f"CREATE TABLE {table} (id int PRIMARY KEY, v text, n numeric)")
        run(agent, f"INSERT INTO {table} VALUES (1, 'a', 1.0), (2, 'b', 2.50), (3, 'c', NULL)")
        run(agent, f"DELETE FROM {table} WHERE id = 1")
        deleted = last_change(agent)
        run(agent, f"UPDATE {table} SET v = 'changed', n = 9 WHERE id = 2")
        updated = last_change(agent)
        run(agent, f"INSERT INTO {table} VALUES (4, 'd', 4)")
        inserted = last_change(agent)
        run(agent, f"ALTER TABLE {table} ADD COLUMN w int DEFAULT 7")
        run(agent, f"ALTER TABLE {table} RENAME COLUMN v TO label")
        run(agent, f"UPDATE {table} SET w = 70 WHERE id = 2")
        for cid in (inserted, updated, deleted):
            run(agent, f"SELECT interdict.revert({cid})")
        eq(run(dba, rows), [(1, "a", "1.0", 7), (2, "b", "2.50", 70), (3, "c", None, 7)], "the recorded columns back exactly")
        run(agent, f"SELECT interdict.revert({last_change(agent)})")
        eq(run(dba, rows), [(2, "b", "2.50", 70), (3, "c", None, 7)], "the revert's revert deletes row 1 again")
        run(agent, f"UPDATE {table} SET n = 5 WHERE id = 3")
        changed = last_change(agent)
        run(dba, f"ALTER TABLE {table} ALTER COLUMN n TYPE float8")
        eq(refusal(agent, f"SELECT interdict.revert({changed})")["reason"], "undo.table_changed", "a column retyped since")
        eq(one(dba, f"SELECT n::text FROM {table} WHERE id = 3"), "5", "nothing reverted")
        run(dba, f"ALTER TABLE {table} DROP COLUMN w")
        run(dba, f"ALTER TABLE {table} ALTER COLUMN n TYPE numeric")
        eq(refusal(agent, f"SELECT interdict.revert({changed})")["reason"], "undo.table_changed", "a column dropped since")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {table}")

# --- G13, G1: PostgreSQL 18's temporal keys -------------------------------------------------------------

@test
def redteam2_g13_writes_to_a_table_with_a_temporal_key_are_not_reversible():
    """A WITHOUT OVERLAPS key is a GiST index whose period column matches by overlap: undo, which
    finds rows by their key's equality, matched overlapping rows (an operator's force revert deleted
    an unrelated row). Such a table cannot be recorded: a write is guarded.not_reversible, nothing
    written."""
    agent, dba = connect("r_guard"), connect("postgres")
    if server_version(dba) < 180000:
        return  # temporal keys are new in 18
    t = f"rt2_tk_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {t} (r int4range, valid daterange, v text, PRIMARY KEY (r, valid WITHOUT OVERLAPS))")
        refused(agent, f"INSERT INTO {t} VALUES ('[1,10)', '[2020-01-01,2021-01-01)', 'a')", "guarded.not_reversible")
        eq(one(dba, f"SELECT count(*) FROM {t}"), 0, "nothing written")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {t}")

@test
def redteam2_g1_revert_over_a_period_foreign_key_is_refused():
    """A PERIOD foreign key holds when the referenced rows' periods together cover the referencing
    row's: undo's checks (each column by its equality operator, overlap for a range) cannot say so,
    and a revert left such keys violated. A revert of a change on a table with one is refused
    (undo.conflict), nothing written."""
    agent, dba = connect("r_guard"), connect("postgres")
    if server_version(dba) < 180000:
        return  # PERIOD foreign keys are new in 18
    rooms, bookings = f"rt2_rooms_{ARGS.label}", f"rt2_bookings_{ARGS.label}"
    try:
        run(dba, "CREATE EXTENSION IF NOT EXISTS btree_gist")
        run(dba, f"CREATE TABLE {rooms} (id int, valid daterange, PRIMARY KEY (id, valid WITHOUT OVERLAPS))")
        run(dba, f"INSERT INTO {rooms} VALUES (1, '[2020-01-01,2030-01-01)')")
        run(dba, f"GRANT ALL ON {rooms} TO r_guard")
        run(agent, f"CREATE TABLE {bookings} (bid int PRIMARY KEY, room int, valid daterange, FOREIGN KEY (room, PERIOD valid) REFERENCES {rooms} (id, PERIOD valid))")
        run(agent, f"INSERT INTO {bookings} VALUES (1, 1, '[2021-01-01,2022-01-01)')")
        run(agent, f"DELETE FROM {bookings} WHERE bid = 1")
        cid = last_change(agent)
        refused(agent, f"SELECT interdict.revert({cid})", "undo.conflict")
        eq(one(dba, f"SELECT count(*) FROM {bookings}"), 0, "nothing written back")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {bookings}", f"DROP TABLE IF EXISTS {rooms}")

# --- F8: simulate() in readonly judges what EXPLAIN ANALYZE runs ---------------------------------------

@test
def redteam2_f8_readonly_simulate_judges_what_explain_analyze_runs():
    """In readonly, simulate() plans without running: it said "allowed" for EXPLAIN ANALYZE of a
    DELETE or of CREATE TABLE … AS, which are refused when run. It now judges the statement
    EXPLAIN ANALYZE runs (rewritten, planned) as the hooks would; a plain EXPLAIN is still allowed."""
    ro = connect("r_sess")
    cases = [
        ("EXPLAIN ANALYZE DELETE FROM t WHERE id = -1", "refused", "readonly.dml"),
        ("EXPLAIN (ANALYZE, FORMAT JSON) UPDATE t SET v = v WHERE id = -1", "refused", "readonly.dml"),
        ("EXPLAIN ANALYZE CREATE TABLE rt2_never AS SELECT 1", "refused", "readonly.ddl"),
        ("EXPLAIN DELETE FROM t WHERE id = -1", "allowed", None),
        ("EXPLAIN ANALYZE SELECT count(*) FROM t", "allowed", None),
    ]
    for sql, verdict, reason in cases:
        got = one(ro, "SELECT interdict.simulate(%s)" % psycopg2.extensions.adapt(sql).getquoted().decode())
        eq((got["verdict"], got.get("reason")), (verdict, reason), sql)

# --- G5, G15: a revert's foreign-key checks -------------------------------------------------------------

@test
def redteam2_g5_revert_checks_match_full_keys():
    """A revert wrote back a row (1, NULL) that a MATCH FULL key added since refuses (some columns
    NULL, some set): undo's check knew only MATCH SIMPLE. Now undo.conflict, nothing written."""
    agent, dba = connect("r_guard"), connect("postgres")
    parent, child = f"rt2_mp_{ARGS.label}", f"rt2_mc_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {parent} (a int, b int, PRIMARY KEY (a, b))")
        run(agent, f"CREATE TABLE {child} (id int PRIMARY KEY, a int, b int)")
        run(agent, f"INSERT INTO {child} VALUES (1, 1, NULL)")
        run(agent, f"DELETE FROM {child} WHERE id = 1")
        cid = last_change(agent)
        run(agent, f"ALTER TABLE {child} ADD CONSTRAINT {child}_full FOREIGN KEY (a, b) REFERENCES {parent} MATCH FULL")
        refused(agent, f"SELECT interdict.revert({cid})", "undo.conflict")
        eq(one(dba, f"SELECT count(*) FROM {child}"), 0, "nothing written back")
    finally:
        drop(dba, f"DROP TABLE IF EXISTS {child}", f"DROP TABLE IF EXISTS {parent}")

@test
def redteam2_g15_revert_locks_the_referenced_row_it_needs():
    """A revert writing back a reference took no lock on the referenced row: a concurrent DELETE of
    it went through and both committed, the key dangling. Now the revert locks it FOR KEY SHARE, as
    Postgres' own check does: the DELETE waits for the revert's transaction (here: times out)."""
    agent, dba = connect("r_guard"), connect("postgres")
    parent, child = f"rt2_rp_{ARGS.label}", f"rt2_rc_{ARGS.label}"
    try:
        run(agent, f"CREATE TABLE {parent} (id int PRIMARY KEY)")
        run(agent, f"CREATE TABLE {child} (id int PRIMARY KEY, pid int REFERENCES {parent} (id))")
        run(agent, f"INSERT INTO {parent} VALUES (1)")
        run(agent, f"INSERT INTO {child} VALUES (1, 1)")
        run(agent, f"DELETE FROM {child} WHERE id = 1")
        cid = last_change(agent)
        agent.autocommit = False
        run(agent, f"SELECT interdict.revert({cid})")  # uncommitted: the reference is back, the parent locked
        run(dba, "SET lock_timeout = '500ms'")
        try:
            run(dba, f"DELETE FROM {parent} WHERE id = 1")
            raise AssertionError("the referenced row was deleted under an uncommitted revert")
        except psycopg2.errors.LockNotAvailable:
            pass
        agent.commit()
        eq(one(dba, f"SELECT count(*) FROM {child} c JOIN {parent} p ON p.id = c.pid"), 1, "the reference holds")
    finally:
        agent.rollback()
        agent.autocommit = True
        dba = connect("postgres")
        drop(dba, f"DROP TABLE IF EXISTS {child}", f"DROP TABLE IF EXISTS {parent}")

# --- G12: approvals of FETCH bind the cursor's query ------------------------------------------------

@test
def redteam2_g12_fetch_approval_ids_differ_by_cursor_query():
    """`FETCH 1 FROM c` had one approval id whatever cursor c ran: an approval given for one cursor's
    write let another's through. The id binds the cursor's query now."""
    agent, dba = connect("r_guard"), connect("postgres")
    a, b = f"rt2_fa_{ARGS.label}", f"rt2_fb_{ARGS.label}"
    try:
        for t in (a, b):
            run(agent, f"CREATE TABLE {t} (id int PRIMARY KEY, v int)")
            run(agent, f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 10) g")
            run(agent, f"CREATE FUNCTION {t}_w() RETURNS int LANGUAGE plpgsql AS $$ BEGIN UPDATE {t} SET v = v + 1 WHERE id <= 10; RETURN 1; END $$")
        run(agent, "SET interdict.max_rows = 5")
        ids = []
        for t in (a, b):
            agent.autocommit = False
            run(agent, f"DECLARE c CURSOR FOR SELECT {t}_w()")
            ids.append(refusal(agent, "FETCH 1 FROM c")["approval_id"])
            agent.rollback()
            agent.autocommit = True
        assert ids[0] != ids[1], f"one approval id for two cursors' writes: {ids}"
    finally:
        agent.rollback()
        agent.autocommit = True
        drop(dba, f"DROP TABLE IF EXISTS {a}, {b}", f"DROP FUNCTION IF EXISTS {a}_w()", f"DROP FUNCTION IF EXISTS {b}_w()")
