-- The sales ledger: what every device sold and gave back, line by line and payment by payment,
-- and its Z closings, kept by ingest from `sale`, `refund` and `z_close` records as they arrive
-- (central/sales_ledger.py) so that a merchant's reports (by day, hour, method, product, staff)
-- are indexed queries, never a scan of the journals. The records stay the truth; each row names
-- its record (device_id, seq). Refunds are stored negative, so a sum is the net.
-- Each row carries the merchant the device belonged to when the record arrived, for the
-- tenancy policies below (the functions and role are migration 0004's).

-- Reports count days and hours on the shop's clock.
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS timezone text NOT NULL DEFAULT 'UTC';

CREATE TABLE ledger_entries (
    device_id   text NOT NULL REFERENCES devices (device_id),
    seq         bigint NOT NULL,
    merchant_id bigint NOT NULL REFERENCES merchants (id),
    kind        text NOT NULL CHECK (kind IN ('sale', 'refund')),
    sale_id     text NOT NULL,
    at          timestamptz NOT NULL,
    currency    text NOT NULL,
    total       bigint NOT NULL,          -- minor units; negative for a refund
    staff_id    text NOT NULL,
    staff_name  text NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX ledger_entries_merchant_at ON ledger_entries (merchant_id, at);

CREATE TABLE ledger_lines (
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    line        integer NOT NULL,
    merchant_id bigint NOT NULL REFERENCES merchants (id),
    at          timestamptz NOT NULL,
    currency    text NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    quantity    bigint NOT NULL,          -- negative for a refund
    amount      bigint NOT NULL,          -- minor units, as priced; negative for a refund
    PRIMARY KEY (device_id, seq, line),
    FOREIGN KEY (device_id, seq) REFERENCES ledger_entries (device_id, seq)
);
CREATE INDEX ledger_lines_merchant_at ON ledger_lines (merchant_id, at);

CREATE TABLE ledger_payments (
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    payment     integer NOT NULL,
    merchant_id bigint NOT NULL REFERENCES merchants (id),
    at          timestamptz NOT NULL,
    currency    text NOT NULL,
    method      text NOT NULL,
    amount      bigint NOT NULL,          -- minor units; negative for a refund
    PRIMARY KEY (device_id, seq, payment),
    FOREIGN KEY (device_id, seq) REFERENCES ledger_entries (device_id, seq)
);
CREATE INDEX ledger_payments_merchant_at ON ledger_payments (merchant_id, at);

CREATE TABLE z_closings (
    device_id      text NOT NULL REFERENCES devices (device_id),
    seq            bigint NOT NULL,
    merchant_id    bigint NOT NULL REFERENCES merchants (id),
    z_number       bigint NOT NULL,
    closed_at      timestamptz NOT NULL,
    currency       text NOT NULL,
    sales_count    bigint NOT NULL,
    sales          bigint NOT NULL,
    refunds        bigint NOT NULL,
    net_sales      bigint NOT NULL,
    expected_cash  bigint NOT NULL,
    counted_cash   bigint NOT NULL,
    difference     bigint NOT NULL,
    grand_total    bigint NOT NULL,
    staff_name     text NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX z_closings_merchant_at ON z_closings (merchant_id, closed_at);

-- Devices whose records arrived before this migration: central takes their journals into the
-- ledger once, at its next start (sales_ledger.catch_up), and forgets them here.
CREATE TABLE ledger_catch_up (
    device_id text PRIMARY KEY REFERENCES devices (device_id)
);
INSERT INTO ledger_catch_up (device_id) SELECT device_id FROM devices WHERE held_seq > 0;

-- As for every table of what devices sent (migration 0004): RLS on, ops see every row, a
-- merchant's users their merchant's, and pages may only read.
ALTER TABLE ledger_catch_up ENABLE ROW LEVEL SECURITY;
DO $$
DECLARE
    owned text;
BEGIN
    FOREACH owned IN ARRAY ARRAY['ledger_entries', 'ledger_lines', 'ledger_payments',
                                 'z_closings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', owned);
        EXECUTE format('CREATE POLICY %I ON %I TO bitagora_web'
                       ' USING (bitagora_is_ops() OR merchant_id = bitagora_merchant_id())',
                       owned || '_own', owned);
    END LOOP;
END
$$;
GRANT SELECT ON ledger_entries, ledger_lines, ledger_payments, z_closings TO bitagora_web;
