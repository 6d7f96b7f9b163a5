-- Roles and databases for pg_test/run.py (run as the DBA in a scratch cluster).
CREATE DATABASE pgtest;
CREATE DATABASE pgtest_other;
CREATE DATABASE pgtest_dbmode;
CREATE DATABASE pgtest_noext;
CREATE DATABASE pgtest_policy;
-- A database not in UTF-8: row images are bytes, whatever the encoding.
CREATE DATABASE pgtest_latin1 TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE ROLE r_sess LOGIN;            ALTER ROLE r_sess SET interdict.mode = 'readonly';
CREATE ROLE r_guard LOGIN;           ALTER ROLE r_guard SET interdict.mode = 'guarded';
CREATE ROLE r_indb LOGIN;            ALTER ROLE r_indb IN DATABASE pgtest SET interdict.mode = 'readonly';
CREATE ROLE r_plain LOGIN;           -- mode from the database only
CREATE ROLE r_load LOGIN;            -- no preload: LOADs the library itself
CREATE ROLE r_off LOGIN;             ALTER ROLE r_off SET interdict.mode = 'off';
CREATE ROLE r_none LOGIN;            -- never loads the library
CREATE ROLE r_su LOGIN SUPERUSER;    ALTER ROLE r_su SET interdict.mode = 'guarded';
CREATE ROLE r_su_blocked LOGIN SUPERUSER;
ALTER ROLE r_su_blocked SET interdict.mode = 'guarded';
ALTER ROLE r_su_blocked SET interdict.blocked_commands = 'VACUUM';
CREATE ROLE r_allow LOGIN;           ALTER ROLE r_allow SET interdict.mode = 'readonly';
ALTER ROLE r_allow SET interdict.readonly_allow = 'analyze';
CREATE ROLE r_bad LOGIN;             ALTER ROLE r_bad SET interdict.mode = 'bogus';
-- Roles that drain their server-log budget (shared by a role's sessions with shared memory).
CREATE ROLE r_flood LOGIN;           ALTER ROLE r_flood SET interdict.mode = 'readonly';
CREATE ROLE r_flood2 LOGIN;          ALTER ROLE r_flood2 SET interdict.mode = 'readonly';
DO $$ DECLARE r text; BEGIN
  FOREACH r IN ARRAY ARRAY['r_sess', 'r_guard', 'r_indb', 'r_plain', 'r_off', 'r_su', 'r_su_blocked', 'r_allow', 'r_bad', 'r_flood', 'r_flood2'] LOOP
    EXECUTE format('ALTER ROLE %I SET session_preload_libraries = %L', r, 'interdict');
  END LOOP;
END $$;
-- Issue 6: audit, ceilings, dry run, check_role.
CREATE DATABASE pgtest_check;
CREATE ROLE r_audit_full LOGIN;      ALTER ROLE r_audit_full SET interdict.mode = 'guarded';
ALTER ROLE r_audit_full SET interdict.log_statement = 'full';
CREATE ROLE r_audit_none LOGIN;      ALTER ROLE r_audit_none SET interdict.mode = 'guarded';
ALTER ROLE r_audit_none SET interdict.log_statement = 'none';
CREATE ROLE r_ceil LOGIN;            ALTER ROLE r_ceil SET interdict.mode = 'readonly';
ALTER ROLE r_ceil SET interdict.max_statement_timeout = '1s';
CREATE ROLE r_idle LOGIN;            ALTER ROLE r_idle SET interdict.mode = 'readonly';
ALTER ROLE r_idle SET interdict.max_idle_in_transaction_timeout = '1s';
CREATE ROLE r_xact LOGIN;            ALTER ROLE r_xact SET interdict.mode = 'readonly';
ALTER ROLE r_xact SET interdict.max_transaction_timeout = '1s';
CREATE ROLE r_lockwait LOGIN;        ALTER ROLE r_lockwait SET interdict.mode = 'guarded';
ALTER ROLE r_lockwait SET interdict.max_lock_timeout = '500ms';
CREATE ROLE r_dba_timeout LOGIN;     ALTER ROLE r_dba_timeout SET interdict.mode = 'readonly';
ALTER ROLE r_dba_timeout SET statement_timeout = 0;
CREATE ROLE r_dry LOGIN;             ALTER ROLE r_dry SET interdict.mode = 'guarded';
ALTER ROLE r_dry SET interdict.dry_run = on;
DO $$ DECLARE r text; BEGIN
  FOREACH r IN ARRAY ARRAY['r_audit_full', 'r_audit_none', 'r_ceil', 'r_idle', 'r_xact', 'r_lockwait', 'r_dba_timeout', 'r_dry'] LOOP
    EXECUTE format('ALTER ROLE %I SET session_preload_libraries = %L', r, 'interdict');
  END LOOP;
END $$;
-- check_role: a role with every weakness the check knows, and a hardened one.
CREATE ROLE c_weak LOGIN CREATEDB BYPASSRLS;
CREATE ROLE c_good LOGIN CONNECTION LIMIT 5;
ALTER ROLE c_good SET interdict.mode = 'readonly';
ALTER ROLE c_good SET session_preload_libraries = 'interdict';
ALTER ROLE c_good SET statement_timeout = '30s';
ALTER ROLE c_good SET lock_timeout = '2s';
ALTER ROLE c_good SET idle_in_transaction_session_timeout = '60s';
-- Issue 13: a superuser agent whose DBA logs every statement.
CREATE ROLE r_su_log LOGIN SUPERUSER;
ALTER ROLE r_su_log SET interdict.mode = 'guarded';
ALTER ROLE r_su_log SET log_statement = 'all';
ALTER ROLE r_su_log SET session_preload_libraries = 'interdict';
-- Issue 14: a superuser agent whose DBA allows one extension.
CREATE ROLE r_su_ext LOGIN SUPERUSER;
ALTER ROLE r_su_ext SET interdict.mode = 'guarded';
ALTER ROLE r_su_ext SET interdict.allowed_extensions = 'pgcrypto, vector';
ALTER ROLE r_su_ext SET session_preload_libraries = 'interdict';
