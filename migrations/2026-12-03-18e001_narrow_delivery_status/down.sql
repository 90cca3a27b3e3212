ALTER TABLE measures
    ADD COLUMN progress smallint CHECK (progress BETWEEN 0 AND 100),
    ADD COLUMN rag text CHECK (rag IN ('green', 'yellow', 'red')),
    ADD COLUMN forecast_date date,
    ADD COLUMN milestones jsonb,
    ADD COLUMN delivery_comment text,
    ADD COLUMN reported_by text,
    ADD COLUMN source_timestamp timestamptz,
    ADD COLUMN delivery_updated_at timestamptz,
    ADD COLUMN version integer NOT NULL DEFAULT 1;
UPDATE measures m SET progress = d.progress, rag = d.rag, forecast_date = d.forecast_date,
    milestones = d.milestones, delivery_comment = d.delivery_comment, reported_by = d.reported_by,
    source_timestamp = d.source_timestamp, delivery_updated_at = d.delivery_updated_at,
    version = d.version
FROM measure_delivery_status d WHERE d.measure_id = m.id;
CREATE INDEX measures_rag_idx ON measures (rag, partner_reference);
ALTER TABLE measure_delivery_history DROP CONSTRAINT measure_delivery_history_measure_id_fkey;
ALTER TABLE measure_delivery_history ADD CONSTRAINT measure_delivery_history_measure_id_fkey
    FOREIGN KEY (measure_id) REFERENCES measures (id) ON DELETE CASCADE;
DROP TRIGGER measures_add_delivery_status ON measures;
DROP FUNCTION measures_add_delivery_status();
DROP TABLE measure_delivery_status;
