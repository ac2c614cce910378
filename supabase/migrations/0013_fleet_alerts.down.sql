-- Undoes 0013_fleet_alerts.sql: alerts, their history, notifications, thresholds and the audit
-- log are gone.
DROP TABLE audit_log;
DROP FUNCTION bitagora_audit_append_only();
DROP TRIGGER alerts_notify ON alerts;
DROP FUNCTION bitagora_alert_notification();
DROP TABLE alert_deliveries, alert_notifications, alert_thresholds, alerts;
