-- Device store: Mercado Pago payments, Point or QR (appliance/payments/mercadopago.py).
--
-- One row per attempt to take a sale's total (or a split part) through Mercado Pago, written
-- BEFORE the order is created: the attempt number is part of the X-Idempotency-Key of every
-- write, so a retry (or a restart) that sends the same create again gets Mercado Pago's first
-- order instead of a second charge, and a new attempt for the same sale never reuses a key.
-- order_id is NULL until the answer to the create arrived. state: creating (the create was
-- sent), waiting (the order is on the Point device or its QR is shown), then one final state.
-- Nothing about the card is kept here: brand, last four digits and authorisation code go into
-- the sale's payment entry only.

CREATE TABLE mercadopago_attempt (
    sale_id      TEXT NOT NULL,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),
    method       TEXT NOT NULL CHECK (method IN ('mercadopago_point', 'mercadopago_qr')),
    order_id     TEXT UNIQUE,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('creating', 'waiting', 'paid', 'declined',
                 'cancelled', 'expired', 'failed')),
    reason       TEXT,  -- Mercado Pago's status_detail of a final state that is not paid
    opened_at    TEXT NOT NULL,
    closed_at    TEXT,
    PRIMARY KEY (sale_id, attempt),
    CHECK (state IN ('creating', 'failed') OR order_id IS NOT NULL)
);

CREATE INDEX mercadopago_attempt_open ON mercadopago_attempt (state)
    WHERE state IN ('creating', 'waiting');
