-- Device store, version 18: remote actions from central (docs/PROTOCOL.md 2.7). The uplink
-- stores each action it verified, once (central's id is the key: a replayed action is already
-- known); the uplink runs the doctor and log uploads, the kiosk the test print, drawer test and
-- restart; whoever runs one writes its result here, and the uplink reports it to central.
-- Additive only: an older release ignores the table.
CREATE TABLE remote_actions (
    id          INTEGER PRIMARY KEY,  -- central's action id
    kind        TEXT NOT NULL,
    parameters  TEXT NOT NULL,        -- JSON object, as signed
    signed      TEXT NOT NULL,        -- the signed action as central sent it (JSON)
    expires_at  INTEGER NOT NULL,     -- unix seconds, central's clock: not run after it
    received_at TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed')),
    result      TEXT,                 -- JSON object, once done or failed
    finished_at TEXT,
    reported_at TEXT                  -- when central took the result
);
CREATE INDEX remote_actions_queued ON remote_actions (id) WHERE state = 'queued';
CREATE INDEX remote_actions_unreported ON remote_actions (id)
    WHERE finished_at IS NOT NULL AND reported_at IS NULL;
