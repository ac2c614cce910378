-- Undoes 0014_fleet_pages.sql: labels, locations and heartbeat intervals go with their indexes.
DROP INDEX devices_backlog;
DROP INDEX devices_version;
DROP INDEX devices_last_seen;
ALTER TABLE devices DROP COLUMN location, DROP COLUMN label, DROP COLUMN heartbeat_s;
