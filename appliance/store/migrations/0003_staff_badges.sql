-- Device store, version 4: staff badges. A staff member may unlock the till by tapping an NFC
-- badge as well as by PIN. A badge is its card UID (4, 7 or 10 bytes, upper-case hex without
-- separators, as the reader reports it); one badge belongs to one staff member, a staff member
-- may have several (a spare, a replacement for a lost one). Deleting a staff row with badges
-- fails: unbind the badges first.

CREATE TABLE staff_badges (
    uid      TEXT PRIMARY KEY
             CHECK (length(uid) IN (8, 14, 20) AND uid NOT GLOB '*[^0-9A-F]*'),
    staff_id TEXT NOT NULL REFERENCES staff(id),
    bound_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE INDEX staff_badges_by_staff ON staff_badges (staff_id);
