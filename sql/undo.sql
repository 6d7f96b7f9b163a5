-- Undo: every write a guarded session makes is recorded here, one change per statement, with the
-- row images interdict.revert(id) restores. Only the guard writes these tables (agent modes refuse
-- direct writes to the interdict schema, and PUBLIC has no privileges on them). Operators read
-- everything; agents see summaries through interdict.history() and interdict.last_change().

CREATE TABLE interdict.changes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    role_id          oid NOT NULL,            -- the session role that made the change
    role_name        name NOT NULL,
    application_name text,
    agent            text,                    -- interdict.agent, when the connection sets it
    xid              xid8 NOT NULL,
    made_at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    statement        text NOT NULL,
    reverts          bigint REFERENCES interdict.changes (id) ON DELETE SET NULL, -- this change reverted that one
    reverted_by      bigint REFERENCES interdict.changes (id) ON DELETE SET NULL, -- the change that reverted this one
    -- The tables the change wrote, one array element per table (interdict.change_tables shows them
    -- as rows): kept in the change's own row, so that recording a change writes one row and one
    -- index entry besides its row images (a table of its own cost one more of each per change).
    table_relids     oid[] NOT NULL,
    table_names      text[] NOT NULL,         -- schema.name when recorded
    table_shapes     text[] NOT NULL,         -- columns, positions and types when recorded: a revert needs the same
    inserted         bigint[] NOT NULL,
    updated          bigint[] NOT NULL,
    deleted          bigint[] NOT NULL,
    -- The change's first batch of row events (packed like change_rows.images; a one-row change's
    -- only one) is kept in its own row: recording it writes no change_rows row (one heap tuple
    -- cost about as much as the audit line: benches/RESULTS.md). Later batches are in change_rows.
    first_batch      bytea NOT NULL,
    first_batch_rows integer NOT NULL,        -- how many row events first_batch holds
    rows_at          tid[] NOT NULL,          -- where the change's later batches are in change_rows, in order
    rows_file        oid NOT NULL             -- change_rows' file then (pg_relation_filenode): the addresses hold while it is the same
);
-- Only the primary key: each index entry cost a one-row change about as much as its heap tuple
-- (benches/RESULTS.md). Expiry reads the oldest changes by id (ids and times rise together), an
-- agent's history() reads ids downwards keeping its own.
-- A large change's addresses are stored out of line, uncompressed (compressing them cost more per
-- row than storing them).
ALTER TABLE interdict.changes ALTER COLUMN rows_at SET STORAGE EXTERNAL;
COMMENT ON TABLE interdict.changes IS 'One row per statement a guarded session wrote with; see interdict.revert().';

-- Rows per table and operation of each change, one row per table.
CREATE VIEW interdict.change_tables AS
    SELECT c.id AS change_id, t.relid, t.table_name, t.shape, t.inserted, t.updated, t.deleted, c.rows_file
      FROM interdict.changes c,
           ROWS FROM (pg_catalog.unnest(c.table_relids), pg_catalog.unnest(c.table_names), pg_catalog.unnest(c.table_shapes),
                      pg_catalog.unnest(c.inserted), pg_catalog.unnest(c.updated), pg_catalog.unnest(c.deleted))
           AS t(relid, table_name, shape, inserted, updated, deleted);
COMMENT ON VIEW interdict.change_tables IS 'Rows per table and operation of each change.';

-- change_rows belongs to a change, but carries no foreign key: only the guard writes it, always
-- together with its change, and a per-row foreign-key check would double the cost of recording a
-- large change. interdict.purge() deletes a change's rows with it.
CREATE TABLE interdict.change_rows (
    change_id bigint NOT NULL,
    seq       bigint NOT NULL,                -- the position in the change of its first row event
    row_count integer NOT NULL,               -- how many row events it holds
    images    bytea NOT NULL                  -- the events: operation, table, before- and after-image (the rows'
                                              -- bytes; an update's after-image as its difference from the before-image
                                              -- when smaller), packed (core/src/undo.rs); interdict.change_images() reads them
);
-- Row events are packed into batches of about 1,800 bytes (one heap tuple per event cost about as much
-- as capturing the event), small enough that Postgres keeps each batch in line.
-- No index: the guard finds a change's batches by the addresses its change keeps (rows_at), and an
-- index entry per batch cost about as much as the batch (benches/RESULTS.md). After VACUUM FULL or
-- CLUSTER of this table (a new file) the guard finds them by change id instead, scanning; operators
-- looking rows up by change_id scan too, or add an index of their own (the guard maintains it).
COMMENT ON TABLE interdict.change_rows IS 'Row images of each change after its first batch (kept in interdict.changes.first_batch): real data, readable by operators only; interdict.change_images(id) shows them all.';

-- Only the guard changes its records, whatever the session's mode (agent modes refuse any write to
-- this schema before it starts; this covers DBAs and operators in mode off).
CREATE TRIGGER interdict_protect BEFORE UPDATE OR DELETE OR TRUNCATE ON interdict.changes
    FOR EACH STATEMENT EXECUTE FUNCTION interdict.protect_records();
CREATE TRIGGER interdict_protect BEFORE UPDATE OR DELETE OR TRUNCATE ON interdict.change_rows
    FOR EACH STATEMENT EXECUTE FUNCTION interdict.protect_records();
CREATE TRIGGER interdict_protect BEFORE UPDATE OR DELETE OR TRUNCATE ON interdict.approvals
    FOR EACH STATEMENT EXECUTE FUNCTION interdict.protect_records();

REVOKE ALL ON interdict.changes, interdict.change_tables, interdict.change_rows FROM PUBLIC;
GRANT SELECT ON interdict.changes, interdict.change_tables, interdict.change_rows TO interdict_operator;
SELECT pg_catalog.pg_extension_config_dump('interdict.changes', '');
SELECT pg_catalog.pg_extension_config_dump('interdict.change_rows', '');

-- Every function here runs with search_path = pg_catalog, pg_temp: what a session created in a schema
-- it can write (or in pg_temp) never stands in for a catalog object, operator or type.

-- Whether a table's writes can be recorded: a primary key or a replica identity index finds its rows again.
CREATE FUNCTION interdict.has_key(rel regclass) RETURNS boolean STABLE LANGUAGE sql
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
                    WHERE i.indrelid = rel
                      AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident)))
$$;

-- Whether a table's writes are recorded: its interdict_capture trigger is exactly the one record() makes.
CREATE FUNCTION interdict.is_recorded(rel regclass) RETURNS boolean STABLE LANGUAGE sql
    SET search_path = pg_catalog, pg_temp AS $$ SELECT interdict.relation_is_recorded(rel::pg_catalog.oid) $$;

-- A DBA (the table's owner) records a table: guarded sessions may then write it, and each write can
-- be reverted. interdict.is_recorded(table) says whether a table is (its interdict_capture trigger is
-- exactly the one made here: any other definition records nothing and guarded writes are refused). Partitions of a recorded partitioned table are recorded with it; inheritance children
-- are tables of their own. Returns false if the table was recorded already.
CREATE FUNCTION interdict.record(rel regclass) RETURNS boolean LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'interdict: % is not a table', rel USING ERRCODE = '42809';
    END IF;
    IF NOT interdict.has_key(rel) THEN
        RAISE EXCEPTION 'interdict: % has no primary key or replica identity index', rel
            USING ERRCODE = '55000', HINT = 'Add a primary key (ALTER TABLE … ADD PRIMARY KEY), then record it.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = rel AND tgname = 'interdict_capture') THEN
        IF interdict.is_recorded(rel) THEN
            RETURN false;
        END IF;
        -- A trigger of that name that does not record every row (made by hand, or altered): replaced.
        EXECUTE pg_catalog.format('DROP TRIGGER interdict_capture ON %s', rel);
    END IF;
    EXECUTE pg_catalog.format('CREATE TRIGGER interdict_capture AFTER INSERT OR UPDATE OR DELETE ON %s
        FOR EACH ROW WHEN (interdict.capturing()) EXECUTE FUNCTION interdict.capture()', rel);
    RETURN true;
END $$;

-- Records every table with a key in a schema; returns the tables it recorded now.
CREATE FUNCTION interdict.record_schema(schema_name name) RETURNS SETOF regclass LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE r regclass;
BEGIN
    FOR r IN SELECT c.oid::regclass FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = schema_name AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                AND interdict.has_key(c.oid) ORDER BY 1 LOOP
        IF interdict.record(r) THEN RETURN NEXT r; END IF;
    END LOOP;
END $$;

-- Stops recording a table (guarded sessions can no longer write it, unless the policy allows
-- non-reversible writes).
CREATE FUNCTION interdict.unrecord(rel regclass) RETURNS boolean LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgrelid = rel AND tgname = 'interdict_capture') THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format('DROP TRIGGER interdict_capture ON %s', rel);
    RETURN true;
END $$;

-- Tables a guarded session creates are recorded as it creates them (when they have a key), so the
-- agent can write its own tables and take those writes back.
CREATE FUNCTION interdict.record_new_tables() RETURNS event_trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE r record;
BEGIN
    IF NOT interdict.capturing() THEN RETURN; END IF;
    FOR r IN SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands()
              WHERE object_type = 'table' AND command_tag = 'CREATE TABLE' LOOP
        IF interdict.has_key(r.objid) AND NOT (SELECT relispartition FROM pg_catalog.pg_class WHERE oid = r.objid) THEN
            PERFORM interdict.record(r.objid);
        END IF;
    END LOOP;
END $$;
CREATE EVENT TRIGGER interdict_record_new_tables ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION interdict.record_new_tables();

-- A revert's own statements read the row images it serves by position (never bytes a caller
-- passes in); outside a revert it refuses.
CREATE FUNCTION interdict.revert_image(list integer, n bigint, row_type anyelement) RETURNS anyelement
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'interdict_revert_image';

-- Storage undo uses, for DBAs watching it grow.
CREATE VIEW interdict.undo_storage AS
    SELECT (SELECT count(*) FROM interdict.changes) AS changes,
           (SELECT coalesce(pg_catalog.sum(n), 0) FROM interdict.changes,
                   pg_catalog.unnest(inserted OPERATOR(pg_catalog.||) updated OPERATOR(pg_catalog.||) deleted) n)::bigint AS row_images,
           pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size('interdict.changes')
               + pg_catalog.pg_total_relation_size('interdict.change_rows')) AS size,
           (SELECT made_at FROM interdict.changes ORDER BY id LIMIT 1) AS oldest;
REVOKE ALL ON interdict.undo_storage FROM PUBLIC;
GRANT SELECT ON interdict.undo_storage TO interdict_operator;
