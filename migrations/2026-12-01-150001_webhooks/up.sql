-- Webhooks: subscriptions to the change feed, one delivery cursor per subscription, the log of
-- delivery attempts, and one-off jobs (pings, redeliveries). See docs/INTEGRATING.md.

CREATE TABLE webhook_subscriptions (
    id              uuid PRIMARY KEY,
    -- The organisation that owns it; only its callers see it.
    org_number      text NOT NULL,
    url             text NOT NULL,
    -- Empty: every entity type.
    entity_types    text[] NOT NULL DEFAULT '{}',
    description     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    -- `whsec_…`; kept readable because HMAC signing needs the key itself.
    secret          text NOT NULL,
    -- After a rotation the old secret signs too, until it expires.
    previous_secret text,
    previous_secret_expires_at timestamptz,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_org_idx ON webhook_subscriptions (org_number, id);

-- Delivery state, apart from the subscription so that the worker's row lock (held while it
-- talks to the receiver) never blocks an edit of the subscription.
CREATE TABLE webhook_cursors (
    subscription_id uuid PRIMARY KEY REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The last feed `seq` this subscription is done with (delivered, refused or filtered out).
    delivered_seq   bigint NOT NULL,
    -- Failed attempts so far on the event after `delivered_seq`.
    failed_attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_cursors_due_idx ON webhook_cursors (next_attempt_at);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- NULL for a ping.
    event_seq       bigint,
    webhook_id      text NOT NULL,
    -- `feed`, `redelivery` or `ping`.
    kind            text NOT NULL,
    attempt         integer NOT NULL,
    attempted_at    timestamptz NOT NULL,
    duration_ms     integer NOT NULL,
    http_status     integer,
    error           text,
    -- `delivered`, `retrying`, `failed` or `gave_up`.
    outcome         text NOT NULL
);
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription_id, id);

-- One-off deliveries asked for through the API; a worker takes each once.
CREATE TABLE webhook_jobs (
    id              bigserial PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- NULL: a ping.
    event_seq       bigint,
    requested_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_jobs_subscription_idx ON webhook_jobs (subscription_id);
