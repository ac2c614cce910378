-- The device API refuses the hostile client (docs/PROTOCOL.md 2.1-2.4).

-- Quarantined fork batches are kept once: the same batch re-sent for the same seq is one row
-- (its SHA-256 is the key), and a device keeps at most a capped number of rows and bytes
-- (central/quarantine.py); batches beyond the cap are counted, not kept.
ALTER TABLE quarantined_batches ADD COLUMN batch_sha256 text;
UPDATE quarantined_batches
   SET batch_sha256 = encode(sha256(convert_to(batch_json, 'UTF8')), 'hex');
DELETE FROM quarantined_batches later USING quarantined_batches earlier
 WHERE later.device_id = earlier.device_id AND later.seq = earlier.seq
   AND later.batch_sha256 = earlier.batch_sha256 AND later.id > earlier.id;
ALTER TABLE quarantined_batches ALTER COLUMN batch_sha256 SET NOT NULL;
CREATE UNIQUE INDEX quarantined_batches_once
    ON quarantined_batches (device_id, seq, batch_sha256);
ALTER TABLE devices ADD COLUMN quarantine_dropped bigint NOT NULL DEFAULT 0;

-- The latest chain head a device signed (its heartbeat): the seq and hash its journal ends at,
-- which an auditor compares with the records central holds.
ALTER TABLE devices ADD COLUMN head_seq bigint;
ALTER TABLE devices ADD COLUMN head_hash text;
ALTER TABLE devices ADD COLUMN head_sig text;

-- A permanent refusal the device reports (uplink.refused of its heartbeat), shown to ops.
ALTER TABLE devices ADD COLUMN uplink_refused text;

-- Moving an enrolled device to another merchant is an ops action, recorded here.
CREATE TABLE device_moves (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id        text NOT NULL REFERENCES devices (device_id),
    from_merchant_id bigint NOT NULL REFERENCES merchants (id),
    to_merchant_id   bigint NOT NULL REFERENCES merchants (id),
    moved_by         text NOT NULL,
    moved_at         timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE device_moves ENABLE ROW LEVEL SECURITY;
