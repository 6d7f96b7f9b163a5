-- Objects in each pg_test database.
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
CREATE SEQUENCE s;
GRANT ALL ON t, s TO PUBLIC;
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE FUNCTION lower_mode() RETURNS text LANGUAGE sql SET interdict.mode = 'off' AS $$ SELECT current_setting('interdict.mode') $$;
CREATE FUNCTION definer_lower() RETURNS text SECURITY DEFINER LANGUAGE sql SET interdict.mode = 'off' AS $$ SELECT current_setting('interdict.mode') $$;
CREATE FUNCTION no_timeout() RETURNS text LANGUAGE sql SET statement_timeout = 0 AS $$ SELECT current_setting('statement_timeout') $$;
