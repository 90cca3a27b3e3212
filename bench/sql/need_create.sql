-- POST /api/v1/needs: the minimal statements of reporting a need. The cycle's counter row
-- locked and incremented (gap-free references), the need row with its indexes, one audit
-- entry and one feed event, serialised on one advisory lock like the server's writers.
BEGIN;
UPDATE bench_cycle SET last_seq = last_seq + 1 WHERE year = 1 RETURNING last_seq;
INSERT INTO bench_needs (id, cycle_year, seq, reference, title, description, expected_benefit, origin,
                         organisation_number, estimated_study_cost_nok, reported_by)
VALUES (gen_random_uuid(), 2031, nextval('bench_seq'), 'B-2031-' || currval('bench_seq'), 'Benchmarkbehov',
        repeat('d', 300), repeat('b', 200), 'users', '993467049', 100000, 'reporter');
SELECT pg_advisory_xact_lock(7);
SELECT id, hash FROM bench_audit ORDER BY id DESC LIMIT 1;
INSERT INTO bench_audit (id, actor_subject, actor_org, action, entity_type, entity_id, before, after, request_id, prev_hash, hash)
VALUES (nextval('bench_seq'), 'reporter', '993467049', 'create', 'need', 'x',
        NULL, jsonb_build_object('need', repeat('n', 700)), 'req', repeat('0', 64), repeat('1', 64));
INSERT INTO bench_events (seq, entity_type, entity_id, action, version, actor_subject, actor_org)
VALUES (nextval('bench_seq'), 'need', 'x', 'created', 1, 'reporter', '993467049');
COMMIT;
