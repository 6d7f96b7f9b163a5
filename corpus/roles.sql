-- Cluster-wide agent roles for the corpus: an ordinary role with broad write grants (so that it is
-- Interdict, not a missing privilege, that refuses) and a superuser agent. Both get readonly at
-- connect time through their role settings.
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent') THEN CREATE ROLE agent LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent_su') THEN CREATE ROLE agent_su LOGIN SUPERUSER; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent_g') THEN CREATE ROLE agent_g LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent_gsu') THEN CREATE ROLE agent_gsu LOGIN SUPERUSER; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent_owner') THEN CREATE ROLE agent_owner LOGIN; END IF;
END $$;
GRANT pg_signal_backend, pg_write_server_files, pg_execute_server_program, pg_read_server_files, pg_checkpoint, pg_read_all_stats TO agent;
ALTER ROLE agent SET session_preload_libraries = 'interdict';
ALTER ROLE agent SET interdict.mode = 'readonly';
ALTER ROLE agent_su SET session_preload_libraries = 'interdict';
ALTER ROLE agent_su SET interdict.mode = 'readonly';
-- Guarded agents: a small blast radius (the fixture's tables are small) and one blocked command.
ALTER ROLE agent_g SET session_preload_libraries = 'interdict';
ALTER ROLE agent_g SET interdict.mode = 'guarded';
ALTER ROLE agent_g SET interdict.max_rows = 20;
ALTER ROLE agent_g SET interdict.blocked_commands = 'CLUSTER';
ALTER ROLE agent_gsu SET session_preload_libraries = 'interdict';
ALTER ROLE agent_gsu SET interdict.mode = 'guarded';
ALTER ROLE agent_gsu SET interdict.max_rows = 20;
ALTER ROLE agent_gsu SET interdict.blocked_commands = 'CLUSTER';
GRANT agent TO agent_g; -- the ordinary guarded agent has the same broad grants
-- A realistic migration role: an ordinary guarded agent that owns some tables (corpus/fixture.sql).
ALTER ROLE agent_owner SET session_preload_libraries = 'interdict';
ALTER ROLE agent_owner SET interdict.mode = 'guarded';
ALTER ROLE agent_owner SET interdict.max_rows = 20;
ALTER ROLE agent_owner SET interdict.blocked_commands = 'CLUSTER';
GRANT agent TO agent_owner;
