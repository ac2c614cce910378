-- Undoes 0018_alert_threshold_page.sql: thresholds are set by central's own role again.
REVOKE SELECT, INSERT, UPDATE, DELETE ON alert_thresholds FROM bitagora_web;
DROP POLICY alert_thresholds_ops ON alert_thresholds;
