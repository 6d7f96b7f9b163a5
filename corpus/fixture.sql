-- The fixture database every corpus case runs against (a fresh copy per case).
CREATE EXTENSION interdict;
-- dblink and adminpack where this server ships them (16's wheel has neither, 17 dropped adminpack):
-- the cases that call them say so ([dblink], [adminpack]) and are skipped without them.
DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'dblink') THEN CREATE EXTENSION dblink; END IF;
  IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'adminpack') THEN CREATE EXTENSION adminpack; END IF;
END $$;

CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE DOMAIN short_text AS varchar(2);
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL, state mood DEFAULT 'calm');
INSERT INTO accounts SELECT g, 'owner' || g, g * 10, 'calm' FROM generate_series(1, 50) g;
CREATE TABLE orders (id int PRIMARY KEY, account_id int REFERENCES accounts (id) ON DELETE CASCADE, amount numeric);
INSERT INTO orders SELECT g, (g % 50) + 1, g FROM generate_series(1, 100) g;
CREATE TABLE events (id bigserial PRIMARY KEY, what text);
INSERT INTO events (what) VALUES ('created'), ('updated');
CREATE TABLE measurements (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu');
CREATE TABLE measurements_us PARTITION OF measurements FOR VALUES IN ('us');
INSERT INTO measurements SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g FROM generate_series(1, 20) g;
CREATE TABLE audit_log (id serial PRIMARY KEY, note text);
CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit_log (note) VALUES (TG_OP || ' ' || TG_TABLE_NAME); RETURN NEW; END $$;
CREATE TRIGGER accounts_audit AFTER UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION log_change();
CREATE VIEW rich_accounts AS SELECT * FROM accounts WHERE balance > 100;
CREATE MATERIALIZED VIEW account_totals AS SELECT account_id, sum(amount) AS total FROM orders GROUP BY account_id;
CREATE SEQUENCE invoice_seq;
SELECT lo_from_bytea(4242, '\x68656c6c6f');
CREATE SCHEMA reports;
CREATE TABLE reports.daily (day date PRIMARY KEY, total numeric);
INSERT INTO reports.daily VALUES ('2026-01-01', 10);

-- Inheritance, a rule that writes elsewhere, a self-referencing cascade chain.
CREATE TABLE vehicles (id int PRIMARY KEY, kind text);
CREATE TABLE cars (doors int) INHERITS (vehicles);
ALTER TABLE cars ADD PRIMARY KEY (id);
INSERT INTO vehicles SELECT g, 'generic' FROM generate_series(1, 10) g;
INSERT INTO cars SELECT g, 'car', 4 FROM generate_series(11, 25) g;
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 30) g;
CREATE RULE notes_archive AS ON DELETE TO notes DO ALSO INSERT INTO events (what) VALUES ('deleted note ' || old.id);
CREATE TABLE nodes (id int PRIMARY KEY, parent int REFERENCES nodes (id) ON DELETE CASCADE);
INSERT INTO nodes SELECT g, nullif(g - 1, 0) FROM generate_series(1, 30) g;
CREATE TABLE tickets (id int PRIMARY KEY, state text NOT NULL);
INSERT INTO tickets SELECT g, 'open' FROM generate_series(1, 30) g;

-- Functions that read, and functions that write in disguise.
CREATE FUNCTION total_balance() RETURNS numeric STABLE LANGUAGE sql AS $$ SELECT sum(balance) FROM accounts $$;
CREATE FUNCTION owner_of(int) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT 'owner' || $1 $$;
CREATE FUNCTION bump_balance(int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN UPDATE accounts SET balance = balance + 1 WHERE id = $1; END $$;
CREATE FUNCTION innocent_lookup(int) RETURNS numeric LANGUAGE sql AS $$
  UPDATE accounts SET balance = 0 WHERE id = $1 RETURNING balance $$;
CREATE FUNCTION secdef_insert() RETURNS void SECURITY DEFINER LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit_log (note) VALUES ('definer'); END $$;
CREATE FUNCTION next_invoice() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('invoice_seq') $$;
CREATE FUNCTION run_sql(q text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$;
CREATE FUNCTION nested_writer() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM bump_balance(1); END $$;
CREATE FUNCTION loosen_mode() RETURNS text LANGUAGE sql SET interdict.mode = 'off' AS $$ SELECT current_setting('interdict.mode') $$;
CREATE FUNCTION loosen_mode_definer() RETURNS text SECURITY DEFINER LANGUAGE sql SET interdict.mode = 'off' AS $$ SELECT current_setting('interdict.mode') $$;
CREATE PROCEDURE close_account(int) LANGUAGE plpgsql AS $$ BEGIN DELETE FROM accounts WHERE id = $1; END $$;
CREATE PROCEDURE read_only_proc() LANGUAGE plpgsql AS $$ BEGIN PERFORM count(*) FROM accounts; END $$;

-- Issue 13: routes an adversary takes. Deferred work in PL/pgSQL (each d_src row's constraint
-- trigger writes n rows into d_log at commit, through statements carrying PL/pgSQL variables), an
-- identity column, a function whose SET clause changes session_replication_role, and SECURITY
-- DEFINER helpers a superuser owns that set a setting or run any SQL.
CREATE TABLE d_src (id int PRIMARY KEY, n int);
CREATE TABLE d_log (id serial PRIMARY KEY, src_id int);
CREATE FUNCTION d_fill() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE k int := NEW.n; src int := NEW.id;
BEGIN INSERT INTO d_log (src_id) SELECT src FROM generate_series(1, k); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER d_fill AFTER INSERT ON d_src DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION d_fill();
CREATE TABLE tokens (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text);
INSERT INTO tokens (v) VALUES ('a'), ('b');
CREATE FUNCTION as_replica() RETURNS text LANGUAGE sql SET session_replication_role = replica AS $$ SELECT current_setting('session_replication_role') $$;
CREATE FUNCTION definer_set(name text, value text) RETURNS text SECURITY DEFINER LANGUAGE sql AS $$ SELECT set_config(name, value, false) $$;
CREATE FUNCTION definer_run(q text) RETURNS void SECURITY DEFINER LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$;

-- Tables the migration agent (agent_owner) owns: DDL on them passes Postgres' own checks, so what
-- refuses is the guard.
CREATE TABLE owned_items (id int PRIMARY KEY, qty int NOT NULL, note text);
INSERT INTO owned_items SELECT g, g, 'item ' || g FROM generate_series(1, 10) g;
CREATE TABLE owned_lines (id int PRIMARY KEY, item_id int CONSTRAINT owned_lines_item_fkey REFERENCES owned_items (id), qty int CHECK (qty > 0));
INSERT INTO owned_lines SELECT g, g, 1 FROM generate_series(1, 10) g;
CREATE SEQUENCE owned_seq;
ALTER TABLE owned_items OWNER TO agent_owner;
ALTER TABLE owned_lines OWNER TO agent_owner;
ALTER SEQUENCE owned_seq OWNER TO agent_owner;

-- Every table with a key is recorded for undo: guarded sessions may write it, and take it back.
SELECT interdict.record_schema('public'), interdict.record_schema('reports');

-- Broad grants: the ordinary agent could do all of this without Interdict.
GRANT ALL ON ALL TABLES IN SCHEMA public, reports TO agent;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO agent;
GRANT ALL ON SCHEMA public, reports TO agent;
GRANT ALL ON LARGE OBJECT 4242 TO agent;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO agent;
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
            WHERE p.proname = ANY (ARRAY['pg_reload_conf', 'pg_rotate_logfile', 'pg_switch_wal', 'pg_create_restore_point',
                  'pg_backup_start', 'pg_backup_stop', 'pg_promote', 'pg_stat_reset', 'pg_stat_reset_shared',
                  'pg_stat_reset_single_table_counters', 'pg_create_physical_replication_slot',
                  'pg_create_logical_replication_slot', 'lo_import', 'lo_export', 'pg_file_write', 'pg_file_unlink',
                  'pg_file_rename', 'dblink_connect_u', 'pg_log_backend_memory_contexts', 'pg_import_system_collations',
                  'pg_replication_origin_create', 'pg_read_file', 'pg_log_standby_snapshot',
                  'pg_stat_reset_backend_stats', 'pg_sync_replication_slots'])
  LOOP EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO agent', f); END LOOP;
END $$;

-- What the corpus runner compares before and after each case (run as the DBA).
CREATE SCHEMA corpus_admin;
REVOKE ALL ON SCHEMA corpus_admin FROM PUBLIC;
CREATE FUNCTION corpus_admin.fingerprint() RETURNS TABLE (part text, digest text) LANGUAGE plpgsql AS $$
DECLARE r record; d text;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND c.relpersistence <> 't' -- the agent's own temporary tables: its scratch, gone with it
            ORDER BY 1::text LOOP
    IF r.relkind = 'S' THEN
      EXECUTE format('SELECT last_value::text || '' '' || is_called::text FROM %s', r.rel) INTO d;
    ELSE
      EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s t', r.rel) INTO d;
    END IF;
    part := CASE WHEN r.relkind = 'S' THEN 'sequence ' ELSE 'data ' END || r.rel::text; digest := d; RETURN NEXT;
  END LOOP;
  part := 'catalog'; digest := md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_class t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_attribute t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_proc t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_namespace t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_constraint t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_trigger t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_description t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_extension t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_type t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_rewrite t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_default_acl t),
    (SELECT count(*)::text FROM pg_statistic)));
  RETURN NEXT;
  part := 'large objects'; digest := md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_largeobject_metadata t),
    (SELECT string_agg(loid || ':' || pageno || ':' || md5(data), ',' ORDER BY loid, pageno) FROM pg_largeobject)));
  RETURN NEXT;
  part := 'cluster'; digest := md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_authid t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_auth_members t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_db_role_setting t),
    (SELECT string_agg(datname || coalesce(datacl::text, '') || datallowconn::text || datconnlimit, ',' ORDER BY datname) FROM pg_database),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_tablespace t),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_prepared_xacts t),
    (SELECT string_agg(slot_name::text, ',' ORDER BY slot_name) FROM pg_replication_slots),
    (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM pg_replication_origin t),
    (SELECT string_agg(objid::text, ',' ORDER BY objid) FROM pg_locks WHERE locktype = 'advisory'),
    pg_read_file('postgresql.auto.conf'),
    pg_conf_load_time()::text,
    (SELECT coalesce(stats_reset::text, '') FROM pg_stat_database WHERE datname = current_database())));
  RETURN NEXT;
END $$;

-- Requested checkpoints (a CHECKPOINT an agent ran): pg_stat_checkpointer from 17, pg_stat_bgwriter
-- before. Not part of the fingerprint: the checkpointer reports its counter after the backend that
-- waited for it (CREATE/DROP DATABASE) went on, so the runner reads it settled, for CHECKPOINT cases.
CREATE FUNCTION corpus_admin.checkpoints_requested() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  PERFORM pg_stat_clear_snapshot();
  IF current_setting('server_version_num')::int >= 170000 THEN
    EXECUTE 'SELECT num_requested FROM pg_stat_checkpointer' INTO n;
  ELSE
    EXECUTE 'SELECT checkpoints_req FROM pg_stat_bgwriter' INTO n;
  END IF;
  RETURN n;
END $$;

-- A table with no key: guarded sessions cannot write it (undo could not find its rows again).
CREATE TABLE loose (x int);
INSERT INTO loose VALUES (1);
GRANT ALL ON loose TO agent;
