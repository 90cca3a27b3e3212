ALTER TABLE benefits ALTER COLUMN id SET DEFAULT gen_random_uuid();
