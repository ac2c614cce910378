-- Undoes 0006_sales_ledger.sql: the ledger is kept from the journals, which stay; applying 0006
-- again marks every device for catch-up, and central rebuilds the ledger at its next start.
DROP TABLE ledger_catch_up, z_closings, ledger_payments, ledger_lines, ledger_entries;
ALTER TABLE merchants DROP COLUMN timezone;
