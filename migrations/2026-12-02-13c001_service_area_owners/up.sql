-- Each service area's regional system owner (systemeier) and system responsible
-- (systemansvarlig): an organisation and a role or person name. They handle the area's needs
-- and forward them to the portfolio; a need records which of them forwarded it, as that party
-- was at the time (a later change of owner does not rewrite history).

ALTER TABLE service_areas
    ADD COLUMN system_owner_org text REFERENCES organisations (org_number),
    ADD COLUMN system_owner_name text CHECK (length(system_owner_name) BETWEEN 1 AND 200),
    ADD COLUMN system_responsible_org text REFERENCES organisations (org_number),
    ADD COLUMN system_responsible_name text CHECK (length(system_responsible_name) BETWEEN 1 AND 200),
    ADD CONSTRAINT service_areas_system_owner_complete
        CHECK ((system_owner_org IS NULL) = (system_owner_name IS NULL)),
    ADD CONSTRAINT service_areas_system_responsible_complete
        CHECK ((system_responsible_org IS NULL) = (system_responsible_name IS NULL));

ALTER TABLE needs
    ADD COLUMN forwarded_by_role text CHECK (forwarded_by_role IN ('system_owner', 'system_responsible')),
    ADD COLUMN forwarded_by_org text REFERENCES organisations (org_number),
    ADD COLUMN forwarded_by_name text CHECK (length(forwarded_by_name) BETWEEN 1 AND 200),
    ADD CONSTRAINT needs_forwarded_by_complete CHECK (
        (forwarded_by_role IS NULL AND forwarded_by_org IS NULL AND forwarded_by_name IS NULL)
        OR (forwarded_by_role IS NOT NULL AND forwarded_by_org IS NOT NULL
            AND forwarded_by_name IS NOT NULL AND service_area_id IS NOT NULL));

-- The need list's service-area filter is served by needs_service_area_idx (service_area_id,
-- cycle_year, seq); nothing filters on the new columns.
