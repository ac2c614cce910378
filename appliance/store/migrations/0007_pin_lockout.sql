-- Device store, version 7: PIN lockout. Wrong PINs are counted per subject: 'till' (this till's
-- PIN pad, where a PIN alone says who is typing) or 'staff:<id>' (a logged-in staff member asking
-- for an approval PIN); five, each within 15 minutes of the one before, lock the subject for a
-- while, longer each time (core/lockout.py). Kept here so that a restart, or pulling the plug, does not lift a lockout.
-- Times are UTC wall-clock RFC 3339 ('2026-11-28T23:59:01.123456Z'); each lockout and each
-- manager's unlock is also a `staff_lockout` journal record (docs/PROTOCOL.md 1.4).

CREATE TABLE pin_lockout (
    subject         TEXT PRIMARY KEY
                    CHECK (subject = 'till' OR (subject GLOB 'staff:?*')),
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),  -- wrong PINs counted
    level           INTEGER NOT NULL DEFAULT 0 CHECK (level >= 0),     -- lockouts so far
    last_failure_at TEXT,
    locked_at       TEXT,              -- NULL when not locked
    locked_for_s    INTEGER NOT NULL DEFAULT 0 CHECK (locked_for_s >= 0)
);
