-- Board decisions, the concept studies they start, the concepts those yield, and the selection
-- scenarios a decision case can cite. Studies and concepts are created only by a decision.

-- A stored, immutable answer to "which accepted needs give the most priority for this budget".
CREATE TABLE selection_scenarios (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cycle_year    integer NOT NULL CHECK (cycle_year BETWEEN 2000 AND 2100),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    budget_nok    bigint NOT NULL CHECK (budget_nok >= 0),
    -- Where the budget came from: `request` or `frame` (the year's concept-study frame).
    budget_source text NOT NULL CHECK (budget_source IN ('request', 'frame')),
    -- The whole problem and its answers (as given and as solved); never changes.
    problem       jsonb NOT NULL,
    result        jsonb NOT NULL,
    solve_micros  bigint NOT NULL,
    created_by    text NOT NULL,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX selection_scenarios_year_idx ON selection_scenarios (cycle_year, created_at, id);

CREATE FUNCTION selection_scenarios_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'selection scenarios are immutable';
END $$;
CREATE TRIGGER selection_scenarios_no_update BEFORE UPDATE OR DELETE ON selection_scenarios
    FOR EACH ROW EXECUTE FUNCTION selection_scenarios_immutable();

CREATE TABLE decision_cases (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    meeting_date      date NOT NULL,
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    background        text NOT NULL CHECK (length(background) <= 10000),
    scenario_id       uuid REFERENCES selection_scenarios (id),
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'decided')),
    rationale         text,
    minutes_reference text,
    decided_at        timestamptz,
    decided_by        text,
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT decision_cases_decided_complete CHECK (
        (status = 'draft' AND decided_at IS NULL)
        OR (status = 'decided' AND decided_at IS NOT NULL AND rationale IS NOT NULL AND minutes_reference IS NOT NULL))
);
CREATE INDEX decision_cases_meeting_idx ON decision_cases (meeting_date, id);
CREATE INDEX decision_cases_status_idx ON decision_cases (status, meeting_date, id);

CREATE TABLE decision_items (
    case_id       uuid NOT NULL REFERENCES decision_cases (id),
    position      integer NOT NULL CHECK (position >= 0),
    kind          text NOT NULL CHECK (kind IN ('start_study', 'pause_study', 'resume_study', 'cancel_study',
                                               'record_concept', 'change_concept_status', 'defer_need', 'decline_need')),
    -- The need, study or concept acted on.
    target_id     uuid NOT NULL,
    -- The item as proposed (kind-specific fields).
    proposal      jsonb NOT NULL,
    outcome       text CHECK (outcome IN ('approved', 'rejected', 'amended')),
    amended_budget_nok bigint CHECK (amended_budget_nok > 0),
    outcome_note  text,
    -- The study or concept the item created, once decided.
    created_id    uuid,
    PRIMARY KEY (case_id, position)
);
CREATE INDEX decision_items_target_idx ON decision_items (target_id);

CREATE TABLE concept_studies (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    need_id           uuid NOT NULL REFERENCES needs (id),
    cycle_year        integer NOT NULL,
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    responsible_org   text NOT NULL REFERENCES organisations (org_number),
    interregional     boolean NOT NULL DEFAULT false,
    -- The regional authorities an interregional study is run on behalf of.
    on_behalf_of      text[] NOT NULL DEFAULT '{}',
    frame_id          uuid NOT NULL REFERENCES budget_frames (id),
    allocation_id     uuid NOT NULL UNIQUE REFERENCES budget_allocations (id),
    allocated_nok     bigint NOT NULL CHECK (allocated_nok > 0),
    spent_nok         bigint NOT NULL DEFAULT 0,
    status            text NOT NULL DEFAULT 'not_started'
                      CHECK (status IN ('not_started', 'in_progress', 'paused', 'completed', 'cancelled')),
    expected_from     date,
    expected_to       date,
    expected_label    text,
    decision_case_id  uuid NOT NULL REFERENCES decision_cases (id),
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT concept_studies_one_per_need UNIQUE (need_id),
    CONSTRAINT concept_studies_spent_within_allocated CHECK (spent_nok >= 0 AND spent_nok <= allocated_nok),
    CONSTRAINT concept_studies_expected_range CHECK (expected_from IS NULL OR expected_to IS NULL OR expected_from <= expected_to),
    CONSTRAINT concept_studies_interregional CHECK (interregional OR cardinality(on_behalf_of) = 0)
);
CREATE INDEX concept_studies_year_idx ON concept_studies (cycle_year, created_at, id);
CREATE INDEX concept_studies_status_idx ON concept_studies (status, cycle_year);
CREATE INDEX concept_studies_interregional_idx ON concept_studies (interregional, cycle_year);

CREATE TABLE concepts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    study_id          uuid NOT NULL REFERENCES concept_studies (id),
    need_id           uuid NOT NULL REFERENCES needs (id),
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'realised', 'discontinued')),
    decision_case_id  uuid NOT NULL REFERENCES decision_cases (id),
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT concepts_one_per_study UNIQUE (study_id)
);
CREATE INDEX concepts_status_idx ON concepts (status, created_at, id);
CREATE INDEX concepts_need_idx ON concepts (need_id);
CREATE INDEX concepts_list_idx ON concepts (created_at, id);
