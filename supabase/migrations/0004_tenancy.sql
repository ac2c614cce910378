-- Tenancy: central's web users (ops and merchant users) and Row Level Security policies that keep
-- each merchant's users to its own rows, whatever a query forgets to filter.
--
-- Who runs as what (docs/OPERATIONS.md, "Merchants"):
-- - the device API, ingest, enrollment, logins and the command line run as the role central
--   connects with, which owns the tables and so bypasses RLS (as Supabase's service_role does);
-- - every page a user sees runs as bitagora_web, with the user's claims set per transaction in
--   request.jwt.claims, as Supabase's PostgREST sets them (central/tenancy.py).

-- The claims of the request, read as Supabase's auth.jwt() reads them. Also defined, with the same
-- bodies, by the merchant catalog migration; CREATE OR REPLACE keeps either order working.
CREATE OR REPLACE FUNCTION bitagora_claims() RETURNS jsonb STABLE LANGUAGE sql AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb)
$$;
CREATE OR REPLACE FUNCTION bitagora_merchant_id() RETURNS bigint STABLE LANGUAGE sql AS $$
    SELECT (bitagora_claims() -> 'app_metadata' ->> 'merchant_id')::bigint
$$;
CREATE OR REPLACE FUNCTION bitagora_is_ops() RETURNS boolean STABLE LANGUAGE sql AS $$
    SELECT coalesce(bitagora_claims() -> 'app_metadata' ->> 'bitagora_role' = 'ops', false)
$$;

-- Roles belong to the whole cluster, not to one database: another database of the same server may
-- have made it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bitagora_web') THEN
        CREATE ROLE bitagora_web NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- a migration of another database created it at the same moment
END
$$;
-- On Supabase, its API roles get every table of "public" by default, the secret columns and the
-- device-sent rows included. Take that back: signed-in users (authenticated) get exactly
-- bitagora_web's rights and policies, anonymous callers (anon) nothing.
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = api_role) THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM %I',
                           api_role);
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', api_role);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        GRANT bitagora_web TO authenticated;
    END IF;
END
$$;
-- Central's own role switches to it for every page (SET LOCAL ROLE needs the membership).
GRANT bitagora_web TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO bitagora_web;
GRANT EXECUTE ON FUNCTION bitagora_claims(), bitagora_merchant_id(), bitagora_is_ops()
    TO bitagora_web;

-- The merchant's currency is a shop setting (merchant_settings, migration 0005).
ALTER TABLE merchants ADD COLUMN country text CHECK (country ~ '^[A-Z]{2}$');

-- Central's web users. Ops users see the whole fleet and have no merchant; a merchant's owners and
-- managers see only that merchant. The first-start ops user keeps its name, `admin`, as its
-- login. session_epoch grows at every deactivation and password reset: a session made before it
-- is refused at its next request.
CREATE TABLE web_users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CHECK (length(email) BETWEEN 1 AND 254),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('owner', 'manager', 'ops')),
    merchant_id   bigint REFERENCES merchants (id),
    active        boolean NOT NULL DEFAULT true,
    session_epoch integer NOT NULL DEFAULT 0,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'ops') = (merchant_id IS NULL))
);
CREATE UNIQUE INDEX web_users_email ON web_users (lower(email));
CREATE INDEX web_users_merchant ON web_users (merchant_id);
INSERT INTO web_users (email, password_hash, role, failed_logins, locked_until, created_at)
SELECT username, password_hash, 'ops', failed_logins, locked_until, created_at FROM ops_users;
DROP TABLE ops_users;
ALTER TABLE web_users ENABLE ROW LEVEL SECURITY;

-- Rows a device sent carry its merchant, so that a policy compares a column instead of joining
-- devices for every row; ingest writes it with the row (central/ingest.py).
DO $$
DECLARE
    device_table text;
BEGIN
    FOREACH device_table IN ARRAY
        ARRAY['journal_records', 'device_sales', 'device_catalogs', 'device_payouts'] LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN merchant_id bigint REFERENCES merchants (id)',
                       device_table);
        EXECUTE format('UPDATE %I AS t SET merchant_id = d.merchant_id FROM devices AS d'
                       ' WHERE d.device_id = t.device_id', device_table);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN merchant_id SET NOT NULL', device_table);
        EXECUTE format('CREATE INDEX %I ON %I (merchant_id)', device_table || '_merchant',
                       device_table);
    END LOOP;
END
$$;
CREATE INDEX devices_merchant ON devices (merchant_id);
CREATE INDEX enrollment_codes_merchant ON enrollment_codes (merchant_id);

-- The policies: ops see every row, a merchant's users their merchant's, anyone else nothing. The
-- grants decide what bitagora_web may do at all: what devices sent is read-only to every page.
CREATE POLICY merchants_own ON merchants TO bitagora_web
    USING (bitagora_is_ops() OR id = bitagora_merchant_id())
    WITH CHECK (bitagora_is_ops() OR id = bitagora_merchant_id());
DO $$
DECLARE
    owned text;
BEGIN
    FOREACH owned IN ARRAY ARRAY['devices', 'journal_records', 'device_sales', 'device_catalogs',
                                 'device_payouts', 'enrollment_codes'] LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO bitagora_web'
                       ' USING (bitagora_is_ops() OR merchant_id = bitagora_merchant_id())'
                       ' WITH CHECK (bitagora_is_ops() OR merchant_id = bitagora_merchant_id())',
                       owned || '_own', owned);
    END LOOP;
END
$$;
GRANT SELECT ON merchants, devices, journal_records, device_sales, device_catalogs, device_payouts,
    enrollment_codes TO bitagora_web;

-- Users: a merchant's users may list their merchant's users; only ops add, deactivate and reset.
-- No page ever reads a password hash: the column is not granted for reading.
CREATE POLICY web_users_read ON web_users FOR SELECT TO bitagora_web
    USING (bitagora_is_ops() OR merchant_id = bitagora_merchant_id());
CREATE POLICY web_users_ops_add ON web_users FOR INSERT TO bitagora_web
    WITH CHECK (bitagora_is_ops());
CREATE POLICY web_users_ops_change ON web_users FOR UPDATE TO bitagora_web
    USING (bitagora_is_ops()) WITH CHECK (bitagora_is_ops());
GRANT SELECT (id, email, role, merchant_id, active, session_epoch, failed_logins, locked_until,
              created_at) ON web_users TO bitagora_web;
GRANT INSERT (email, password_hash, role, merchant_id) ON web_users TO bitagora_web;
GRANT UPDATE (password_hash, active, session_epoch, failed_logins, locked_until) ON web_users
    TO bitagora_web;
-- Nonces, quarantined batches and schema_migrations: nothing granted, no page reads them.
