-- Extra objects of pgtest_policy, where the policy tests load policies.
CREATE SCHEMA audit;
CREATE TABLE audit.log (id int PRIMARY KEY);
CREATE TABLE secret (id int PRIMARY KEY, v text);
INSERT INTO secret VALUES (1, 'key');
GRANT USAGE ON SCHEMA audit TO PUBLIC;
CREATE TABLE small (id int PRIMARY KEY);
INSERT INTO small VALUES (1), (2);
GRANT ALL ON audit.log, secret, small TO PUBLIC;
SELECT interdict.record_schema('public'), interdict.record_schema('audit');
