-- New identifiers come from one function. Inside a transaction that sets
-- `portfolio.id_seed` (the demo loader does), they are derived from the seed and a counter, so
-- `serve --demo` gives every resource the same id on every machine and the contract's examples
-- can name them; everywhere else they stay random, as before.
CREATE FUNCTION portfolio_new_id() RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    seed text := current_setting('portfolio.id_seed', true);
    n bigint;
BEGIN
    IF seed IS NULL OR seed = '' THEN
        RETURN gen_random_uuid();
    END IF;
    n := coalesce(nullif(current_setting('portfolio.id_counter', true), '')::bigint, 0) + 1;
    PERFORM set_config('portfolio.id_counter', n::text, true);
    RETURN md5(seed || ':' || n)::uuid;
END $$;

ALTER TABLE service_areas ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE needs ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE budget_frames ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE budget_allocations ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE measures ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE delivery_batches ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE tertial_reports ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE selection_scenarios ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE decision_cases ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE concept_studies ALTER COLUMN id SET DEFAULT portfolio_new_id();
ALTER TABLE concepts ALTER COLUMN id SET DEFAULT portfolio_new_id();
