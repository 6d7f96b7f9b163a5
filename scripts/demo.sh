#!/usr/bin/env bash
# The main job: builds and installs Interdict, starts a scratch cluster with a seeded database and an
# agent role in readonly mode and one in guarded mode, shows the guard at work (refusals, blast radius,
# simulate, pending requests and an operator's approval, undo, a policy, timeout ceilings, stats, the
# audit trail, a role check), and leaves the cluster running.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
PORT=${DEMO_PORT:-$(port_for 5440)}
# Preloaded by the postmaster: shared memory for interdict.pending() and cluster-wide counters.
cluster_start demo "$PORT" "shared_preload_libraries = 'interdict'"
SOCK=$CLUSTERS/demo/sock
dba() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }
dba -d postgres -c "CREATE DATABASE shop" >/dev/null
dba -d shop >/dev/null <<'SQL'
CREATE EXTENSION interdict;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text);
INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 100) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric);
INSERT INTO orders SELECT g, (g % 100) + 1, (g * 7) % 500 FROM generate_series(1, 1000) g;
CREATE ROLE agent LOGIN;
GRANT ALL ON ALL TABLES IN SCHEMA public TO agent;
ALTER ROLE agent SET session_preload_libraries = 'interdict';
ALTER ROLE agent SET interdict.mode = 'readonly';
CREATE ROLE writer LOGIN;
GRANT ALL ON ALL TABLES IN SCHEMA public TO writer;
ALTER ROLE writer SET session_preload_libraries = 'interdict';
ALTER ROLE writer SET interdict.mode = 'guarded';
ALTER ROLE writer SET interdict.max_rows = 20;
CREATE ROLE ops LOGIN IN ROLE interdict_operator;
SELECT interdict.record_schema('public'); -- guarded writes to these tables are recorded for undo
CREATE TABLE scratch_nokey (x int);
GRANT ALL ON scratch_nokey TO writer;
SQL
as_role() { local role=$1; shift; echo; echo "$role=> $1"; as_postgres psql -X -h "$SOCK" -p "$PORT" -U "$role" -d shop -v VERBOSITY=verbose -c "$1" 2>&1 | sed 's/^/  /' || true; }
agent() { as_role agent "$1"; }
writer() { as_role writer "$1"; }
log "the agent role is in readonly mode; the same role has full write grants"
agent "SHOW interdict.mode"
agent "SELECT c.name, count(*) AS orders, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY 3 DESC LIMIT 3"
agent "DELETE FROM orders WHERE total < 100"
agent "WITH gone AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM gone"
agent "SET interdict.mode = off"
agent "COPY customers TO PROGRAM 'cat > /tmp/stolen.csv'"
agent "SELECT count(*) AS orders_still_there FROM orders"
echo
log "the writer role is in guarded mode: writes are checked before they can do damage (max_rows = 20), and recorded"
writer "UPDATE orders SET total = total * 1.1 WHERE id = 7"
writer "DELETE FROM orders WHERE 1 = 1"
writer "SELECT jsonb_pretty(interdict.simulate('DELETE FROM orders WHERE total < 50'))"
DELETE_SMALL="DELETE FROM orders WHERE total < 50"
id=$(as_postgres psql -X -h "$SOCK" -p "$PORT" -U writer -d shop -c "$DELETE_SMALL" 2>&1 | sed -n 's/.*"approval_id":"\([^"]*\)".*/\1/p' || true)
writer "$DELETE_SMALL"
log "the operator sees the request waiting (shared memory: the refused transaction is gone)"
as_role ops "SELECT approval_id, reason, role_name, rows_reached, times FROM interdict.pending()"
log "an operator approves that exact statement, once, for at most 100 rows"
as_role ops "SELECT interdict.approve('$id', max_rows => 100, valid_for => '10 minutes')"
writer "$DELETE_SMALL"
log "every allowed write was recorded: the writer takes the approved delete back, exactly"
writer "SELECT * FROM interdict.history(3)"
writer "SELECT interdict.revert((SELECT id FROM interdict.history(1)))"  # each call here is a new session: the role's latest change
writer "SELECT count(*) AS orders_back FROM orders"
log "a revert is conflict-checked: a row changed since is not overwritten"
writer "UPDATE orders SET total = 1 WHERE id = 9"
writer "UPDATE orders SET total = 2 WHERE id = 9"
writer "SELECT interdict.revert((SELECT id FROM interdict.history(2) ORDER BY id LIMIT 1))"
log "a write undo cannot record (a table without a key) is refused"
writer "INSERT INTO scratch_nokey VALUES (1)"
log "a policy: no writes to customers for anyone, deletes of at most 5 rows"
dba -d shop -c "SELECT interdict.load_policy(E'version: 1\\ndefaults:\\n  rows: {delete: 5}\\n  tables:\\n    public.customers: {write: false}\\n') AS policy_version"
writer "SELECT interdict.policy()"
writer "UPDATE customers SET name = 'x' WHERE id = 1"
writer "DELETE FROM orders WHERE id BETWEEN 100 AND 110"
log "agent sessions cannot lift their timeouts (statement_timeout at most 30 s in agent modes)"
agent "SHOW statement_timeout"
agent "SET statement_timeout = 0"
log "what the guard did: cluster-wide counters per role (and agent id)"
as_role ops "SELECT role_name, statements_guarded AS guarded, statements_readonly AS readonly, refused, held, approvals_used AS approved, changes_recorded AS changes, reverts, rows_protected FROM interdict.pg_stat_interdict ORDER BY role_name"
log "each refusal, approval, change and revert is also one JSON line in the server log (literals redacted)"
grep -h '"interdict":"refusal"' "$CLUSTERS/demo/log" | tail -n 2 | sed 's/^.*LOG:  /  /' || true
log "is the agent role set up safely? interdict.check_role() says what to fix, with the SQL"
as_role ops "SELECT severity, \"check\", fix FROM interdict.check_role('agent')"
echo
log "the cluster is running (stop it with: sudo -u postgres $PGBIN/pg_ctl -D $CLUSTERS/demo/data stop)"
echo "  as the agent: psql -h $SOCK -p $PORT -U agent shop      (or host=127.0.0.1 port=$PORT user=agent dbname=shop)"
echo "  as the DBA:   psql -h $SOCK -p $PORT -U postgres shop"
