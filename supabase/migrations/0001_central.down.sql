-- Undoes 0001_central.sql: every table of central's first schema, with all it holds. The
-- runner's own schema_migrations stays.
DROP TABLE ops_users, request_nonces, quarantined_batches, device_sales, journal_records, devices,
    enrollment_codes, merchants;
