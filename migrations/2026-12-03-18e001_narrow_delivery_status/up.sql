-- A measure's delivery status and its version move out of the wide `measures` row into a
-- narrow row of their own. The IT partner's sync rewrites thousands of statuses at once: it
-- now rewrites narrow rows with two indexes instead of wide rows with five (measured in
-- bench/README.md). The version moves with them because every applied status changes the
-- measure's version (its ETag); edits and lifecycle changes bump it here as well, so both
-- kinds of writer serialise on this row.
CREATE TABLE measure_delivery_status (
    measure_id          uuid PRIMARY KEY REFERENCES measures (id) ON DELETE CASCADE,
    -- The current delivery status (all NULL until the first report).
    progress            smallint CHECK (progress BETWEEN 0 AND 100),
    rag                 text CHECK (rag IN ('green', 'yellow', 'red')),
    forecast_date       date,
    milestones          jsonb,
    delivery_comment    text,
    reported_by         text,
    source_timestamp    timestamptz,
    delivery_updated_at timestamptz,
    -- The measure's version: every edit, lifecycle change and applied status adds one.
    version             integer NOT NULL DEFAULT 1
);
-- The list filter by delivery health (measures without a status never match it).
CREATE INDEX measure_delivery_status_rag_idx ON measure_delivery_status (rag) WHERE rag IS NOT NULL;

INSERT INTO measure_delivery_status (measure_id, progress, rag, forecast_date, milestones,
    delivery_comment, reported_by, source_timestamp, delivery_updated_at, version)
SELECT id, progress, rag, forecast_date, milestones, delivery_comment, reported_by,
    source_timestamp, delivery_updated_at, version
FROM measures;

-- Every measure has exactly one status row, whoever inserts the measure (the API, the data
-- generator, a fixture): one statement-level insert per INSERT into measures.
CREATE FUNCTION measures_add_delivery_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO measure_delivery_status (measure_id) SELECT id FROM new_measures;
    RETURN NULL;
END $$;
CREATE TRIGGER measures_add_delivery_status AFTER INSERT ON measures
    REFERENCING NEW TABLE AS new_measures
    FOR EACH STATEMENT EXECUTE FUNCTION measures_add_delivery_status();

-- The history's rows belong to a status row (1:1 with the measure): its foreign-key check
-- then touches the narrow row the sync has just written, not the wide measure.
ALTER TABLE measure_delivery_history DROP CONSTRAINT measure_delivery_history_measure_id_fkey;
ALTER TABLE measure_delivery_history ADD CONSTRAINT measure_delivery_history_measure_id_fkey
    FOREIGN KEY (measure_id) REFERENCES measure_delivery_status (measure_id) ON DELETE CASCADE;

DROP INDEX measures_rag_idx;
ALTER TABLE measures
    DROP COLUMN progress,
    DROP COLUMN rag,
    DROP COLUMN forecast_date,
    DROP COLUMN milestones,
    DROP COLUMN delivery_comment,
    DROP COLUMN reported_by,
    DROP COLUMN source_timestamp,
    DROP COLUMN delivery_updated_at,
    DROP COLUMN version;
