#!/usr/bin/env bash
# Runs pg_test/run.py twice: with the library loaded per session (session_preload_libraries, LOAD),
# then after a restart with shared_preload_libraries.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${PGTEST_PORT:-$(port_for 5434)}
cluster_start pgtest "$PORT" "interdict.file_directories = '$CLUSTERS/pgtest/files'"
SOCK=$CLUSTERS/pgtest/sock
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }
psql_admin -d postgres -f "$ROOT/pg_test/setup.sql" >/dev/null
for db in pgtest pgtest_other pgtest_dbmode pgtest_noext pgtest_policy pgtest_latin1; do
    psql_admin -d "$db" -f "$ROOT/pg_test/db.sql" >/dev/null
    [ "$db" = pgtest_noext ] || psql_admin -d "$db" -c "CREATE EXTENSION interdict" -c "SELECT interdict.record_schema('public')" >/dev/null
done
psql_admin -d pgtest_check -c "CREATE EXTENSION interdict" >/dev/null  # check_role's database: nothing else in it
psql_admin -d postgres -f "$ROOT/pg_test/operators.sql" >/dev/null
psql_admin -d pgtest_policy -f "$ROOT/pg_test/policy_db.sql" >/dev/null
# A scratch directory the postgres user may write, for policy files.
export PGTEST_FILES=$CLUSTERS/pgtest/files
as_postgres mkdir -p "$PGTEST_FILES"
# Last: from now on every session in this database, the DBA's included, is readonly.
psql_admin -d postgres -c "ALTER DATABASE pgtest_dbmode SET interdict.mode = 'readonly'" >/dev/null
status=0
as_postgres /usr/bin/python3 "$ROOT/pg_test/run.py" --host "$SOCK" --port "$PORT" --label session_preload --psql "$PGBIN/psql" --files "$PGTEST_FILES" --log "$CLUSTERS/pgtest/log" || status=$?
echo "shared_preload_libraries = 'interdict'" | as_postgres tee -a "$CLUSTERS/pgtest/data/postgresql.conf" >/dev/null
cluster_restart pgtest
as_postgres /usr/bin/python3 "$ROOT/pg_test/run.py" --host "$SOCK" --port "$PORT" --label shared_preload --psql "$PGBIN/psql" --files "$PGTEST_FILES" --log "$CLUSTERS/pgtest/log" || status=$?
cluster_stop pgtest
exit $status
