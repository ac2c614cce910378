-- Undoes 0014_fleet_pages.sql: heartbeat history, device actions, labels, locations and
-- heartbeat intervals go with their indexes, policies and grants.
REVOKE UPDATE (forked_at, fork_seq) ON devices FROM bitagora_web;
REVOKE SELECT ON quarantined_batches FROM bitagora_web;
DROP POLICY devices_ops_change ON devices;
DROP POLICY quarantined_batches_ops ON quarantined_batches;
DROP TABLE device_actions, device_heartbeats;
DROP FUNCTION device_actions_append_only();
DROP INDEX devices_backlog;
DROP INDEX devices_version;
DROP INDEX devices_last_seen;
ALTER TABLE devices DROP COLUMN location, DROP COLUMN label, DROP COLUMN heartbeat_s;
