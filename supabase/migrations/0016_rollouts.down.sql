-- Undoes 0016_rollouts.sql: bundles, rollouts, their progress and the devices' update reports go
-- with their policies and grants.
ALTER TABLE devices DROP COLUMN update_problem;
DROP TABLE update_reports;
DROP TABLE rollout_devices;
DROP TABLE rollouts;
DROP TABLE update_bundles;
