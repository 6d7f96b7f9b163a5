#!/usr/bin/env bash
# Runs the corpus (the extension must be installed: see lib.sh): the readonly cases and the guarded
# cases side by side, each half on a fresh scratch cluster of its own (so that neither sees the
# other's databases, checkpoints or sessions in its fingerprint).
#   CORPUS=readonly|guarded   one half only (while working on it); the default runs both
#   CORPUS_OWNER=no           without the guarded migration role (an ordinary agent owning tables)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# half NAME PORT CASES… -- ROLE ARGS…: a cluster with the roles and the fixture, then the runner.
half() {
    local name=$1 port=$2; shift 2
    local cases=()
    while [ "$1" != -- ]; do cases+=("$1"); shift; done
    shift
    cluster_start "$name" "$port" "interdict.file_directories = '$CLUSTERS/$name/server-files'"
    local sock=$CLUSTERS/$name/sock files=$CLUSTERS/$name/server-files
    as_postgres mkdir -p "$files"
    local admin=(as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres)
    "${admin[@]}" -d postgres -f "$ROOT/corpus/roles.sql" >/dev/null
    "${admin[@]}" -d postgres -c "CREATE DATABASE fixture" >/dev/null
    "${admin[@]}" -d fixture -f "$ROOT/corpus/fixture.sql" >/dev/null
    local status=0
    as_postgres /usr/bin/python3 "$ROOT/corpus/run.py" --host "$sock" --port "$port" --files "$files" "$@" "${cases[@]}" || status=$?
    cluster_stop "$name"
    return $status
}

owner=(); [ "${CORPUS_OWNER:-yes}" = no ] || owner=(--role agent_owner --owner-role agent_owner)
pids=()
if [ "${CORPUS:-all}" != guarded ]; then
    half corpus_readonly "${CORPUS_PORT:-$(port_for 5433)}" "$ROOT"/corpus/readonly_*.cases -- \
        --role agent --role agent_su --superuser-role agent_su >"$SCRATCH/corpus_readonly_pg$PG_MAJOR.out" 2>&1 &
    pids+=($!)
fi
if [ "${CORPUS:-all}" != readonly ]; then
    half corpus_guarded "${CORPUS_GUARDED_PORT:-$(port_for 5442)}" "$ROOT"/corpus/guarded_*.cases -- \
        --role agent_g --role agent_gsu "${owner[@]}" --superuser-role agent_gsu >"$SCRATCH/corpus_guarded_pg$PG_MAJOR.out" 2>&1 &
    pids+=($!)
fi
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for half in readonly guarded; do
    out=$SCRATCH/corpus_${half}_pg$PG_MAJOR.out
    [ -f "$out" ] && grep -v '^\(WARNING\|DETAIL\|HINT\|NOTICE\|CONTEXT\):' "$out" | sed "s/^/[$half] /"
    rm -f "$out"
done
exit $status
