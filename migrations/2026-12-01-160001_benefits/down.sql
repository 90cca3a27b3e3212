ALTER TABLE tertial_reports DROP COLUMN published_benefits_csv;
DROP TABLE benefit_measurements;
DROP FUNCTION benefit_measurements_append_only();
DROP TABLE benefits;
