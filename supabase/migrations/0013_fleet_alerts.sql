-- Fleet alerts (docs/OPERATIONS.md, "Alerts"): what central raises from heartbeats and ingest, one
-- open row per device and kind, acknowledged by ops and resolved when the condition clears; and
-- the thresholds, fleet-wide with per-merchant overrides.

CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES merchants (id),
    device_id       text NOT NULL REFERENCES devices (device_id),
    kind            text NOT NULL CHECK (length(kind) <= 40),
    detail          text NOT NULL CHECK (length(detail) <= 500),
    raised_at       timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text CHECK (length(acknowledged_by) <= 320),
    resolved_at     timestamptz,
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
-- One open alert per device and kind: raising it again while open changes nothing.
CREATE UNIQUE INDEX alerts_open ON alerts (device_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_raised ON alerts (raised_at DESC);
CREATE INDEX alerts_merchant ON alerts (merchant_id);

-- A threshold (central/alert_rules.py names them); merchant_id NULL is the fleet's value, a row
-- with a merchant overrides it for that merchant's devices; without a row the built-in default.
CREATE TABLE alert_thresholds (
    merchant_id bigint REFERENCES merchants (id),
    name        text NOT NULL CHECK (length(name) <= 40),
    value       bigint NOT NULL CHECK (value >= 0),
    UNIQUE NULLS NOT DISTINCT (merchant_id, name)
);

-- Pages run as bitagora_web: ops see every alert, a merchant's users their devices'; the only
-- change a page makes is the acknowledgement. Thresholds are set by central's own role (SQL).
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_thresholds ENABLE ROW LEVEL SECURITY;
CREATE POLICY alerts_own ON alerts TO bitagora_web
    USING (bitagora_is_ops() OR merchant_id = bitagora_merchant_id())
    WITH CHECK (bitagora_is_ops() OR merchant_id = bitagora_merchant_id());
GRANT SELECT ON alerts TO bitagora_web;
GRANT UPDATE (acknowledged_at, acknowledged_by) ON alerts TO bitagora_web;
