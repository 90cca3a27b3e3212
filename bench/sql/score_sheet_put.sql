-- PUT /api/v1/needs/{id}/scores/{org} (replace): the minimal statements of that write. The
-- cycle's phase read under a share lock, the need's status and the adopted criteria read (the
-- values are checked against them), the sheet rewritten with its new version, one audit
-- entry (before/after ~600 bytes) and one feed event, serialised on one advisory lock like
-- the server's writers, in one transaction.
\set k random(1, :sheets)
BEGIN;
SELECT phase FROM cycles WHERE year = :year FOR SHARE;
SELECT status, criteria FROM criteria_sets WHERE cycle_year = :year;
SELECT n.status FROM needs n JOIN bench_scores s ON s.need_id = n.id WHERE s.k = :k;
UPDATE bench_scores SET scores = scores, version = version + 1, updated_at = now()
 WHERE k = :k RETURNING version;
SELECT pg_advisory_xact_lock(7);
SELECT id, hash FROM bench_audit ORDER BY id DESC LIMIT 1;
INSERT INTO bench_audit (id, actor_subject, actor_org, action, entity_type, entity_id, before, after, request_id, prev_hash, hash)
VALUES (nextval('bench_seq'), 'trust-scorer', '993467049', 'update', 'score_sheet', 'x',
        jsonb_build_object('scores', repeat('s', 280)), jsonb_build_object('scores', repeat('s', 280)),
        'req', repeat('0', 64), repeat('1', 64));
INSERT INTO bench_events (seq, entity_type, entity_id, action, version, actor_subject, actor_org)
VALUES (nextval('bench_seq'), 'score_sheet', 'x', 'updated', 2, 'trust-scorer', '993467049');
COMMIT;
