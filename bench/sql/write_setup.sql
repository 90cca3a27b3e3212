-- Structural copies of the tables a write touches (same columns, defaults, checks and
-- indexes; no foreign keys or triggers), so the write limits below measure PostgreSQL's
-- part of a write without disturbing the server's data or its audit chain.
DROP TABLE IF EXISTS bench_audit, bench_events, bench_needs, bench_scores, bench_cycle;
CREATE TABLE bench_audit (LIKE audit_log INCLUDING ALL);
CREATE TABLE bench_events (LIKE events INCLUDING ALL);
CREATE TABLE bench_needs (LIKE needs INCLUDING ALL);
-- Score sheets numbered 1..n so pgbench can pick one at random by key.
CREATE TABLE bench_scores AS SELECT row_number() OVER (ORDER BY need_id, org_number)::int AS k, * FROM need_scores;
ALTER TABLE bench_scores ADD PRIMARY KEY (need_id, org_number);
CREATE UNIQUE INDEX ON bench_scores (k);
CREATE INDEX ON bench_scores (cycle_year);
CREATE TABLE bench_cycle (year integer PRIMARY KEY, last_seq integer NOT NULL);
INSERT INTO bench_cycle VALUES (1, 0);
CREATE SEQUENCE IF NOT EXISTS bench_seq;
