-- Cash rounding (docs/PROTOCOL.md 1.4 and 2.6).
-- The shop's cash rounding increment in minor units (5: cash due rounded to 0.05), sent to the
-- tills in the configuration document; NULL: not set here, each till keeps its own setting.
ALTER TABLE merchant_settings
    ADD COLUMN cash_rounding integer CHECK (cash_rounding BETWEEN 1 AND 1000);
-- A sale's cash rounding (its record's ``rounding``): its payments add up to total + rounding.
ALTER TABLE ledger_entries ADD COLUMN rounding bigint NOT NULL DEFAULT 0;
