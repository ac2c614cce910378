-- Device store, version 12: a Lightning node whose settlement count starts again.
--
-- A node numbers its settlements with pay_index 1, 2, 3, ... A replaced or rebuilt node (or one
-- whose database was wiped) starts again at 1. With pay_index unique over every invoice the till
-- ever had, the new node's first payment collided with an old one and could not be recorded, and
-- waitanyinvoice was asked to wait above the old count. Now the count has epochs: a payment of
-- ours reported with a pay_index the till has already passed (or already holds) opens a new epoch
-- with its own cursor (store/lightning.py), and pay_index is unique within an epoch.
--
-- Kept readable and writable by the release before this one (an update that is rolled back runs
-- it over this database): ln_invoice keeps every column it had (its rows written with no epoch
-- are distinct NULLs to the new UNIQUE), and ln_cursor stays where it is; the epochs' cursors
-- are a new table.

CREATE TABLE ln_invoice_v12 (
    label                TEXT PRIMARY KEY,
    sale_id              TEXT NOT NULL UNIQUE,
    payment_hash         TEXT NOT NULL UNIQUE,
    bolt11               TEXT NOT NULL,
    amount_msat          INTEGER NOT NULL CHECK (amount_msat > 0),
    expires_at           INTEGER NOT NULL,  -- the node's clock, unix seconds
    created_at           TEXT NOT NULL,
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'paid', 'expired', 'cancelled')),
    pay_index            INTEGER,
    amount_received_msat INTEGER,
    paid_at              INTEGER,           -- the node's clock, unix seconds
    settled_at           TEXT,              -- our clock, when the till learnt of it
    epoch                INTEGER,           -- the count pay_index belongs to (ln_count_cursor)
    UNIQUE (epoch, pay_index),
    CHECK ((status = 'paid') = (pay_index IS NOT NULL))
);

INSERT INTO ln_invoice_v12 (label, sale_id, payment_hash, bolt11, amount_msat, expires_at,
                            created_at, status, pay_index, amount_received_msat, paid_at,
                            settled_at, epoch)
SELECT label, sale_id, payment_hash, bolt11, amount_msat, expires_at, created_at, status,
       pay_index, amount_received_msat, paid_at, settled_at,
       CASE WHEN pay_index IS NULL THEN NULL ELSE 0 END
FROM ln_invoice;

DROP TABLE ln_invoice;
ALTER TABLE ln_invoice_v12 RENAME TO ln_invoice;
CREATE INDEX ln_invoice_pending ON ln_invoice (label) WHERE status = 'pending';

-- One row per epoch; the highest epoch is the node's current count.
CREATE TABLE ln_count_cursor (
    epoch     INTEGER PRIMARY KEY CHECK (epoch >= 0),
    pay_index INTEGER NOT NULL CHECK (pay_index >= 0),
    opened_at TEXT NOT NULL
);

INSERT INTO ln_count_cursor (epoch, pay_index, opened_at)
SELECT 0, pay_index, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM ln_cursor;
