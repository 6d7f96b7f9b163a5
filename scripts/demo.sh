#!/usr/bin/env bash
# The main job: builds and installs Interdict, starts a scratch cluster with a seeded database and an
# agent role in readonly mode, shows the guard at work, and leaves the cluster running.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
PORT=${DEMO_PORT:-5440}
cluster_start demo "$PORT"
SOCK=$SCRATCH/demo/sock
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
SQL
agent() { echo; echo "agent=> $1"; as_postgres psql -X -h "$SOCK" -p "$PORT" -U agent -d shop -v VERBOSITY=verbose -c "$1" 2>&1 | sed 's/^/  /' || true; }
log "the agent role is in readonly mode; the same role has full write grants"
agent "SHOW interdict.mode"
agent "SELECT c.name, count(*) AS orders, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY 3 DESC LIMIT 3"
agent "DELETE FROM orders WHERE total < 100"
agent "WITH gone AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM gone"
agent "SET interdict.mode = off"
agent "COPY customers TO PROGRAM 'cat > /tmp/stolen.csv'"
agent "SELECT count(*) AS orders_still_there FROM orders"
echo
log "the cluster is running (stop it with: sudo -u postgres $PGBIN/pg_ctl -D $SCRATCH/demo/data stop)"
echo "  as the agent: psql -h $SOCK -p $PORT -U agent shop      (or host=127.0.0.1 port=$PORT user=agent dbname=shop)"
echo "  as the DBA:   psql -h $SOCK -p $PORT -U postgres shop"
