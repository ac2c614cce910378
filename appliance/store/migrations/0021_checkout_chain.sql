-- Device store: the chain of each on-chain checkout, so that bitcoin and USDT on TRON share
-- btc_checkout and btc_tx_seen (one offer, watch and settlement machinery, payments/bitcoin.py).
-- 'bitcoin' (every checkout before this version) or 'tron'. In a 'tron' row the amount columns
-- hold USDT in 6-decimal token units (sats: asked; received_sats: as last journalled) and
-- msat/bolt11 stay NULL. Each chain's watcher reads only its own rows.
-- Additive only: an older release ignores the column (and has no 'tron' rows).
ALTER TABLE btc_checkout ADD COLUMN chain TEXT NOT NULL DEFAULT 'bitcoin'
    CHECK (chain IN ('bitcoin', 'tron'));
