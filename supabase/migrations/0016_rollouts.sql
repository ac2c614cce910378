-- Staged updates from central (docs/OPERATIONS.md, "Rollouts"): signed update bundles ops upload,
-- rollouts of one bundle to the fleet (or one merchant's devices) in cohorts, each device's
-- progress in its rollout, and every update outcome a device reports (from a rollout or a USB
-- stick alike).

-- A bundle's bytes live here, not on central's disk: any central process (or instance) serves
-- them, and central's backups (pg_dump) carry them. Central checked the manifest's signature
-- against its configured release key before storing it.
CREATE TABLE update_bundles (
    id          bigserial PRIMARY KEY,
    version     text NOT NULL UNIQUE CHECK (length(version) <= 64),
    package     text NOT NULL CHECK (length(package) <= 100),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes  bigint NOT NULL CHECK (size_bytes > 0),
    body        bytea NOT NULL,
    uploaded_by text NOT NULL CHECK (length(uploaded_by) <= 320),
    uploaded_at timestamptz NOT NULL
);
-- Stored uncompressed out of line (wheels are compressed already), so that a download reads it
-- a slice at a time (substring) instead of the whole bundle into one process's memory.
ALTER TABLE update_bundles ALTER COLUMN body SET STORAGE EXTERNAL;

-- cohorts: cumulative percentages of the rollout's devices, ascending, the last 100
-- (e.g. {5,25,100}); cohort: the last cohort offered (0-based), advanced when success_pct of
-- the devices offered so far run the bundle's version; stopped by itself when more than
-- error_pct of them failed or rolled back. The window is the till's local time; a device
-- installs only inside it (window_start > window_end wraps past midnight), with an idle till,
-- and after the day's Z when after_z.
CREATE TABLE rollouts (
    id           bigserial PRIMARY KEY,
    bundle_id    bigint NOT NULL REFERENCES update_bundles (id),
    merchant_id  bigint REFERENCES merchants (id),
    cohorts      smallint[] NOT NULL CHECK (
        cardinality(cohorts) BETWEEN 1 AND 10 AND cohorts[cardinality(cohorts)] = 100
        AND 0 < ALL (cohorts)),
    cohort       smallint NOT NULL DEFAULT 0 CHECK (cohort >= 0),
    success_pct  smallint NOT NULL CHECK (success_pct BETWEEN 1 AND 100),
    error_pct    smallint NOT NULL CHECK (error_pct BETWEEN 0 AND 100),
    window_start time,
    window_end   time,
    after_z      boolean NOT NULL DEFAULT false,
    state        text NOT NULL CHECK (state IN ('running', 'paused', 'stopped', 'completed')),
    state_reason text NOT NULL DEFAULT '' CHECK (length(state_reason) <= 500),
    created_by   text NOT NULL CHECK (length(created_by) <= 320),
    created_at   timestamptz NOT NULL,
    changed_at   timestamptz NOT NULL,
    CHECK ((window_start IS NULL) = (window_end IS NULL))
);
-- One rollout at a time is running or paused: a device is offered at most one bundle.
CREATE UNIQUE INDEX rollouts_one_active ON rollouts ((true)) WHERE state IN ('running', 'paused');

-- The devices a rollout was made for (those not revoked or decommissioned when it was created),
-- each in the cohort its rank in a hash of (rollout, device) gives it; what became of each.
CREATE TABLE rollout_devices (
    rollout_id  bigint NOT NULL REFERENCES rollouts (id),
    device_id   text NOT NULL REFERENCES devices (device_id),
    merchant_id bigint NOT NULL REFERENCES merchants (id),
    cohort      smallint NOT NULL CHECK (cohort >= 0),
    offered_at  timestamptz,
    outcome     text CHECK (outcome IN ('installed', 'rolled_back', 'failed')),
    version     text CHECK (length(version) <= 64),
    reason      text CHECK (length(reason) <= 500),
    reported_at timestamptz,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_device ON rollout_devices (device_id);

-- Every update outcome a device reports, whichever way the bundle came (rollout or USB stick).
CREATE TABLE update_reports (
    id          bigserial PRIMARY KEY,
    device_id   text NOT NULL REFERENCES devices (device_id),
    merchant_id bigint NOT NULL REFERENCES merchants (id),
    rollout_id  bigint REFERENCES rollouts (id),
    outcome     text NOT NULL CHECK (outcome IN ('installed', 'rolled_back', 'failed')),
    version     text NOT NULL CHECK (length(version) <= 64),
    failed      text CHECK (length(failed) <= 64),
    reason      text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    at          text NOT NULL CHECK (length(at) <= 40),
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, at, outcome, version)
);
CREATE INDEX update_reports_device ON update_reports (device_id, id);

-- The device's last failed or rolled-back update, in words, until a later one succeeds: the
-- "update" alert (central/alert_rules.py) is raised while it is set.
ALTER TABLE devices ADD COLUMN update_problem text CHECK (length(update_problem) <= 500);

-- Pages run as bitagora_web: ops read and change everything here; a merchant's users read their
-- devices' progress and reports. Devices reach these tables through central's own role.
ALTER TABLE update_bundles ENABLE ROW LEVEL SECURITY;
ALTER TABLE rollouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE rollout_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE update_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY update_bundles_ops ON update_bundles TO bitagora_web
    USING ((SELECT bitagora_is_ops())) WITH CHECK ((SELECT bitagora_is_ops()));
CREATE POLICY rollouts_own ON rollouts TO bitagora_web
    USING ((SELECT bitagora_is_ops()) OR merchant_id = (SELECT bitagora_merchant_id()))
    WITH CHECK ((SELECT bitagora_is_ops()));
CREATE POLICY rollout_devices_own ON rollout_devices TO bitagora_web
    USING ((SELECT bitagora_is_ops()) OR merchant_id = (SELECT bitagora_merchant_id()))
    WITH CHECK ((SELECT bitagora_is_ops()));
CREATE POLICY update_reports_own ON update_reports FOR SELECT TO bitagora_web
    USING ((SELECT bitagora_is_ops()) OR merchant_id = (SELECT bitagora_merchant_id()));
GRANT SELECT, INSERT ON update_bundles TO bitagora_web;
GRANT SELECT, INSERT ON rollouts, rollout_devices TO bitagora_web;
GRANT UPDATE (state, state_reason, changed_at, cohort) ON rollouts TO bitagora_web;
GRANT SELECT ON update_reports TO bitagora_web;
GRANT USAGE ON SEQUENCE update_bundles_id_seq, rollouts_id_seq TO bitagora_web;
