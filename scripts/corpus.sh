#!/usr/bin/env bash
# Runs the corpus against a fresh scratch cluster (the extension must be installed: see lib.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${CORPUS_PORT:-5433}
cluster_start corpus "$PORT"
SOCK=$SCRATCH/corpus/sock
FILES=$SCRATCH/corpus/server-files
as_postgres mkdir -p "$FILES"
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }
psql_admin -d postgres -f "$ROOT/corpus/roles.sql" >/dev/null
psql_admin -d postgres -c "CREATE DATABASE fixture" >/dev/null
psql_admin -d fixture -f "$ROOT/corpus/fixture.sql" >/dev/null
status=0
# CORPUS=readonly or CORPUS=guarded runs one half (while working on it); the default runs both.
[ "${CORPUS:-all}" = guarded ] || as_postgres /usr/bin/python3 "$ROOT/corpus/run.py" --host "$SOCK" --port "$PORT" --files "$FILES" \
    --role agent --role agent_su --superuser-role agent_su "$ROOT"/corpus/readonly_*.cases || status=$?
[ "${CORPUS:-all}" = readonly ] || as_postgres /usr/bin/python3 "$ROOT/corpus/run.py" --host "$SOCK" --port "$PORT" --files "$FILES" \
    --role agent_g --role agent_gsu --role agent_owner --superuser-role agent_gsu --owner-role agent_owner \
    "$ROOT"/corpus/guarded_*.cases || status=$?
cluster_stop corpus
exit $status
