-- The shop's language (receipts, reports and the tills' screens) and each staff member's own
-- screen language, sent to the devices in the configuration document (docs/PROTOCOL.md 2.6).
-- NULL: not set (a device then speaks its own device.language; a person, the shop's). The form
-- is a device catalog's name (es, pt_BR); which ones exist is bitagora_protocol's to say, so a
-- new language needs no migration. The merchant's pages write these columns under the
-- policies of migration 0005, like every other column of these tables.
ALTER TABLE merchant_settings ADD COLUMN language text CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$');
ALTER TABLE merchant_staff ADD COLUMN language text CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$');
