-- Device store, version 16: staff can be deactivated (issue 13). A deactivated person keeps their
-- row, badges and history (sales, records name them), but no PIN or badge of theirs unlocks the
-- till or approves anything. Each change of staff is a `staff` journal record (docs/PROTOCOL.md).
-- Additive only: a release rolled back past this one does not know the flag, and lets a
-- deactivated person unlock again until the newer release is back.

ALTER TABLE staff ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
