-- Undoes 0003_device_catalogs.sql; the `catalog` records stay in the journals.
DROP TABLE device_catalogs;
