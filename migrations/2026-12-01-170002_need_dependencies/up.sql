-- Issue 17 point 4: what a need costs the IT partner (person-months a year) and how needs
-- depend on each other, so selection scenarios can respect capacity and dependencies.
ALTER TABLE needs
    ADD COLUMN estimated_capacity_person_months bigint
        CHECK (estimated_capacity_person_months >= 0);

CREATE TABLE need_dependencies (
    need_id uuid NOT NULL REFERENCES needs (id),
    other_need_id uuid NOT NULL REFERENCES needs (id),
    kind text NOT NULL CHECK (kind IN ('requires', 'excludes')),
    PRIMARY KEY (need_id, other_need_id),
    CHECK (need_id <> other_need_id)
);

-- Deleting or checking a need looks up who depends on it.
CREATE INDEX need_dependencies_other_need_id ON need_dependencies (other_need_id);
