-- Signed checkpoints of the audit chain: the head's sequence number and hash, the time and the
-- key id, signed with the audit key (which is not in the database). A reader who kept one
-- detects a removed tail or a rewritten chain later. Append-only, like the audit trail.
CREATE TABLE audit_checkpoints (
    id BIGSERIAL PRIMARY KEY,
    seq BIGINT NOT NULL CHECK (seq >= 0),
    head_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_seq_idx ON audit_checkpoints (seq);

CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only';
END $$;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only();

-- The serving role appends and reads, nothing else (the default privileges granted more).
REVOKE ALL ON audit_checkpoints FROM portfolio_app;
GRANT SELECT, INSERT ON audit_checkpoints TO portfolio_app;
GRANT USAGE, SELECT ON SEQUENCE audit_checkpoints_id_seq TO portfolio_app;
