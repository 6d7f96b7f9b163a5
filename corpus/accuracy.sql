-- Fixture of the blast-radius accuracy test (corpus/accuracy.py): cascades, a trigger that writes
-- elsewhere, partitions, ON CONFLICT and MERGE targets.
CREATE EXTENSION interdict;
CREATE TABLE parent (id int PRIMARY KEY, v int NOT NULL);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE ON UPDATE CASCADE, v int NOT NULL);
CREATE TABLE grandchild (id int PRIMARY KEY, child_id int REFERENCES child ON DELETE CASCADE, v int NOT NULL);
CREATE TABLE orphaned (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE SET NULL ON UPDATE SET NULL);
CREATE TABLE logged (id int PRIMARY KEY, v int NOT NULL);
CREATE TABLE log (id bigserial PRIMARY KEY, op text NOT NULL);
CREATE FUNCTION log_it() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO log (op) VALUES (TG_OP); RETURN NULL; END $$;
CREATE TRIGGER logged_log AFTER INSERT OR UPDATE OR DELETE ON logged FOR EACH ROW EXECUTE FUNCTION log_it();
CREATE TABLE part (id int NOT NULL, k int NOT NULL, v int NOT NULL, PRIMARY KEY (k, id)) PARTITION BY RANGE (k);
CREATE TABLE part_a PARTITION OF part FOR VALUES FROM (0) TO (100);
CREATE TABLE part_b PARTITION OF part FOR VALUES FROM (100) TO (200);
CREATE TABLE part_c PARTITION OF part FOR VALUES FROM (200) TO (300);
INSERT INTO parent SELECT g, g % 7 FROM generate_series(1, 2000) g;
INSERT INTO child SELECT g, 1 + g % 2000, g % 11 FROM generate_series(1, 4000) g;
INSERT INTO grandchild SELECT g, 1 + g % 4000, g % 13 FROM generate_series(1, 4000) g;
INSERT INTO orphaned SELECT g, 1 + g % 2000 FROM generate_series(1, 1000) g;
INSERT INTO logged SELECT g, g % 5 FROM generate_series(1, 1000) g;
INSERT INTO part SELECT g, g % 300, g % 3 FROM generate_series(1, 3000) g;
