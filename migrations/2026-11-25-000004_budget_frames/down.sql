DROP TABLE budget_frame_history;
DROP FUNCTION budget_frame_history_append_only();
DROP TABLE budget_allocations;
DROP TABLE budget_frames;
