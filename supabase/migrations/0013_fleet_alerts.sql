-- Fleet alerts (docs/OPERATIONS.md, "Device status and alerts"): what central raises from
-- heartbeats and ingest, one open row per device and kind, acknowledged by ops and resolved when
-- the condition clears; the thresholds, fleet-wide with per-merchant overrides; and the outbox of
-- their notifications with each channel's deliveries. And the audit log of every ops and merchant
-- action (docs/OPERATIONS.md, "Audit log"), append-only.

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

-- One notification per state change of an alert, made by the change itself whoever makes it
-- (central's evaluation, or a page as bitagora_web acknowledging): the trigger runs as the owner.
CREATE TABLE alert_notifications (
    id       bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id),
    event    text NOT NULL CHECK (event IN ('raised', 'acknowledged', 'resolved')),
    at       timestamptz NOT NULL,
    UNIQUE (alert_id, event)
);
-- Each channel's delivery of a notification: claimed, retried with backoff, delivered or given up
-- (central/notify.py).
CREATE TABLE alert_deliveries (
    notification_id bigint NOT NULL REFERENCES alert_notifications (id),
    channel         text NOT NULL CHECK (length(channel) <= 40),
    attempts        integer NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz,
    last_error      text CHECK (length(last_error) <= 500),
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX alert_deliveries_delivered ON alert_deliveries (channel, delivered_at);
ALTER TABLE alert_notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_deliveries ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION bitagora_alert_notification() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO alert_notifications (alert_id, event, at) VALUES (NEW.id, 'raised', NEW.raised_at)
            ON CONFLICT DO NOTHING;
        RETURN NEW;
    END IF;
    IF NEW.acknowledged_at IS NOT NULL AND OLD.acknowledged_at IS NULL THEN
        INSERT INTO alert_notifications (alert_id, event, at)
            VALUES (NEW.id, 'acknowledged', NEW.acknowledged_at) ON CONFLICT DO NOTHING;
    END IF;
    IF NEW.resolved_at IS NOT NULL AND OLD.resolved_at IS NULL THEN
        INSERT INTO alert_notifications (alert_id, event, at)
            VALUES (NEW.id, 'resolved', NEW.resolved_at) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION bitagora_alert_notification() FROM PUBLIC;
CREATE TRIGGER alerts_notify AFTER INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION bitagora_alert_notification();

-- Who did what, when, from where: one row per ops or merchant action, written in the action's own
-- transaction (central/audit.py). merchant_id is the merchant the action touched (NULL: the
-- fleet's, e.g. an ops user added); a merchant's users see their merchant's rows. An action on a
-- device (a fork resolved, a revocation, a move, ...) names it in device_id, for the device's page,
-- with what changed (detail) and, when ops had to say, why (reason).
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL CHECK (length(actor) <= 320),
    address     text CHECK (length(address) <= 100),
    merchant_id bigint REFERENCES merchants (id),
    action      text NOT NULL CHECK (length(action) <= 60),
    target      text NOT NULL CHECK (length(target) <= 500),
    device_id   text REFERENCES devices (device_id),
    detail      text NOT NULL DEFAULT '' CHECK (length(detail) <= 500),
    reason      text NOT NULL DEFAULT '' CHECK (length(reason) <= 500)
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_device ON audit_log (device_id, id) WHERE device_id IS NOT NULL;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT TO bitagora_web
    USING (bitagora_is_ops() OR merchant_id = bitagora_merchant_id());
CREATE POLICY audit_log_append ON audit_log FOR INSERT TO bitagora_web
    WITH CHECK (bitagora_is_ops() OR merchant_id = bitagora_merchant_id());
GRANT SELECT, INSERT ON audit_log TO bitagora_web;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO bitagora_web;
-- Append-only for everyone: bitagora_web has no UPDATE or DELETE grant, and this trigger refuses
-- them (and TRUNCATE) to the owner too, short of dropping the trigger.
CREATE FUNCTION bitagora_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION bitagora_audit_append_only();
