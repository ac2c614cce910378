-- Backups of central's database that finished (central/backup.py), newest last: readiness
-- (/readyz) fails when the newest is older than BITAGORA_CENTRAL_BACKUP_MAX_AGE_H. Only the
-- owner (central's own role) reads or writes it: RLS on, no policy, nothing granted.
CREATE TABLE central_backups (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file        text NOT NULL,           -- its name in the backup folder
    bytes       bigint NOT NULL,
    sha256      text NOT NULL,           -- of the encrypted file, as written
    rows        bigint NOT NULL,         -- rows of every table, counted in the dump's snapshot
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE central_backups ENABLE ROW LEVEL SECURITY;
