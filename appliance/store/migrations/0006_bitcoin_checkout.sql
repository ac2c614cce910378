-- Device store, version 6: bitcoin checkouts (one unified offer per sale: an on-chain address,
-- a Lightning invoice, or both, priced at one locked rate).
--
-- btc_checkout keeps what a payment that arrives after a restart needs to finish its sale: the
-- sale body without payments (cart_json), the rate lock and the amounts. state is the last state
-- journalled in a `payment` record, changed only in the transaction that appends that record, and
-- only away from an open state (offered, underpaid, confirming): a sale is completed once however
-- many watchers see the payment. late_until: until when the address is still watched for money
-- arriving after the checkout closed (flagged as late for the manager). received_sats: the
-- on-chain amount of the last record, so a top-up that is still short is journalled too.
-- btc_tx_seen: when the till first saw each transaction paying a checkout address; the settlement
-- rules compare it with the expiry, so it must survive a restart.

CREATE TABLE btc_checkout (
    sale_id     TEXT PRIMARY KEY,
    cart_json   TEXT NOT NULL,
    rate_json   TEXT NOT NULL,
    total_minor INTEGER NOT NULL CHECK (total_minor > 0),
    sats        INTEGER CHECK (sats > 0),
    address     TEXT,
    msat        INTEGER CHECK (msat > 0),
    bolt11      TEXT,
    expires_at  REAL NOT NULL,
    received_sats INTEGER NOT NULL DEFAULT 0,  -- on-chain, as last journalled
    state       TEXT NOT NULL CHECK (state IN ('offered', 'underpaid', 'confirming', 'paid',
                'overpaid', 'expired', 'expired_underpaid', 'cancelled', 'late')),
    late_until  REAL,
    opened_at   TEXT NOT NULL,
    CHECK ((sats IS NULL) = (address IS NULL)),
    CHECK ((msat IS NULL) = (bolt11 IS NULL)),
    CHECK (address IS NOT NULL OR bolt11 IS NOT NULL)
);

CREATE INDEX btc_checkout_open ON btc_checkout (state)
    WHERE state IN ('offered', 'underpaid', 'confirming');

CREATE TABLE btc_tx_seen (
    address    TEXT NOT NULL,
    txid       TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (address, txid)
);
