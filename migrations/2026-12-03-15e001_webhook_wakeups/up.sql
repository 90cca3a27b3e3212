-- Wake the webhook delivery threads when there is work, instead of having them poll: every
-- replica LISTENs on `webhook_work` (crates/portfolio-api/src/webhooks/wakeup.rs).
-- PostgreSQL delivers a notification when the notifying transaction commits (never before,
-- never on rollback), so a woken worker sees the new rows; the notifications of one
-- transaction are folded into one. Statement-level: a 10,000-event batch notifies once.
CREATE FUNCTION webhook_work_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webhook_work', '');
    RETURN NULL;
END
$$;

-- New feed events, when someone subscribes: without an enabled subscription a commit wakes
-- nobody (the check reads a table of a few rows, once per statement).
CREATE FUNCTION webhook_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_subscriptions WHERE enabled) THEN
        PERFORM pg_notify('webhook_work', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_wake_webhooks AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_notify();
-- Pings and redeliveries.
CREATE TRIGGER webhook_jobs_wake AFTER INSERT ON webhook_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_work_notify();
-- A new subscription may start from an earlier point of the feed.
CREATE TRIGGER webhook_cursors_wake AFTER INSERT ON webhook_cursors
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_work_notify();
-- A subscription enabled again (or pointed elsewhere) may have events waiting.
CREATE TRIGGER webhook_subscriptions_wake AFTER UPDATE ON webhook_subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_work_notify();
