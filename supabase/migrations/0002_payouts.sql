-- Bitcoin refunds merchants owe their customers, one row per refund and method. A device never
-- sends bitcoin: a refund of Lightning or on-chain money is a `refund` record whose payment
-- carries a `payout` (the customer's destination), and the merchant's `payout` record says it
-- was paid (docs/PROTOCOL.md 1.4). Ingest keeps this table in the push transaction
-- (central/payouts.py), so the dashboard lists what is owed without scanning journals.
CREATE TABLE device_payouts (
    device_id    text NOT NULL REFERENCES devices (device_id),
    refund_id    text NOT NULL,
    method       text NOT NULL,
    sale_id      text NOT NULL,
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    kind         text NOT NULL,
    destination  text NOT NULL,
    refund_seq   bigint NOT NULL,
    refunded_at  text NOT NULL,        -- the refund record's `at`, as the device signed it
    paid_seq     bigint,               -- the `payout` record, once the merchant paid
    paid_at      text,
    proof        text,
    PRIMARY KEY (device_id, refund_id, method)
);
CREATE INDEX device_payouts_pending ON device_payouts (refunded_at) WHERE paid_seq IS NULL;
ALTER TABLE device_payouts ENABLE ROW LEVEL SECURITY;

-- Refunds stored before this table existed. Bodies are canonical JSON text; one holding an
-- escaped NUL cannot become jsonb and is left out (no refund the device writes has one).
INSERT INTO device_payouts (device_id, refund_id, method, sale_id, amount_minor, currency, kind,
                            destination, refund_seq, refunded_at)
SELECT r.device_id, b.body ->> 'refund_id', p.value ->> 'method', b.body ->> 'sale_id',
       (p.value ->> 'amount')::bigint, b.body ->> 'currency', p.value -> 'payout' ->> 'kind',
       p.value -> 'payout' ->> 'destination', r.seq, r.at
FROM journal_records AS r
CROSS JOIN LATERAL (SELECT r.body_json::jsonb AS body) AS b
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(b.body -> 'payments') = 'array' THEN b.body -> 'payments'
         ELSE '[]'::jsonb END) AS p
WHERE r.kind = 'refund' AND strpos(r.body_json, '\u0000') = 0
  AND jsonb_typeof(p.value -> 'payout') = 'object'
ON CONFLICT DO NOTHING;
