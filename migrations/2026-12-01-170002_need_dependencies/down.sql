DROP TABLE need_dependencies;
ALTER TABLE needs DROP COLUMN estimated_capacity_person_months;
