#!/usr/bin/env bash
# kill -9 of a backend in the middle of a guarded write and of a revert (pg_test/crash.py): no
# partial change, no partial undo.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${CRASH_PORT:-$(port_for 5438)}
cluster_start crash "$PORT" "restart_after_crash = on"
SOCK=$CLUSTERS/crash/sock
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }
psql_admin -d postgres -c "CREATE DATABASE crash" >/dev/null
psql_admin -d crash >/dev/null <<'SQL'
CREATE EXTENSION interdict;
CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 100000) g;
SELECT interdict.record('big');
CREATE ROLE agent LOGIN;
GRANT ALL ON big TO agent;
ALTER ROLE agent SET session_preload_libraries = 'interdict';
ALTER ROLE agent SET interdict.mode = 'guarded';
ALTER ROLE agent SET interdict.max_rows = 10000000;
SQL
status=0
as_postgres /usr/bin/python3 "$ROOT/pg_test/crash.py" --host "$SOCK" --port "$PORT" || status=$?
cluster_stop crash
exit $status
