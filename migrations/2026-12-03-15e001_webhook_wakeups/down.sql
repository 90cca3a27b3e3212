DROP TRIGGER webhook_subscriptions_wake ON webhook_subscriptions;
DROP TRIGGER webhook_cursors_wake ON webhook_cursors;
DROP TRIGGER webhook_jobs_wake ON webhook_jobs;
DROP TRIGGER events_wake_webhooks ON events;
DROP FUNCTION webhook_events_notify();
DROP FUNCTION webhook_work_notify();
