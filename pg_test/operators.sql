-- Roles that need the extension's interdict_operator role (created by CREATE EXTENSION), and the
-- objects of the policy tests' database. Run by scripts/pg_test.sh after the extensions exist.
CREATE ROLE p_op LOGIN IN ROLE interdict_operator;          -- an operator, mode off
CREATE ROLE p_self LOGIN IN ROLE interdict_operator;        -- an operator who also runs as an agent
CREATE ROLE p_agent LOGIN;  ALTER ROLE p_agent SET interdict.mode = 'guarded';
CREATE ROLE p_report_1 LOGIN;                               -- no mode of its own: the policy gives one
DO $$ DECLARE r text; BEGIN
  FOREACH r IN ARRAY ARRAY['p_op', 'p_self', 'p_agent', 'p_report_1'] LOOP
    EXECUTE format('ALTER ROLE %I SET session_preload_libraries = %L', r, 'interdict');
  END LOOP;
END $$;
GRANT interdict_operator TO c_weak;                         -- a weakness check_role must find
