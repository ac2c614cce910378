-- Undoes 0005_merchant_catalog.sql. The merchants' catalogs, settings and staff go with it:
-- export catalogs first (bitagora central catalog export) if they are to be imported again.
DROP TABLE merchant_config_documents, merchant_config, merchant_staff, merchant_settings,
    merchant_products;
