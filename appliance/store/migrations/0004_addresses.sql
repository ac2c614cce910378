-- Device store, version 4: on-chain receive addresses. One fresh address per sale from the
-- watch-only descriptor. An index is reserved here, in a committed transaction, before the address
-- is ever shown, so a crash cannot hand the same index to two sales. wallet_id is the first 16 hex
-- digits of SHA-256 of the canonical descriptor: a new wallet starts its own index space.
--
-- wallet_addresses: one row per derived receive index. state 'open' = shown for a sale still
-- waiting; 'released' = that sale ended without payment. used_at is set once the chain showed any
-- money arriving at the address; a used address is never handed out again.
-- wallet_address_sales: the address <-> sale map, one row per sale (an unused released address can
-- be offered again to a later sale when the gap limit is reached; both sales stay on record).

CREATE TABLE wallet_addresses (
    wallet_id TEXT NOT NULL CHECK (length(wallet_id) = 16),
    idx       INTEGER NOT NULL CHECK (idx >= 0 AND idx < 2147483648),
    address   TEXT NOT NULL UNIQUE,
    state     TEXT NOT NULL CHECK (state IN ('open', 'released')),
    used_at   TEXT,
    PRIMARY KEY (wallet_id, idx)
);

CREATE TABLE wallet_address_sales (
    sale_id      TEXT PRIMARY KEY,
    wallet_id    TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    address      TEXT NOT NULL,
    allocated_at TEXT NOT NULL,
    released_at  TEXT,
    FOREIGN KEY (wallet_id, idx) REFERENCES wallet_addresses (wallet_id, idx)
);

CREATE INDEX wallet_address_sales_by_address ON wallet_address_sales (address);
