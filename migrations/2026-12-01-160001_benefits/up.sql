-- Benefits realisation (gevinstrealisering): the benefits a concept study, a concept or an
-- improvement measure promises, and the append-only series of measurements that follows
-- each of them. The rules (directions, shares, RAG) live in the domain crate; the checks
-- here only keep impossible rows out whatever writes them.

CREATE TABLE benefits (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    parent_kind           text NOT NULL CHECK (parent_kind IN ('concept_study', 'concept', 'measure')),
    study_id              uuid REFERENCES concept_studies (id),
    concept_id            uuid REFERENCES concepts (id),
    measure_id            uuid REFERENCES measures (id),
    -- The need the parent descends from (none for a measure): the lineage filter.
    need_id               uuid REFERENCES needs (id),
    title                 text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description           text NOT NULL CHECK (length(description) <= 10000),
    category              text NOT NULL CHECK (category IN ('budget_effect_own_organisation',
                              'released_capacity', 'priced_effect_elsewhere', 'not_priced')),
    owner_org             text NOT NULL REFERENCES organisations (org_number),
    owner_role            text NOT NULL CHECK (length(owner_role) BETWEEN 1 AND 200),
    indicator_name        text NOT NULL CHECK (length(indicator_name) BETWEEN 1 AND 200),
    indicator_unit        text NOT NULL CHECK (length(indicator_unit) BETWEEN 1 AND 200),
    direction             text NOT NULL CHECK (direction IN ('increase', 'decrease')),
    baseline_value        double precision NOT NULL,
    baseline_date         date NOT NULL,
    baseline_method       text NOT NULL,
    target_value          double precision NOT NULL,
    target_date           date NOT NULL,
    yearly_value_nok      bigint CHECK (yearly_value_nok >= 0),
    status                text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned',
                              'in_realisation', 'realised', 'partly_realised', 'not_realised', 'cancelled')),
    status_reason         text,
    -- The latest effective measurement (kept in step by the API in the same transaction
    -- that appends a measurement), so lists derive RAG without reading the series.
    latest_measurement_id bigint,
    latest_value          double precision,
    latest_measured_on    date,
    version               integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT benefits_one_parent CHECK (
        (parent_kind = 'concept_study' AND study_id IS NOT NULL AND concept_id IS NULL AND measure_id IS NULL)
        OR (parent_kind = 'concept' AND concept_id IS NOT NULL AND study_id IS NULL AND measure_id IS NULL)
        OR (parent_kind = 'measure' AND measure_id IS NOT NULL AND study_id IS NULL AND concept_id IS NULL)),
    CONSTRAINT benefits_target_moves CHECK (target_value <> baseline_value),
    CONSTRAINT benefits_dates_in_order CHECK (target_date > baseline_date),
    CONSTRAINT benefits_priced_value CHECK (category <> 'not_priced' OR yearly_value_nok IS NULL)
);
-- Lists are ordered by (created_at, id); one index per filter.
CREATE INDEX benefits_list_idx ON benefits (created_at, id);
CREATE INDEX benefits_owner_idx ON benefits (owner_org, created_at, id);
CREATE INDEX benefits_category_idx ON benefits (category, created_at, id);
CREATE INDEX benefits_status_idx ON benefits (status, created_at, id);
CREATE INDEX benefits_study_idx ON benefits (study_id, created_at, id) WHERE study_id IS NOT NULL;
CREATE INDEX benefits_concept_idx ON benefits (concept_id, created_at, id) WHERE concept_id IS NOT NULL;
CREATE INDEX benefits_measure_idx ON benefits (measure_id, created_at, id) WHERE measure_id IS NOT NULL;
CREATE INDEX benefits_need_idx ON benefits (need_id, created_at, id) WHERE need_id IS NOT NULL;

CREATE TABLE benefit_measurements (
    id            bigserial PRIMARY KEY,
    benefit_id    uuid NOT NULL REFERENCES benefits (id),
    measured_on   date NOT NULL,
    value         double precision NOT NULL,
    source        text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    note          text CHECK (length(note) <= 10000),
    -- A correction names the measurement it replaces; each is corrected at most once.
    corrects      bigint UNIQUE REFERENCES benefit_measurements (id),
    recorded_by   text NOT NULL,
    recorded_org  text,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX benefit_measurements_benefit_idx ON benefit_measurements (benefit_id, id);

-- Measurements are append-only: a wrong value is corrected by a new measurement. (Only a
-- benefit without measurements may be deleted.)
CREATE FUNCTION benefit_measurements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'benefit measurements are append-only; record a correction instead';
END $$;
CREATE TRIGGER benefit_measurements_no_change BEFORE UPDATE OR DELETE ON benefit_measurements
    FOR EACH ROW EXECUTE FUNCTION benefit_measurements_append_only();

-- The tertial report's benefits section as CSV, frozen on publish like the rest.
ALTER TABLE tertial_reports ADD COLUMN published_benefits_csv bytea;
