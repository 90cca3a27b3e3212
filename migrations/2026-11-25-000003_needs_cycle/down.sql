DROP TABLE need_scores;
DROP TABLE needs;
DROP TABLE criteria_sets;
DROP TABLE cycle_phase_changes;
DROP TABLE cycles;
