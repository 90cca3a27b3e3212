CREATE TABLE idempotency_keys (
    caller_subject  text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    status          integer NOT NULL,
    headers         jsonb NOT NULL DEFAULT '[]',
    body            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller_subject, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
