-- The merchant's back office pages (docs/OPERATIONS.md, "Merchants"): the products page finds a
-- product by barcode, sku or name and lists a category's products a page at a time at 50,000
-- products; an owner sets the shop's timezone, which the sales reports count days in.

-- The page's own conditions may use an index only where PostgreSQL knows an operator cannot leak
-- what a row policy hides (LEAKPROOF: equality of integers and text, not ILIKE nor array
-- containment), so the category filter has an index and a text search reads the merchant's rows
-- (tens of milliseconds at 50,000; docs/PERFORMANCE.md).
CREATE INDEX merchant_products_category ON merchant_products (merchant_id, category, sku);

-- Within the merchants_own policy: a merchant's user may change its own merchant's timezone only.
GRANT UPDATE (timezone) ON merchants TO bitagora_web;

-- The policies read the claims once per query, not once per row: a sub-select of a function
-- that does not depend on the row is run once (an InitPlan), as Supabase's guide on RLS
-- performance advises for auth.uid(). Parsing the claims' JSON for each of 50,000 products
-- cost hundreds of milliseconds a query; once per query it costs nothing.
DO $$
DECLARE
    t text;
    own text := '(SELECT bitagora_is_ops()) OR merchant_id = (SELECT bitagora_merchant_id())';
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
