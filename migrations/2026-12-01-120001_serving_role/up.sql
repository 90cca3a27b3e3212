-- Least privilege: the server serves as `portfolio_app` (or a login role that is a member of
-- it), which is not a superuser and owns nothing. The schema owner runs these migrations.
-- The serving role may read and write ordinary tables, but on the audit trail and the change
-- feed it may only append and read; TRUNCATE is granted nowhere. Being neither owner nor
-- superuser, it can neither disable the append-only triggers nor set
-- `session_replication_role`.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portfolio_app') THEN
        CREATE ROLE portfolio_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO portfolio_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO portfolio_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO portfolio_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, events FROM portfolio_app;
REVOKE ALL ON __diesel_schema_migrations FROM portfolio_app;
GRANT SELECT ON __diesel_schema_migrations TO portfolio_app;

-- Tables later migrations create get the same grants; append-only ones revoke again.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO portfolio_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO portfolio_app;
