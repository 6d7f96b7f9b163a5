#!/usr/bin/env bash
# Blast-radius accuracy: corpus/accuracy.py runs N random write statements (default 500) and checks
# that interdict.simulate()'s rows per table equal what each statement then really changes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${ACCURACY_PORT:-$(port_for 5435)}
cluster_start accuracy "$PORT"
SOCK=$CLUSTERS/accuracy/sock
as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE accuracy" >/dev/null
as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d accuracy -f "$ROOT/corpus/accuracy.sql" >/dev/null
status=0
as_postgres /usr/bin/python3 "$ROOT/corpus/accuracy.py" --host "$SOCK" --port "$PORT" --dbname accuracy -n "${1:-500}" || status=$?
cluster_stop accuracy
exit $status
