-- Screening criteria are pass/fail: no weight, no scale. A first assessment records `pass` or
-- `fail` per screening criterion, and accepting a need that fails one needs an override
-- reason, kept here.

ALTER TABLE needs ADD COLUMN screening_override_reason text
    CHECK (length(screening_override_reason) BETWEEN 1 AND 2000);

-- Results recorded on a scale become pass/fail: a value above the bottom of the criterion's
-- scale passed (for the usual 0–1 "no/yes" scale: 1 passed, 0 failed).
UPDATE needs n SET screening = (
    SELECT coalesce(jsonb_object_agg(e.code, CASE
        WHEN jsonb_typeof(e.value) <> 'number' THEN e.value
        WHEN (e.value #>> '{}')::numeric > coalesce((
            SELECT (c ->> 'scale_min')::numeric
            FROM criteria_sets cs, jsonb_array_elements(cs.criteria) c
            WHERE cs.cycle_year = n.cycle_year AND c ->> 'code' = e.code), 0)
        THEN '"pass"'::jsonb ELSE '"fail"'::jsonb END), '{}'::jsonb)
    FROM jsonb_each(n.screening) AS e(code, value))
WHERE n.screening IS NOT NULL AND jsonb_typeof(n.screening) = 'object';

-- Screening criteria keep the neutral weight and scale the domain stores them with
-- (portfolio_domain::criteria::Criterion::screening); nothing reads them.
UPDATE criteria_sets SET criteria = (
    SELECT coalesce(jsonb_agg(CASE WHEN t.c ->> 'kind' = 'screening'
        THEN t.c || '{"weight": 0.0, "scale_min": 0, "scale_max": 1, "scale_labels": []}'::jsonb
        ELSE t.c END ORDER BY t.i), '[]'::jsonb)
    FROM jsonb_array_elements(criteria) WITH ORDINALITY AS t(c, i))
WHERE criteria @> '[{"kind": "screening"}]'::jsonb;
