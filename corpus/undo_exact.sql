-- Fixture of the undo exactness test (corpus/undo_exact.py): the accuracy test's cascades, trigger,
-- partitions (corpus/accuracy.sql, loaded first) plus a table of every kind of column type.
CREATE TYPE mood AS ENUM ('calm', 'busy', 'odd''one');
CREATE DOMAIN positive AS numeric CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE typed (
    id       int PRIMARY KEY,
    n        numeric,
    f8       float8,
    f4       float4,
    t        text,
    arr      text[],
    j        jsonb,
    js       json,
    b        bytea,
    m        mood,
    d        positive,
    p        pair,
    r        int4range,
    ts       timestamptz,
    iv       interval,
    dt       date,
    g        text GENERATED ALWAYS AS (t || '!') STORED,
    ident    int GENERATED ALWAYS AS IDENTITY
);
INSERT INTO typed (id, n, t) SELECT g, g, 'row ' || g FROM generate_series(1, 200) g;
SELECT interdict.record_schema('public');
CREATE ROLE undo_agent LOGIN;
GRANT ALL ON ALL TABLES IN SCHEMA public TO undo_agent;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO undo_agent;
ALTER ROLE undo_agent SET session_preload_libraries = 'interdict';
ALTER ROLE undo_agent SET interdict.mode = 'guarded';
ALTER ROLE undo_agent SET interdict.max_rows = 1000000;
