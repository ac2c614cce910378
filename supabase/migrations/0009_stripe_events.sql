-- Card refunds and disputes at Stripe, reconciled against what the devices reported
-- (docs/OPERATIONS.md, "Card refunds and disputes at Stripe").
--
-- card_payments: every card payment the journals name, one row per payment entry: a `sale`'s
-- card payments (money taken, kind `charge`), and the card money a device gave back with Stripe's
-- refund id (kind `refund`): a `refund` record's card payments, a split sale's `given_back`
-- parts and a `part_refunded` charge (docs/PROTOCOL.md 1.4). Ingest keeps it in the push
-- transaction (central/card_payments.py), so reconciling a Stripe event is an indexed lookup.
CREATE TABLE card_payments (
    device_id      text NOT NULL REFERENCES devices (device_id),
    seq            bigint NOT NULL,
    payment        integer NOT NULL,          -- the entry's place in the record's payments
    merchant_id    bigint NOT NULL REFERENCES merchants (id),
    kind           text NOT NULL CHECK (kind IN ('charge', 'refund')),
    sale_id        text NOT NULL,
    payment_intent text NOT NULL,
    refund_id      text,                      -- Stripe's `re_…`, for kind `refund`
    amount         bigint NOT NULL,           -- minor units, positive
    PRIMARY KEY (device_id, seq, payment)
);
CREATE INDEX card_payments_payment_intent ON card_payments (payment_intent);
CREATE INDEX card_payments_refund_id ON card_payments (refund_id) WHERE refund_id IS NOT NULL;

-- stripe_events: each webhook event central took in, once (the event id is the key, so a
-- redelivered event changes nothing), with the fields reconciliation reads from its object.
CREATE TABLE stripe_events (
    event_id       text PRIMARY KEY,
    type           text NOT NULL,
    object_id      text NOT NULL,             -- the refund (re_…), charge (ch_…) or dispute (dp_…)
    payment_intent text,
    amount         bigint,                    -- the refund's or dispute's; a charge's amount_refunded
    currency       text,
    status         text,
    reason         text,
    created_at     timestamptz NOT NULL,      -- when Stripe made the event
    received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_object ON stripe_events (object_id, created_at);

-- Card payments held before this table existed. Bodies are canonical JSON text; one holding an
-- escaped NUL cannot become jsonb and is left out, as is an amount no bigint holds.
INSERT INTO card_payments (device_id, seq, payment, merchant_id, kind, sale_id, payment_intent,
                           refund_id, amount)
SELECT r.device_id, r.seq, (p.ordinality - 1)::integer, d.merchant_id,
       CASE WHEN r.kind = 'sale' THEN 'charge' ELSE 'refund' END, b.body ->> 'sale_id',
       p.value ->> 'payment_intent',
       CASE WHEN r.kind = 'sale' THEN NULL ELSE p.value ->> 'refund_id' END,
       (p.value ->> 'amount')::bigint
FROM journal_records AS r
JOIN devices AS d USING (device_id)
CROSS JOIN LATERAL (SELECT r.body_json::jsonb AS body) AS b
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN b.body ->> 'state' = 'part_refunded' AND jsonb_typeof(b.body -> 'payment') = 'object'
              AND jsonb_typeof(b.body -> 'refund') = 'object'
         THEN jsonb_build_array(b.body -> 'payment'
                                || jsonb_build_object('refund_id', b.body -> 'refund' -> 'id'))
         WHEN jsonb_typeof(b.body -> 'payments') = 'array' THEN b.body -> 'payments'
         ELSE '[]'::jsonb END) WITH ORDINALITY AS p
WHERE strpos(r.body_json, '\u0000') = 0
  AND (r.kind IN ('sale', 'refund')
       OR (r.kind = 'payment' AND b.body ->> 'state' IN ('given_back', 'part_refunded')))
  AND b.body -> 'training' IS DISTINCT FROM 'true'::jsonb
  AND jsonb_typeof(b.body -> 'sale_id') = 'string'
  AND p.value ->> 'method' = 'card'
  AND jsonb_typeof(p.value -> 'payment_intent') = 'string'
  AND (p.value ->> 'amount') ~ '^[0-9]{1,18}$'
  AND (r.kind = 'sale' OR jsonb_typeof(p.value -> 'refund_id') = 'string')
ON CONFLICT DO NOTHING;

-- Ops only: card_payments carries the merchant like every table of what devices sent; Stripe's
-- events are the platform account's, for ops. Pages may only read.
ALTER TABLE card_payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE stripe_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY card_payments_own ON card_payments TO bitagora_web
    USING (bitagora_is_ops() OR merchant_id = bitagora_merchant_id());
CREATE POLICY stripe_events_ops ON stripe_events TO bitagora_web USING (bitagora_is_ops());
GRANT SELECT ON card_payments, stripe_events TO bitagora_web;
