-- Undoes 0010_device_api_hardening.sql: the moves' record, the chain heads and refusals devices
-- reported go; quarantined batches stay (de-duplicated), without their SHA-256.
DROP TABLE device_moves;
ALTER TABLE devices DROP COLUMN uplink_refused, DROP COLUMN head_sig, DROP COLUMN head_hash,
    DROP COLUMN head_seq, DROP COLUMN quarantine_dropped;
DROP INDEX quarantined_batches_once;
ALTER TABLE quarantined_batches DROP COLUMN batch_sha256;
