-- Undoes 0015_remote_actions.sql: the queued actions and their results are gone (the audit log
-- keeps who asked for each and what came back).
DROP TABLE remote_actions;
