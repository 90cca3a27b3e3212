DROP TABLE webhook_jobs;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_cursors;
DROP TABLE webhook_subscriptions;
