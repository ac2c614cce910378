-- Ops set the alert thresholds on the Alerts page (/alerts/thresholds) instead of in SQL: the
-- page runs as bitagora_web, which may read and change them for ops only.
CREATE POLICY alert_thresholds_ops ON alert_thresholds TO bitagora_web
    USING (bitagora_is_ops()) WITH CHECK (bitagora_is_ops());
GRANT SELECT, INSERT, UPDATE, DELETE ON alert_thresholds TO bitagora_web;
