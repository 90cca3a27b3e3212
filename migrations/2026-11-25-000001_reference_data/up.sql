-- Reference data: the organisations of the regional ICT portfolio and the service areas per year.
-- The data ships with the product; see domain.md for the sources.

CREATE TABLE organisations (
    org_number   text PRIMARY KEY CHECK (org_number ~ '^[0-9]{9}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind         text NOT NULL CHECK (kind IN ('regional_health_authority', 'health_trust', 'it_partner', 'supplier')),
    -- The regional authority a trust or the IT partner belongs to.
    region_org_number text REFERENCES organisations (org_number),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organisations_kind_idx ON organisations (kind, name);

INSERT INTO organisations (org_number, name, kind, region_org_number) VALUES
    ('991324968', 'Helse Sør-Øst RHF', 'regional_health_authority', NULL),
    ('983658725', 'Helse Vest RHF', 'regional_health_authority', NULL),
    ('983658776', 'Helse Midt-Norge RHF', 'regional_health_authority', NULL),
    ('883658752', 'Helse Nord RHF', 'regional_health_authority', NULL),
    ('993467049', 'Oslo universitetssykehus HF', 'health_trust', '991324968'),
    ('983971636', 'Akershus universitetssykehus HF', 'health_trust', '991324968'),
    ('983971709', 'Sykehuset Innlandet HF', 'health_trust', '991324968'),
    ('983971768', 'Sykehuset Østfold HF', 'health_trust', '991324968'),
    ('894166762', 'Vestre Viken HF', 'health_trust', '991324968'),
    ('983975259', 'Sykehuset i Vestfold HF', 'health_trust', '991324968'),
    ('983975267', 'Sykehuset Telemark HF', 'health_trust', '991324968'),
    ('983975240', 'Sørlandet sykehus HF', 'health_trust', '991324968'),
    ('883971752', 'Sunnaas sykehus HF', 'health_trust', '991324968'),
    ('992281618', 'Sykehusapotekene HF', 'health_trust', '991324968'),
    ('914637651', 'Sykehuspartner HF', 'it_partner', '991324968');

CREATE TABLE service_areas (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    year        integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('clinical', 'administrative')),
    retired_at  timestamptz,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_areas_year_name_key UNIQUE (year, name)
);
CREATE INDEX service_areas_year_kind_idx ON service_areas (year, kind, name);

INSERT INTO service_areas (year, name, kind) VALUES
    (2023, 'Mor og barn', 'clinical'),
    (2023, 'Kurve, medikasjon og pasientmålinger', 'clinical'),
    (2023, 'Medikamentell kreftbehandling', 'clinical'),
    (2023, 'Laboratorievirksomhet', 'clinical'),
    (2023, 'Bildediagnostikk', 'clinical'),
    (2023, 'Pasientjournal og -administrasjon', 'clinical'),
    (2023, 'Ambulansejournal', 'clinical'),
    (2023, 'Data og analyse', 'clinical'),
    (2023, 'Felleskomponenter', 'clinical'),
    (2023, 'Interaksjon', 'clinical'),
    (2023, 'Somatisk behandling', 'clinical'),
    (2023, 'HR', 'administrative'),
    (2023, 'IT for IT', 'administrative'),
    (2023, 'Virksomhetsstyring og kvalitetsstøtte', 'administrative'),
    (2023, 'Økonomi, innkjøp og logistikk', 'administrative'),
    (2023, 'Digitalisering av arbeidsprosesser', 'administrative');
