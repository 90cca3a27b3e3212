-- GET /api/v1/needs?year&status=accepted&limit=25: one keyset page (25 rows + 1 to know
-- whether there is a next page), the columns of the need representation.
SELECT id, cycle_year, seq, reference, title, description, expected_benefit, origin,
       organisation_number, service_area_id, estimated_study_cost_nok, contact_name,
       contact_email, status, assessment_reason, screening, assessed_at, assessed_by,
       reported_by, version, created_at, updated_at
FROM needs WHERE cycle_year = :year AND status = 'accepted'
ORDER BY cycle_year, seq LIMIT 26;
