DROP TABLE IF EXISTS tertial_reports;
DROP FUNCTION IF EXISTS tertial_reports_frozen();
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS measure_delivery_history;
DROP TABLE IF EXISTS delivery_batches;
DROP TABLE IF EXISTS measure_suppliers;
DROP TABLE IF EXISTS measures;
