-- One idempotency mechanism for every POST (idempotency.rs, table idempotent_requests):
-- the delivery-status batch endpoint's own key table is no longer used.
DROP TABLE IF EXISTS idempotency_keys;
