-- Undoes 0013_fleet_alerts.sql: alerts, their history, notifications and thresholds are gone.
DROP TRIGGER alerts_notify ON alerts;
DROP FUNCTION bitagora_alert_notification();
DROP TABLE alert_deliveries, alert_notifications, alert_thresholds, alerts;
