-- Objects in each pg_test database.
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
CREATE SEQUENCE s;
GRANT ALL ON t, s TO PUBLIC;
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE FUNCTION lower_mode() RETURNS text LANGUAGE sql SET interdict.mode = 'off' AS $$ SELECT current_setting('interdict.mode') $$;
CREATE FUNCTION definer_lower() RETURNS text SECURITY DEFINER LANGUAGE sql SET interdict.mode = 'off' AS $$ SELECT current_setting('interdict.mode') $$;
CREATE FUNCTION no_timeout() RETURNS text LANGUAGE sql SET statement_timeout = 0 AS $$ SELECT current_setting('statement_timeout') $$;

-- Issue 13 (pg_test/adversary.py). Deferred work in PL/pgSQL: each d_src row's constraint trigger
-- writes n rows into d_log at commit, through statements that carry PL/pgSQL variables.
CREATE TABLE d_src (id int PRIMARY KEY, n int);
CREATE TABLE d_log (id serial PRIMARY KEY, src_id int);
CREATE FUNCTION d_fill() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE k int := NEW.n; src int := NEW.id;
BEGIN INSERT INTO d_log (src_id) SELECT src FROM generate_series(1, k); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER d_fill AFTER INSERT ON d_src DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION d_fill();
-- Batches committed inside a procedure.
CREATE TABLE batch (id int PRIMARY KEY);
CREATE PROCEDURE insert_batches(n int, size int) LANGUAGE plpgsql AS $$
BEGIN FOR i IN 1..n LOOP INSERT INTO batch SELECT (i - 1) * size + g FROM generate_series(1, size) g; COMMIT; END LOOP; END $$;
GRANT ALL ON d_src, d_log, batch TO PUBLIC;
GRANT ALL ON SEQUENCE d_log_id_seq TO PUBLIC;
-- Routes to session_replication_role and to the logging settings: a function's SET clause, and
-- SECURITY DEFINER helpers a superuser owns.
CREATE FUNCTION replica_role_fn() RETURNS text LANGUAGE sql SET session_replication_role = replica AS $$ SELECT current_setting('session_replication_role') $$;
CREATE FUNCTION definer_replica() RETURNS text SECURITY DEFINER LANGUAGE sql AS $$ SELECT set_config('session_replication_role', 'replica', false) $$;
CREATE FUNCTION quiet_logs() RETURNS text LANGUAGE sql SET log_min_messages = fatal AS $$ SELECT current_setting('log_min_messages') $$;
CREATE FUNCTION definer_quiet_logs() RETURNS text SECURITY DEFINER LANGUAGE sql AS $$ SELECT set_config('log_min_messages', 'fatal', false) $$;

-- A schema an agent can write, holding what an agent would plant there: operators, functions and
-- types that shadow the catalog's when the session puts the schema first in its search_path. Each
-- reports its call with a WARNING that contains HOSTILE.
CREATE SCHEMA hostile;
GRANT USAGE, CREATE ON SCHEMA hostile TO PUBLIC;
CREATE FUNCTION hostile.watch(anyelement) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'HOSTILE called by % as %', session_user, current_user; RETURN true; END $$;
DO $$
DECLARE ty text; op text;
BEGIN
  FOREACH ty IN ARRAY ARRAY['text', 'name', 'oid', 'int2', 'int4', 'int8', 'bool', 'timestamptz', '"char"', 'numeric', 'xid8', 'regclass'] LOOP
    FOREACH op IN ARRAY ARRAY['=', '<>', '<', '>', '<=', '>='] LOOP
      EXECUTE format('CREATE FUNCTION hostile.%I(a pg_catalog.%s, b pg_catalog.%s) RETURNS boolean LANGUAGE plpgsql AS $f$
                      BEGIN PERFORM hostile.watch(1); RETURN a OPERATOR(pg_catalog.%s) b; END $f$',
                     'op_' || md5(ty || op), ty, ty, op);
      EXECUTE format('CREATE OPERATOR hostile.%s (LEFTARG = pg_catalog.%s, RIGHTARG = pg_catalog.%s, FUNCTION = hostile.%I)',
                     op, ty, ty, 'op_' || md5(ty || op));
    END LOOP;
  END LOOP;
END $$;
CREATE FUNCTION hostile.cat(a pg_catalog.text, b pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR hostile.|| (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = hostile.cat);
CREATE FUNCTION hostile.cat(a pg_catalog.int4, b pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN a::pg_catalog.text OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR hostile.|| (LEFTARG = pg_catalog.int4, RIGHTARG = pg_catalog.text, FUNCTION = hostile.cat);
CREATE FUNCTION hostile.like(a pg_catalog.text, b pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN a OPERATOR(pg_catalog.~~) b; END $$;
CREATE OPERATOR hostile.~~ (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = hostile.like);
CREATE FUNCTION hostile.plus(a pg_catalog.int8, b pg_catalog.int8) RETURNS pg_catalog.int8 LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR hostile.+ (LEFTARG = pg_catalog.int8, RIGHTARG = pg_catalog.int8, FUNCTION = hostile.plus);
CREATE FUNCTION hostile.unnest(a anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION hostile.quote_ident(a pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN pg_catalog.quote_ident(a); END $$;
CREATE FUNCTION hostile.current_setting(a pg_catalog.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN pg_catalog.current_setting(a); END $$;
CREATE FUNCTION hostile.clock_timestamp() RETURNS pg_catalog.timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION hostile.pg_get_userbyid(a pg_catalog.oid) RETURNS pg_catalog.name LANGUAGE plpgsql AS $$
BEGIN PERFORM hostile.watch(1); RETURN pg_catalog.pg_get_userbyid(a); END $$;
CREATE DOMAIN hostile.text AS pg_catalog.text CHECK (hostile.watch(VALUE));
CREATE DOMAIN hostile.oid AS pg_catalog.oid CHECK (hostile.watch(VALUE));
CREATE DOMAIN hostile."char" AS pg_catalog."char" CHECK (hostile.watch(VALUE));
CREATE DOMAIN hostile.int8 AS pg_catalog.int8 CHECK (hostile.watch(VALUE));
