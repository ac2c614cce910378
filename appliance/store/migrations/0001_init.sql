-- Device store, version 1: catalog, staff, sales, the journal and its outbox.

CREATE TABLE tax_rates (
    code        TEXT PRIMARY KEY,
    basis_points INTEGER NOT NULL CHECK (basis_points BETWEEN 0 AND 10000)
);

CREATE TABLE products (
    sku                TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    category           TEXT NOT NULL,
    price_minor        INTEGER NOT NULL CHECK (price_minor >= 0),
    currency           TEXT NOT NULL,
    tax_code           TEXT NOT NULL REFERENCES tax_rates(code),
    price_includes_tax INTEGER NOT NULL DEFAULT 1,
    barcode            TEXT UNIQUE,
    position           INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE staff (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('cashier', 'manager', 'technician')),
    pin_hash TEXT NOT NULL
);

-- The journal: append-only, gap-free, hash-chained and signed (docs/PROTOCOL.md).
CREATE TABLE journal (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
    kind      TEXT NOT NULL,
    at        TEXT NOT NULL,
    device_id TEXT NOT NULL,
    body      TEXT NOT NULL,  -- canonical JSON of the record body
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL UNIQUE,
    sig       TEXT NOT NULL
);

CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'journal records are never updated'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'journal records are never deleted'); END;

-- Records waiting for central's acknowledgement; the uplink deletes rows once acknowledged.
CREATE TABLE outbox (
    seq       INTEGER PRIMARY KEY REFERENCES journal(seq),
    queued_at TEXT NOT NULL
);

CREATE TABLE sales (
    sale_id     TEXT PRIMARY KEY,
    journal_seq INTEGER NOT NULL UNIQUE REFERENCES journal(seq),
    finished_at TEXT NOT NULL,
    staff_id    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    subtotal    INTEGER NOT NULL,
    tax         INTEGER NOT NULL,
    total       INTEGER NOT NULL
);

CREATE TABLE sale_lines (
    sale_id    TEXT NOT NULL REFERENCES sales(sale_id),
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    name       TEXT NOT NULL,
    quantity   INTEGER NOT NULL,
    unit_price INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    tax_code   TEXT NOT NULL,
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE sale_payments (
    sale_id  TEXT NOT NULL REFERENCES sales(sale_id),
    line_no  INTEGER NOT NULL,
    method   TEXT NOT NULL,
    amount   INTEGER NOT NULL,
    tendered INTEGER,
    change   INTEGER,
    PRIMARY KEY (sale_id, line_no)
);

-- Who this device is: device_id and public_key, fixed at first start (journal verify reads them).
CREATE TABLE device_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Uplink state that must survive restarts (enrollment, central's last acknowledged seq).
CREATE TABLE uplink_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every journal record is queued for the uplink, in the same statement that appends it.
CREATE TRIGGER journal_to_outbox AFTER INSERT ON journal
BEGIN
    INSERT INTO outbox (seq, queued_at) VALUES (NEW.seq, NEW.at);
END;

-- The sales tables are a projection of the sale records: written by the same INSERT, so they can
-- never disagree with the signed journal (and a sale costs one statement, not five).
CREATE TRIGGER journal_sale_projection AFTER INSERT ON journal WHEN NEW.kind = 'sale'
BEGIN
    INSERT INTO sales (sale_id, journal_seq, finished_at, staff_id, currency, subtotal, tax, total)
    VALUES (NEW.body ->> '$.sale_id', NEW.seq, NEW.at, NEW.body ->> '$.staff.id',
            NEW.body ->> '$.currency', NEW.body ->> '$.subtotal.minor',
            NEW.body ->> '$.tax.minor', NEW.body ->> '$.total.minor');
    INSERT INTO sale_lines (sale_id, line_no, sku, name, quantity, unit_price, amount, tax_code)
    SELECT NEW.body ->> '$.sale_id', line.key + 1, line.value ->> '$.sku',
           line.value ->> '$.name', line.value ->> '$.quantity', line.value ->> '$.unit_price',
           line.value ->> '$.amount', line.value ->> '$.tax_code'
    FROM json_each(NEW.body, '$.lines') AS line;
    INSERT INTO sale_payments (sale_id, line_no, method, amount, tendered, change)
    SELECT NEW.body ->> '$.sale_id', p.key + 1, p.value ->> '$.method', p.value ->> '$.amount',
           p.value ->> '$.tendered', p.value ->> '$.change'
    FROM json_each(NEW.body, '$.payments') AS p;
END;
