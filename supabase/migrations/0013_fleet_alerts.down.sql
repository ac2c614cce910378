-- Undoes 0013_fleet_alerts.sql: alerts, their history and the thresholds are gone.
DROP TABLE alert_thresholds, alerts;
