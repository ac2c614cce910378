-- Undoes 0002_payouts.sql; applying it again rebuilds the pending refunds from the journals, but
-- not which of them were paid until those devices' `payout` records arrive again.
DROP TABLE device_payouts;
