-- The fleet page at 10,000 devices: what ops search by (label, location), the interval a device
-- heartbeats at (its status is late or offline after one or two missed), and indexes for the
-- page's sort orders so that a page of 50 is read in index order rather than sorted whole.
ALTER TABLE devices ADD COLUMN heartbeat_s integer NOT NULL DEFAULT 30 CHECK (heartbeat_s >= 1);
ALTER TABLE devices ADD COLUMN label text NOT NULL DEFAULT '' CHECK (length(label) <= 100);
ALTER TABLE devices ADD COLUMN location text NOT NULL DEFAULT '' CHECK (length(location) <= 200);
CREATE INDEX devices_last_seen ON devices (last_seen_at, device_id);
CREATE INDEX devices_version ON devices (version, device_id);
CREATE INDEX devices_backlog ON devices (backlog, device_id);
