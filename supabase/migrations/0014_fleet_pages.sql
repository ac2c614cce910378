-- The fleet page at 10,000 devices: what ops search by (label, location), the interval a device
-- heartbeats at (its status is late or offline after one or two missed), and indexes for the
-- page's sort orders so that a page of 50 is read in index order rather than sorted whole.
ALTER TABLE devices ADD COLUMN heartbeat_s integer NOT NULL DEFAULT 30 CHECK (heartbeat_s >= 1);
ALTER TABLE devices ADD COLUMN label text NOT NULL DEFAULT '' CHECK (length(label) <= 100);
ALTER TABLE devices ADD COLUMN location text NOT NULL DEFAULT '' CHECK (length(location) <= 200);
-- Lifecycle: a revoked device's key is refused (device API 403 `revoked` with the reason); a
-- decommissioned one is revoked too and left out of the fleet page's default view.
ALTER TABLE devices ADD COLUMN revoked_at timestamptz;
ALTER TABLE devices ADD COLUMN revoked_reason text CHECK (length(revoked_reason) <= 500);
ALTER TABLE devices ADD COLUMN decommissioned_at timestamptz;
CREATE INDEX devices_last_seen ON devices (last_seen_at, device_id);
CREATE INDEX devices_version ON devices (version, device_id);
CREATE INDEX devices_backlog ON devices (backlog, device_id);

-- The device page (docs/OPERATIONS.md, "A device's page"): its last heartbeats, at most
-- central/device_history.py's cap a device (each heartbeat prunes the oldest beyond it).
CREATE TABLE device_heartbeats (
    device_id           text NOT NULL REFERENCES devices (device_id),
    at                  timestamptz NOT NULL,
    backlog             bigint,
    oldest_unsent_age_s bigint,
    clock_offset_s      bigint
);
CREATE INDEX device_heartbeats_device ON device_heartbeats (device_id, at);
ALTER TABLE device_heartbeats ENABLE ROW LEVEL SECURITY;

-- Only ops read heartbeats and quarantined batches, change a device (fork, label, location,
-- merchant, revocation, decommissioning) and make enrollment codes. What ops did to a device is in
-- the audit log (0013), with its device_id.
CREATE POLICY device_heartbeats_ops ON device_heartbeats FOR SELECT TO bitagora_web
    USING ((SELECT bitagora_is_ops()));
CREATE POLICY quarantined_batches_ops ON quarantined_batches FOR SELECT TO bitagora_web
    USING ((SELECT bitagora_is_ops()));
CREATE POLICY devices_ops_change ON devices AS RESTRICTIVE FOR UPDATE TO bitagora_web
    USING ((SELECT bitagora_is_ops())) WITH CHECK ((SELECT bitagora_is_ops()));
GRANT SELECT ON device_heartbeats, quarantined_batches TO bitagora_web;
GRANT UPDATE (forked_at, fork_seq, label, location, merchant_id, revoked_at, revoked_reason,
    decommissioned_at) ON devices TO bitagora_web;
CREATE POLICY device_moves_ops_add ON device_moves FOR INSERT TO bitagora_web
    WITH CHECK ((SELECT bitagora_is_ops()));
GRANT INSERT (device_id, from_merchant_id, to_merchant_id, moved_by) ON device_moves
    TO bitagora_web;
CREATE POLICY enrollment_codes_ops_add ON enrollment_codes AS RESTRICTIVE FOR INSERT
    TO bitagora_web WITH CHECK ((SELECT bitagora_is_ops()));
GRANT INSERT (code_hash, merchant_id, created_at, expires_at) ON enrollment_codes TO bitagora_web;
