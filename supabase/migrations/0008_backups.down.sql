-- Undoes 0008_backups.sql: the record of backups goes, the backup files stay where they are.
DROP TABLE central_backups;
