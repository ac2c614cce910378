-- Device store, version 5: Lightning invoices of sales, and where settlement watching stands.
--
-- One invoice per sale at a time, labelled "bitagora-<sale_id>" on the node. The row outlives the
-- node's memory of it: status moves from 'pending' to exactly one of 'paid', 'expired' or
-- 'cancelled', and only from 'pending', so a payment is taken exactly once however often the
-- node reports it. ln_cursor keeps the highest pay_index seen from waitanyinvoice, advanced in the
-- same transaction that records a payment, so a restart resumes where it stopped.

CREATE TABLE ln_invoice (
    label                TEXT PRIMARY KEY,
    sale_id              TEXT NOT NULL UNIQUE,
    payment_hash         TEXT NOT NULL UNIQUE,
    bolt11               TEXT NOT NULL,
    amount_msat          INTEGER NOT NULL CHECK (amount_msat > 0),
    expires_at           INTEGER NOT NULL,  -- the node's clock, unix seconds
    created_at           TEXT NOT NULL,
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'paid', 'expired', 'cancelled')),
    pay_index            INTEGER UNIQUE,
    amount_received_msat INTEGER,
    paid_at              INTEGER,           -- the node's clock, unix seconds
    settled_at           TEXT,              -- our clock, when the till learnt of it
    CHECK ((status = 'paid') = (pay_index IS NOT NULL))
);

CREATE INDEX ln_invoice_pending ON ln_invoice (label) WHERE status = 'pending';

CREATE TABLE ln_cursor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    pay_index INTEGER NOT NULL CHECK (pay_index >= 0)
);

INSERT INTO ln_cursor (id, pay_index) VALUES (1, 0);
