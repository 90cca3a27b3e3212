-- Robustness certificates: frozen with a decision case when the board decides it, never
-- changed afterwards (the trigger refuses UPDATE and DELETE).
CREATE TABLE decision_certificates (
    case_id uuid PRIMARY KEY REFERENCES decision_cases (id),
    inputs_hash text NOT NULL CHECK (inputs_hash ~ '^[0-9a-f]{64}$'),
    certificate jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION decision_certificates_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decision certificates are immutable';
END
$$;

CREATE TRIGGER decision_certificates_no_change
    BEFORE UPDATE OR DELETE ON decision_certificates
    FOR EACH ROW EXECUTE FUNCTION decision_certificates_immutable();
