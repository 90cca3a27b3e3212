-- Idempotency keys for every POST (see idempotency.rs): the key row is claimed in its own
-- committed statement before the handler runs, so concurrent retries of one request find it
-- and never run the work twice; the first answer is stored and replayed. Kept at least 24 h.
CREATE TABLE idempotent_requests (
    -- The token's subject and the caller's organisation: keys are scoped per caller.
    caller        text NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- sha256 over method, path and body.
    request_hash  text NOT NULL,
    state         text NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'done')),
    status        integer,
    -- [[name, value], ...] of the headers replayed (content-type, location, etag).
    headers       jsonb NOT NULL DEFAULT '[]',
    body          bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotent_requests_created_idx ON idempotent_requests (created_at);
