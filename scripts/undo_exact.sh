#!/usr/bin/env bash
# Undo exactness: corpus/undo_exact.py runs N random guarded writes (default 1000), reverts them all
# newest first, and compares the database fingerprint with the one taken at the start.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT=${UNDO_EXACT_PORT:-$(port_for 5436)}
cluster_start undo_exact "$PORT"
SOCK=$CLUSTERS/undo_exact/sock
as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE undo_exact" >/dev/null
as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d undo_exact -f "$ROOT/corpus/accuracy.sql" -f "$ROOT/corpus/undo_exact.sql" >/dev/null
status=0
as_postgres /usr/bin/python3 "$ROOT/corpus/undo_exact.py" --host "$SOCK" --port "$PORT" --dbname undo_exact -n "${1:-1000}" || status=$?
cluster_stop undo_exact
exit $status
