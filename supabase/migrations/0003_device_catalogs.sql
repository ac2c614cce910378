-- The catalog version each device sells from: its newest `catalog` record (docs/PROTOCOL.md 1.7),
-- kept by ingest in the push transaction (central/catalogs.py), so operations see which price
-- list every till runs without scanning journals. The records themselves stay in the chain.
CREATE TABLE device_catalogs (
    device_id  text PRIMARY KEY REFERENCES devices (device_id),
    version    bigint NOT NULL,
    sha256     text NOT NULL,
    currency   text NOT NULL,
    products   bigint NOT NULL,
    seq        bigint NOT NULL,       -- the `catalog` record
    changed_at text NOT NULL          -- its `at`, as the device signed it
);
ALTER TABLE device_catalogs ENABLE ROW LEVEL SECURITY;
