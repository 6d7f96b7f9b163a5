#!/usr/bin/env bash
# sqlsmith (Debian's package) against the corpus fixture for MINUTES minutes each, as the readonly
# and the guarded agents, ordinary and superuser. Counts server crashes (a backend terminated by a
# signal, which makes the postmaster restart every session) and, for readonly, checks that the
# fixture's fingerprint (data, sequences, catalog, large objects, cluster state) is unchanged.
# Records the figures in benches/RESULTS.md. Not part of scripts/test.sh (it takes 4 × MINUTES).
#   bash scripts/sqlsmith.sh [MINUTES]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MINUTES=${1:-10}
PORT=${SQLSMITH_PORT:-$(port_for 5439)}
setup_all
command -v sqlsmith >/dev/null || { $SUDO apt-get install -y -qq sqlsmith >/dev/null; }
cluster_start sqlsmith "$PORT" "log_min_messages = warning"
SOCK=$CLUSTERS/sqlsmith/sock
LOG=$CLUSTERS/sqlsmith/log
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }
psql_admin -d postgres -f "$ROOT/corpus/roles.sql" >/dev/null
psql_admin -d postgres -c "CREATE DATABASE fixture" >/dev/null
psql_admin -d fixture -f "$ROOT/corpus/fixture.sql" >/dev/null
fingerprint() { psql_admin -d fixture -At -c "SELECT md5(string_agg(part || digest, ',' ORDER BY part)) FROM corpus_admin.fingerprint()"; }
crashes() { grep -c "terminated by signal" "$LOG" || true; }

run_as() {  # ROLE: sqlsmith for MINUTES; prints "queries errors"
    local role=$1 out=$CLUSTERS/sqlsmith/$1.out
    as_postgres timeout --signal=INT "${MINUTES}m" sqlsmith --seed=42 --verbose \
        --target="host=$SOCK port=$PORT dbname=fixture user=$role application_name=sqlsmith" >"$out" 2>&1 || true
    # sqlsmith's last report line: "queries: N (x/s), ... errors: …"; count what it generated.
    local queries; queries=$(grep -o 'queries: [0-9]*' "$out" | tail -1 | awk '{print $2}')
    echo "${queries:-0}"
}

status=0
declare -A queries crashed changed
for role in agent agent_su agent_g agent_gsu; do
    before=$(fingerprint); crashes_before=$(crashes)
    log "sqlsmith as $role for $MINUTES min"
    queries[$role]=$(run_as "$role")
    crashed[$role]=$(( $(crashes) - crashes_before ))
    [ "${crashed[$role]}" = 0 ] || status=1
    changed[$role]="(writes allowed)"
    case $role in agent|agent_su)
        changed[$role]=no
        [ "$before" = "$(fingerprint)" ] || { changed[$role]=yes; status=1; } ;;
    esac
    log "$role: ${queries[$role]} queries, ${crashed[$role]} crashes, fixture changed: ${changed[$role]}"
done
cluster_stop sqlsmith
results_section sqlsmith <<EOF
## sqlsmith: random SQL as an agent

Command: \`bash scripts/sqlsmith.sh $MINUTES\` — sqlsmith (Debian 12 package, seed 42) against the corpus
fixture database (every table recorded for undo), $MINUTES minutes per agent, PostgreSQL $PG_MAJOR, $(date -u +%Y-%m-%d).

| agent | queries generated | server crashes | fixture changed |
|---|---|---|---|
| ordinary, \`readonly\` | ${queries[agent]} | ${crashed[agent]} | ${changed[agent]} |
| superuser, \`readonly\` | ${queries[agent_su]} | ${crashed[agent_su]} | ${changed[agent_su]} |
| ordinary, \`guarded\` (max_rows 20) | ${queries[agent_g]} | ${crashed[agent_g]} | ${changed[agent_g]} |
| superuser, \`guarded\` | ${queries[agent_gsu]} | ${crashed[agent_gsu]} | ${changed[agent_gsu]} |

A crash is a backend terminated by a signal (the server log's "terminated by signal"); the readonly
fingerprint covers table data, sequences, the catalog, large objects and cluster-wide state, taken
before and after each readonly agent's run.
EOF
exit $status
