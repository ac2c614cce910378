-- Placeholder: 0009 belongs to the shifts branch (0009_shifts.sql), developed at the same time.
-- It only keeps the numbering gap-free so the refunds branch runs on its own. DELETE THIS FILE
-- when merging with the shifts branch (two 0009 files make db.migrations refuse to start).
SELECT 1;
