-- The login role the API serves as: no superuser, owns nothing. The migrations (run as the
-- schema owner `portfolio`) grant it its privileges. Change the password outside development.
CREATE ROLE portfolio_app LOGIN PASSWORD 'portfolio_app'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
