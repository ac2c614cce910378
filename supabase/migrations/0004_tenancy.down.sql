-- Undoes 0004_tenancy.sql. Ops users go back to ops_users (merchants' users have no place there
-- and are dropped); the merchant columns of device rows and the policies go. The role
-- bitagora_web stays: roles belong to the whole server, and other databases may use it. So do
-- the default privileges taken from Supabase's anon and authenticated roles.
CREATE TABLE ops_users (
    username        text PRIMARY KEY,
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);
INSERT INTO ops_users (username, password_hash, created_at, failed_logins, locked_until)
SELECT email, password_hash, created_at, failed_logins, locked_until FROM web_users
WHERE role = 'ops';
ALTER TABLE ops_users ENABLE ROW LEVEL SECURITY;
DROP TABLE web_users;

DROP POLICY merchants_own ON merchants;
DO $$
DECLARE
    owned text;
BEGIN
    FOREACH owned IN ARRAY ARRAY['devices', 'journal_records', 'device_sales', 'device_catalogs',
                                 'device_payouts', 'enrollment_codes'] LOOP
        EXECUTE format('DROP POLICY %I ON %I', owned || '_own', owned);
    END LOOP;
END
$$;
REVOKE ALL ON merchants, devices, journal_records, device_sales, device_catalogs, device_payouts,
    enrollment_codes FROM bitagora_web;
DROP INDEX devices_merchant, enrollment_codes_merchant;
ALTER TABLE journal_records DROP COLUMN merchant_id;
ALTER TABLE device_sales DROP COLUMN merchant_id;
ALTER TABLE device_catalogs DROP COLUMN merchant_id;
ALTER TABLE device_payouts DROP COLUMN merchant_id;
ALTER TABLE merchants DROP COLUMN country;

DROP FUNCTION bitagora_is_ops(), bitagora_merchant_id(), bitagora_claims();
REVOKE USAGE ON SCHEMA public FROM bitagora_web;
