-- a migration an agent wrote
SELECT count(*) FROM orders;
ALTER TABLE orders DROP COLUMN amount;
