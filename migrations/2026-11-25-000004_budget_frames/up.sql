-- Budget frames: the yearly money of one sub-portfolio, the allocations made against it, and
-- the history of every change. The invariant 0 ≤ spent ≤ allocated ≤ amount is a CHECK on the
-- frame row, so no code path (nor any concurrency) can overbook a frame: writers also lock the
-- frame row (SELECT ... FOR UPDATE) before they change its allocations.

CREATE TABLE budget_frames (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    year           integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    sub_portfolio  text NOT NULL CHECK (sub_portfolio IN ('concept_studies', 'interregional', 'improvement', 'other')),
    amount_nok     bigint NOT NULL CHECK (amount_nok >= 0),
    -- Sum of the allocations' amounts; kept by the writers under the frame's row lock.
    allocated_nok  bigint NOT NULL DEFAULT 0,
    -- Sum of the allocations' spent amounts.
    spent_nok      bigint NOT NULL DEFAULT 0,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budget_frames_year_sub_portfolio_key UNIQUE (year, sub_portfolio),
    CONSTRAINT budget_frames_allocated_within_amount CHECK (allocated_nok >= 0 AND allocated_nok <= amount_nok),
    CONSTRAINT budget_frames_spent_within_allocated CHECK (spent_nok >= 0 AND spent_nok <= allocated_nok)
);
CREATE INDEX budget_frames_sub_portfolio_idx ON budget_frames (sub_portfolio, year);

CREATE TABLE budget_allocations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    frame_id       uuid NOT NULL REFERENCES budget_frames (id),
    -- `direct`: made over HTTP by the portfolio office; `study`: a concept study's budget,
    -- made by a board decision and released only by one.
    kind           text NOT NULL DEFAULT 'direct' CHECK (kind IN ('direct', 'study')),
    -- The amount held now (after a release: what was spent).
    amount_nok     bigint NOT NULL CHECK (amount_nok >= 0),
    -- The amount first allocated.
    original_nok   bigint NOT NULL CHECK (original_nok > 0),
    spent_nok      bigint NOT NULL DEFAULT 0,
    purpose        text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 2000),
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'released')),
    released_at    timestamptz,
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budget_allocations_spent_within_amount CHECK (spent_nok >= 0 AND spent_nok <= amount_nok),
    CONSTRAINT budget_allocations_amount_within_original CHECK (amount_nok <= original_nok)
);
CREATE INDEX budget_allocations_frame_idx ON budget_allocations (frame_id, created_at, id);

-- Who changed a frame or one of its allocations, when and why, with the frame's numbers after
-- the change. Append-only.
CREATE TABLE budget_frame_history (
    id             bigserial PRIMARY KEY,
    frame_id       uuid NOT NULL REFERENCES budget_frames (id),
    allocation_id  uuid REFERENCES budget_allocations (id),
    occurred_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_subject  text NOT NULL,
    actor_org      text,
    request_id     text NOT NULL,
    action         text NOT NULL CHECK (action IN ('created', 'amount_changed', 'allocated', 'released', 'spent')),
    -- The change in NOK (amount for `created`/`amount_changed`, allocated for
    -- `allocated`/`released`, spent for `spent`).
    delta_nok      bigint NOT NULL,
    amount_nok     bigint NOT NULL,
    allocated_nok  bigint NOT NULL,
    spent_nok      bigint NOT NULL,
    reason         text NOT NULL
);
CREATE INDEX budget_frame_history_frame_idx ON budget_frame_history (frame_id, id);

CREATE FUNCTION budget_frame_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'budget_frame_history is append-only';
END $$;
CREATE TRIGGER budget_frame_history_no_update BEFORE UPDATE OR DELETE ON budget_frame_history
    FOR EACH ROW EXECUTE FUNCTION budget_frame_history_append_only();
