-- Device store, version 8: card payments on a Stripe Terminal reader (appliance/payments/card.py).
--
-- One row per attempt to take a sale's total by card, written BEFORE Stripe is asked to create
-- the PaymentIntent: the attempt number is part of the idempotency keys, so a retry (or a
-- restart) that sends the same request again gets Stripe's first answer instead of a second
-- payment, and a new attempt for the same sale never reuses a key. payment_intent is NULL until
-- Stripe's answer to the create arrived (for good if Stripe refused the create). state: creating
-- (the create was sent), processing (the reader was asked to take the card), authorized (manual
-- capture: approved, not yet captured), then one final state. An attempt still open after a restart (card_attempt_open) is what the
-- till must look at with Stripe before anything else happens to that sale.
-- Nothing about the card itself is kept here: brand and last4 go on the receipt only.

CREATE TABLE card_attempt (
    sale_id        TEXT NOT NULL,
    attempt        INTEGER NOT NULL CHECK (attempt >= 1),
    payment_intent TEXT UNIQUE,
    reader_id      TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL CHECK (amount_minor > 0),
    currency       TEXT NOT NULL,
    description    TEXT NOT NULL,  -- sent with the create: a resend must send the same
    capture        TEXT NOT NULL CHECK (capture IN ('automatic', 'manual')),
    state          TEXT NOT NULL CHECK (state IN ('creating', 'processing', 'authorized',
                   'succeeded', 'declined', 'cancelled', 'failed')),
    charge_id      TEXT,
    reason         TEXT,  -- decline code or failure code of a final state that is not success
    opened_at      TEXT NOT NULL,
    closed_at      TEXT,
    PRIMARY KEY (sale_id, attempt),
    CHECK (state IN ('creating', 'failed') OR payment_intent IS NOT NULL)
);

CREATE INDEX card_attempt_open ON card_attempt (state)
    WHERE state IN ('creating', 'processing', 'authorized');
