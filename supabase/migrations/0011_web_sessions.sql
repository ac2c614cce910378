-- Web logins made safe (docs/OPERATIONS.md, "Sessions and logins"): sessions kept on the server,
-- so that logging out, a password change or a deactivation ends them for good, and login
-- throttling counted in one row per key, so that parallel attempts cannot slip past the count.

-- A session: the cookie holds a random id, this table its SHA-256, so that a copy of the table
-- logs nobody in. A row exists only while the user is logged in (central/sessions.py).
CREATE TABLE web_sessions (
    id_hash    bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id    bigint NOT NULL REFERENCES web_users (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- Login attempts per key (an account, an address, an account from an address): attempts counted,
-- and the earliest time the next one is checked (central/throttle.py).
CREATE TABLE login_attempts (
    key        text PRIMARY KEY CHECK (length(key) <= 400),
    attempts   integer NOT NULL,
    not_before timestamptz NOT NULL,
    last_at    timestamptz NOT NULL
);
CREATE INDEX login_attempts_last ON login_attempts (last_at);

-- Only central's own role (the owner) reads or writes either table: no policy, no grant.
ALTER TABLE web_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_attempts ENABLE ROW LEVEL SECURITY;

-- A new password or a deactivation ends every session of the user, whoever makes the change (the
-- ops pages as bitagora_web, the command line, SQL): the trigger runs as the tables' owner.
CREATE FUNCTION bitagora_end_sessions() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
BEGIN
    DELETE FROM web_sessions WHERE user_id = NEW.id;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION bitagora_end_sessions() FROM PUBLIC;
CREATE TRIGGER web_users_end_sessions AFTER UPDATE OF password_hash, active ON web_users
    FOR EACH ROW
    WHEN (NEW.password_hash IS DISTINCT FROM OLD.password_hash OR NOT NEW.active)
    EXECUTE FUNCTION bitagora_end_sessions();

-- What the sessions and the attempts table replace: the per-user lock that refused the right
-- password too, and the epoch a cookie-held session was checked against.
ALTER TABLE web_users DROP COLUMN failed_logins, DROP COLUMN locked_until,
    DROP COLUMN session_epoch;
