-- Undoes 0020_cash_rounding.sql.
ALTER TABLE ledger_entries DROP COLUMN rounding;
ALTER TABLE merchant_settings DROP COLUMN cash_rounding;
