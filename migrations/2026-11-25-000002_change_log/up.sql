-- The change log: an append-only, hash-chained audit trail and a change feed (outbox), both
-- written in the same transaction as the change they describe.

CREATE TABLE audit_log (
    id           bigint PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_subject text NOT NULL,
    actor_org    text,
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    request_id   text NOT NULL,
    -- sha256 over the previous entry's hash and this entry's content: editing or deleting
    -- any row breaks every later link.
    prev_hash    text NOT NULL,
    hash         text NOT NULL
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, id);

-- Append-only, whatever role the application connects as.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The change feed. Writers serialise on one advisory lock while they append (see
-- changes.rs), so `seq` order is commit order and a consumer following the cursor never
-- misses a change that commits later with a smaller number.
CREATE TABLE events (
    seq          bigint PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    action       text NOT NULL,
    version      integer,
    actor_subject text NOT NULL,
    actor_org    text
);
CREATE INDEX events_entity_type_idx ON events (entity_type, seq);
