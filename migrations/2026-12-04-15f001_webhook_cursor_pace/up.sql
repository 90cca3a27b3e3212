-- How long the subscription's receiver took at its last claim (its slowest attempt then). The
-- delivery worker serves several subscriptions in one claim only while each of them answers
-- quickly and without failures; a slow or failing receiver is claimed alone, so it cannot
-- hold up the deliveries to the others (crates/portfolio-api/src/webhooks/claim.rs).
ALTER TABLE webhook_cursors ADD COLUMN last_duration_ms integer NOT NULL DEFAULT 0;
