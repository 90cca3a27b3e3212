-- The improvement portfolio: measures (tiltak) with their suppliers, delivery status and its
-- history, delivery-status sync batches from the IT partner, idempotency keys, and tertial
-- reports.

CREATE TABLE measures (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description        text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    service_area_id    uuid NOT NULL REFERENCES service_areas (id),
    origin             text NOT NULL CHECK (origin IN ('professional_community', 'users', 'supplier', 'regulatory_requirement')),
    system_owner       text NOT NULL CHECK (length(system_owner) BETWEEN 1 AND 200),
    system_responsible text NOT NULL CHECK (length(system_responsible) BETWEEN 1 AND 200),
    -- The IT partner's own reference; the sync is keyed by it.
    partner_reference  text NOT NULL CHECK (length(partner_reference) BETWEEN 1 AND 100),
    status             text NOT NULL DEFAULT 'proposed'
                       CHECK (status IN ('proposed', 'planned', 'in_delivery', 'on_hold', 'delivered', 'cancelled')),
    -- The current delivery status (all NULL until the first report).
    progress           smallint CHECK (progress BETWEEN 0 AND 100),
    rag                text CHECK (rag IN ('green', 'yellow', 'red')),
    forecast_date      date,
    milestones         jsonb,
    delivery_comment   text,
    reported_by        text,
    source_timestamp   timestamptz,
    delivery_updated_at timestamptz,
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT measures_partner_reference_key UNIQUE (partner_reference)
);
-- Lists are ordered by partner_reference (unique); one index per filter.
CREATE INDEX measures_service_area_idx ON measures (service_area_id, partner_reference);
CREATE INDEX measures_status_idx ON measures (status, partner_reference);
CREATE INDEX measures_rag_idx ON measures (rag, partner_reference);

CREATE TABLE measure_suppliers (
    measure_id  uuid NOT NULL REFERENCES measures (id) ON DELETE CASCADE,
    org_number  text NOT NULL REFERENCES organisations (org_number),
    PRIMARY KEY (measure_id, org_number)
);
CREATE INDEX measure_suppliers_org_idx ON measure_suppliers (org_number, measure_id);

CREATE TABLE delivery_batches (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    submitted_by    text NOT NULL,
    submitted_org   text,
    submitted_at    timestamptz NOT NULL DEFAULT now(),
    item_count      integer NOT NULL,
    applied_count   integer NOT NULL,
    unchanged_count integer NOT NULL,
    stale_count     integer NOT NULL,
    -- Per item: [{"index", "reference", "measure_id", "outcome"}], in request order.
    results         jsonb NOT NULL
);
CREATE INDEX delivery_batches_submitted_idx ON delivery_batches (submitted_at, id);

CREATE TABLE measure_delivery_history (
    id               bigserial PRIMARY KEY,
    measure_id       uuid NOT NULL REFERENCES measures (id) ON DELETE CASCADE,
    progress         smallint NOT NULL CHECK (progress BETWEEN 0 AND 100),
    rag              text NOT NULL CHECK (rag IN ('green', 'yellow', 'red')),
    forecast_date    date,
    milestones       jsonb NOT NULL,
    comment          text,
    reported_by      text NOT NULL,
    source_timestamp timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    batch_id         uuid REFERENCES delivery_batches (id)
);
CREATE INDEX measure_delivery_history_measure_idx ON measure_delivery_history (measure_id, id);

-- Idempotency keys: the first answer to (caller, key) is replayed for a retry with the same
-- body; the same key with another body is refused.
CREATE TABLE idempotency_keys (
    caller_subject  text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    status          integer NOT NULL,
    headers         jsonb NOT NULL DEFAULT '[]',
    body            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller_subject, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE tertial_reports (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    year            integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    tertial         smallint NOT NULL CHECK (tertial BETWEEN 1 AND 3),
    status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    -- What the draft captured (regenerated on refresh; frozen on publish).
    content         jsonb NOT NULL,
    captured_at     timestamptz NOT NULL,
    -- The representations as published, served byte for byte from then on.
    published_json  bytea,
    published_csv   bytea,
    published_at    timestamptz,
    published_by    text,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tertial_reports_year_tertial_key UNIQUE (year, tertial),
    CONSTRAINT tertial_reports_published_frozen CHECK (
        status = 'draft' OR (published_json IS NOT NULL AND published_csv IS NOT NULL AND published_at IS NOT NULL))
);
CREATE INDEX tertial_reports_status_idx ON tertial_reports (status, year, tertial);

-- A published report never changes, whatever role the application connects as.
CREATE FUNCTION tertial_reports_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'published' THEN
        RAISE EXCEPTION 'tertial report % is published and frozen', OLD.id;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER tertial_reports_no_change BEFORE UPDATE OR DELETE ON tertial_reports
    FOR EACH ROW EXECUTE FUNCTION tertial_reports_frozen();
