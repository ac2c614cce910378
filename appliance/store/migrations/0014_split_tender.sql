-- Device store, version 14: split tender (one sale paid in several parts; core/split.py).
--
-- split_sale keeps what a restart needs to finish a sale paid in parts: the sale body without
-- payments (cart_json). Its parts are a projection of the journal, like the sale rows: a `payment`
-- record with state `part_paid` writes its split_part row in the same INSERT (and is refused when
-- the sale is not open or the part would pay more than is due), the `sale` record marks the split
-- sale finished, and a `payment` record with state `given_back` marks it given back. So a part is
-- durable exactly when its record is, and the rows can never disagree with what was signed.
-- state: open, then finished (its sale record), given_back (every paid part went back) or
-- cancelled (given up with no part paid: nothing was journalled).
--
-- card_attempt.cart_json: the sale body without payments of a card payment for a whole sale, so
-- that a card found paid after a restart still records its sale (NULL for a split sale's part:
-- split_sale has the cart).

CREATE TABLE split_sale (
    sale_id     TEXT PRIMARY KEY,
    cart_json   TEXT NOT NULL,
    total_minor INTEGER NOT NULL CHECK (total_minor > 0),
    state       TEXT NOT NULL DEFAULT 'open'
                CHECK (state IN ('open', 'finished', 'given_back', 'cancelled')),
    opened_at   TEXT NOT NULL
);

CREATE INDEX split_sale_open ON split_sale (state) WHERE state = 'open';

CREATE TABLE split_part (
    sale_id      TEXT NOT NULL REFERENCES split_sale(sale_id),
    part         INTEGER NOT NULL CHECK (part >= 1),
    journal_seq  INTEGER NOT NULL UNIQUE REFERENCES journal(seq),
    method       TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (sale_id, part)
);

CREATE TRIGGER journal_split_part AFTER INSERT ON journal
WHEN NEW.kind = 'payment' AND NEW.body ->> '$.state' = 'part_paid'
BEGIN
    SELECT RAISE(ABORT, 'part_paid: no open split sale with this sale_id')
    WHERE NOT EXISTS (
        SELECT 1 FROM split_sale WHERE sale_id = NEW.body ->> '$.sale_id' AND state = 'open'
    );
    SELECT RAISE(ABORT, 'part_paid: the part pays more than is due')
    WHERE (SELECT coalesce(sum(amount_minor), 0) FROM split_part
           WHERE sale_id = NEW.body ->> '$.sale_id') + (NEW.body ->> '$.payment.amount')
          > (SELECT total_minor FROM split_sale WHERE sale_id = NEW.body ->> '$.sale_id');
    INSERT INTO split_part (sale_id, part, journal_seq, method, amount_minor)
    VALUES (NEW.body ->> '$.sale_id', NEW.body ->> '$.part', NEW.seq,
            NEW.body ->> '$.payment.method', NEW.body ->> '$.payment.amount');
END;

CREATE TRIGGER journal_split_finished AFTER INSERT ON journal WHEN NEW.kind = 'sale'
BEGIN
    UPDATE split_sale SET state = 'finished'
    WHERE sale_id = NEW.body ->> '$.sale_id' AND state = 'open';
END;

CREATE TRIGGER journal_split_given_back AFTER INSERT ON journal
WHEN NEW.kind = 'payment' AND NEW.body ->> '$.state' = 'given_back'
BEGIN
    SELECT RAISE(ABORT, 'given_back: no open split sale with this sale_id')
    WHERE NOT EXISTS (
        SELECT 1 FROM split_sale WHERE sale_id = NEW.body ->> '$.sale_id' AND state = 'open'
    );
    UPDATE split_sale SET state = 'given_back' WHERE sale_id = NEW.body ->> '$.sale_id';
END;

ALTER TABLE card_attempt ADD COLUMN cart_json TEXT;
