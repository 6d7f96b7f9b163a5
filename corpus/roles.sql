-- Cluster-wide agent roles for the corpus: an ordinary role with broad write grants (so that it is
-- Interdict, not a missing privilege, that refuses) and a superuser agent. Both get readonly at
-- connect time through their role settings.
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent') THEN CREATE ROLE agent LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agent_su') THEN CREATE ROLE agent_su LOGIN SUPERUSER; END IF;
END $$;
GRANT pg_signal_backend, pg_write_server_files, pg_execute_server_program, pg_read_server_files, pg_checkpoint, pg_read_all_stats TO agent;
ALTER ROLE agent SET session_preload_libraries = 'interdict';
ALTER ROLE agent SET interdict.mode = 'readonly';
ALTER ROLE agent_su SET session_preload_libraries = 'interdict';
ALTER ROLE agent_su SET interdict.mode = 'readonly';
