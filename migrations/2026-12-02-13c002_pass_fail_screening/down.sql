-- Pass/fail results go back to the 0–1 scale (pass = 1); weights and scales of screening
-- criteria stay neutral (0 and 0–1): their earlier values are not kept.
UPDATE needs SET screening = (
    SELECT coalesce(jsonb_object_agg(e.code, CASE e.value WHEN '"pass"' THEN '1'::jsonb ELSE '0'::jsonb END), '{}'::jsonb)
    FROM jsonb_each(screening) AS e(code, value))
WHERE screening IS NOT NULL AND jsonb_typeof(screening) = 'object';
UPDATE criteria_sets SET criteria = (
    SELECT coalesce(jsonb_agg(CASE WHEN t.c ->> 'kind' = 'screening'
        THEN t.c || '{"weight": 1.0}'::jsonb ELSE t.c END ORDER BY t.i), '[]'::jsonb)
    FROM jsonb_array_elements(criteria) WITH ORDINALITY AS t(c, i))
WHERE criteria @> '[{"kind": "screening"}]'::jsonb;
ALTER TABLE needs DROP COLUMN screening_override_reason;
