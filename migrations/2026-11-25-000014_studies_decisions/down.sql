DROP TABLE concepts;
DROP TABLE concept_studies;
DROP TABLE decision_items;
DROP TABLE decision_cases;
DROP TABLE selection_scenarios;
DROP FUNCTION selection_scenarios_immutable();
