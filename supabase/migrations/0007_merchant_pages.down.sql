-- Undoes 0007_merchant_pages.sql: the policies read the claims per row again, the timezone is
-- the owner's (central's) to change, and the category index goes.
DO $$
DECLARE
    t text;
    own text := 'bitagora_is_ops() OR merchant_id = bitagora_merchant_id()';
BEGIN
    FOREACH t IN ARRAY ARRAY['devices', 'journal_records', 'device_sales', 'device_catalogs',
                             'device_payouts', 'enrollment_codes', 'merchant_products',
                             'merchant_settings', 'merchant_staff', 'merchant_config',
                             'merchant_config_documents'] LOOP
        EXECUTE format('ALTER POLICY %I ON %I USING (%s) WITH CHECK (%s)', t || '_own', t, own,
                       own);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['ledger_entries', 'ledger_lines', 'ledger_payments',
                             'z_closings'] LOOP
        EXECUTE format('ALTER POLICY %I ON %I USING (%s)', t || '_own', t, own);
    END LOOP;
END
$$;
REVOKE UPDATE (timezone) ON merchants FROM bitagora_web;
DROP INDEX merchant_products_category;
