-- Remote actions (docs/OPERATIONS.md, "Remote actions"; docs/PROTOCOL.md 2.7): a job ops ask one
-- device to do (a test print, a drawer test, the doctor, its last log lines, a kiosk restart),
-- queued here, signed by central when the device fetches it, and finished by the result the
-- device posts back. An action not delivered by expires_at expires (central/remote_actions.py).

CREATE TABLE remote_actions (
    id           bigserial PRIMARY KEY,
    merchant_id  bigint NOT NULL REFERENCES merchants (id),
    device_id    text NOT NULL REFERENCES devices (device_id),
    kind         text NOT NULL
        CHECK (kind IN ('test_print', 'drawer_test', 'doctor', 'logs', 'restart')),
    parameters   jsonb NOT NULL DEFAULT '{}',
    requested_by text NOT NULL CHECK (length(requested_by) <= 320),
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'delivered', 'done', 'failed', 'expired')),
    delivered_at timestamptz,
    result       jsonb,
    finished_at  timestamptz,
    CHECK ((finished_at IS NULL) = (state IN ('queued', 'delivered')))
);
-- A device's actions, newest first (its page), and what it has still to do (its fetch).
CREATE INDEX remote_actions_device ON remote_actions (device_id, id DESC);
CREATE INDEX remote_actions_unfinished ON remote_actions (expires_at) WHERE finished_at IS NULL;

-- Pages run as bitagora_web: ops see and request every device's actions, a merchant's users
-- see their devices'. Delivery and results are written by the device API (central's own role).
ALTER TABLE remote_actions ENABLE ROW LEVEL SECURITY;
CREATE POLICY remote_actions_read ON remote_actions FOR SELECT TO bitagora_web
    USING ((SELECT bitagora_is_ops()) OR merchant_id = (SELECT bitagora_merchant_id()));
CREATE POLICY remote_actions_request ON remote_actions FOR INSERT TO bitagora_web
    WITH CHECK ((SELECT bitagora_is_ops()));
GRANT SELECT ON remote_actions TO bitagora_web;
GRANT INSERT (merchant_id, device_id, kind, parameters, requested_by, requested_at, expires_at)
    ON remote_actions TO bitagora_web;
GRANT USAGE ON SEQUENCE remote_actions_id_seq TO bitagora_web;
