-- Undoes 0014_fleet_pages.sql: heartbeat history, labels, locations,
-- revocations, decommissionings and heartbeat intervals go with their indexes, policies and grants.
REVOKE INSERT (code_hash, merchant_id, created_at, expires_at) ON enrollment_codes
    FROM bitagora_web;
DROP POLICY enrollment_codes_ops_add ON enrollment_codes;
REVOKE INSERT (device_id, from_merchant_id, to_merchant_id, moved_by) ON device_moves
    FROM bitagora_web;
DROP POLICY device_moves_ops_add ON device_moves;
REVOKE UPDATE (forked_at, fork_seq, label, location, merchant_id, revoked_at, revoked_reason,
    decommissioned_at) ON devices FROM bitagora_web;
REVOKE SELECT ON quarantined_batches FROM bitagora_web;
DROP POLICY devices_ops_change ON devices;
DROP POLICY quarantined_batches_ops ON quarantined_batches;
DROP TABLE device_heartbeats;
DROP INDEX devices_backlog;
DROP INDEX devices_version;
DROP INDEX devices_last_seen;
ALTER TABLE devices DROP COLUMN decommissioned_at, DROP COLUMN revoked_reason,
    DROP COLUMN revoked_at, DROP COLUMN location, DROP COLUMN label, DROP COLUMN heartbeat_s;
