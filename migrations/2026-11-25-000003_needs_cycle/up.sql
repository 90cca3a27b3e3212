-- The yearly needs cycle: cycles and their phases, criteria sets, needs (behov) with their
-- first assessment, the trusts' score sheets, and the frozen ranking of a closed round.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE cycles (
    year         integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 2100),
    phase        text NOT NULL DEFAULT 'intake'
                 CHECK (phase IN ('intake', 'first_assessment', 'prioritisation', 'decided')),
    -- The last need sequence number handed out for this year. Creating a need increments it
    -- with a row lock in the same transaction, so references are gap-free and unique.
    last_need_seq integer NOT NULL DEFAULT 0 CHECK (last_need_seq >= 0),
    -- Closing prioritisation freezes the round: the ranking and every score sheet as they
    -- stood, served unchanged from then on.
    prioritisation_closed_at timestamptz,
    prioritisation_closed_by text,
    ranking_snapshot jsonb,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((prioritisation_closed_at IS NULL) = (ranking_snapshot IS NULL))
);

-- Every phase change, with who and when.
CREATE TABLE cycle_phase_changes (
    id           bigserial PRIMARY KEY,
    cycle_year   integer NOT NULL REFERENCES cycles (year),
    from_phase   text,
    to_phase     text NOT NULL,
    changed_by   text NOT NULL,
    changed_by_org text,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cycle_phase_changes_year_idx ON cycle_phase_changes (cycle_year, id);

-- One criteria set per cycle. Draft: replaced freely; adopted: frozen.
CREATE TABLE criteria_sets (
    cycle_year   integer PRIMARY KEY REFERENCES cycles (year),
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'adopted')),
    -- The criteria as a JSON array of portfolio_domain::criteria::Criterion.
    criteria     jsonb NOT NULL DEFAULT '[]'::jsonb,
    adopted_at   timestamptz,
    adopted_by   text,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE needs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cycle_year   integer NOT NULL REFERENCES cycles (year),
    seq          integer NOT NULL CHECK (seq >= 1),
    reference    text NOT NULL UNIQUE,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  text NOT NULL,
    expected_benefit text NOT NULL,
    origin       text NOT NULL
                 CHECK (origin IN ('professional_community', 'users', 'supplier', 'regulatory_requirement')),
    organisation_number text NOT NULL REFERENCES organisations (org_number),
    service_area_id uuid REFERENCES service_areas (id),
    estimated_study_cost_nok bigint NOT NULL CHECK (estimated_study_cost_nok >= 0),
    contact_name  text,
    contact_email text,
    -- portfolio_domain::need::NeedStatus wire names.
    status       text NOT NULL DEFAULT 'submitted'
                 CHECK (status IN ('submitted', 'accepted', 'rejected', 'withdrawn',
                                   'deferred', 'declined', 'study_started')),
    -- The first assessment: decision reason (mandatory for rejection) and screening results.
    assessment_reason text,
    screening    jsonb,
    assessed_at  timestamptz,
    assessed_by  text,
    reported_by  text NOT NULL,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT needs_year_seq_key UNIQUE (cycle_year, seq)
);
-- Filters of the list (the unique (cycle_year, seq) index serves the year filter and the order).
CREATE INDEX needs_status_idx ON needs (status, cycle_year, seq);
CREATE INDEX needs_origin_idx ON needs (origin, cycle_year, seq);
CREATE INDEX needs_organisation_idx ON needs (organisation_number, cycle_year, seq);
CREATE INDEX needs_service_area_idx ON needs (service_area_id, cycle_year, seq);
CREATE INDEX needs_text_trgm_idx ON needs
    USING gin ((title || ' ' || description || ' ' || expected_benefit) gin_trgm_ops);

-- One health trust's score sheet for one need: criterion code -> scale value.
CREATE TABLE need_scores (
    need_id      uuid NOT NULL REFERENCES needs (id),
    org_number   text NOT NULL REFERENCES organisations (org_number),
    cycle_year   integer NOT NULL REFERENCES cycles (year),
    scores       jsonb NOT NULL,
    comment      text,
    scored_by    text NOT NULL,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (need_id, org_number)
);
CREATE INDEX need_scores_year_idx ON need_scores (cycle_year);
