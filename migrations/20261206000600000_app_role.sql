-- Up Migration
-- Least privilege: migrations run as the database owner; the worker, the CLI and the API
-- connect as a login role that is a member of txmgr_app, which may read and write rows but
-- never change the schema (no CREATE, ALTER, DROP or TRUNCATE), e.g.
--   CREATE ROLE txmgr_worker LOGIN PASSWORD '...' IN ROLE txmgr_app;
-- Roles are cluster-wide, so the role is made only when missing (several databases of one
-- cluster, migrated concurrently, may race to create it).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'txmgr_app') THEN
    CREATE ROLE txmgr_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO txmgr_app', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO txmgr_app;
REVOKE CREATE ON SCHEMA public FROM txmgr_app;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO txmgr_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO txmgr_app;
-- The only rows the application deletes: an operator's removal from the deny list.
GRANT DELETE ON compliance_deny_list TO txmgr_app;
-- Tables and sequences later migrations create (as this same owner) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO txmgr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO txmgr_app;

-- Down Migration
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM txmgr_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE ON TABLES FROM txmgr_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM txmgr_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM txmgr_app;
REVOKE USAGE ON SCHEMA public FROM txmgr_app;
DO $$
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM txmgr_app', current_database());
END
$$;
