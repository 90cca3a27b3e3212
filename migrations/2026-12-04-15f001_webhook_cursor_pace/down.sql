ALTER TABLE webhook_cursors DROP COLUMN last_duration_ms;
