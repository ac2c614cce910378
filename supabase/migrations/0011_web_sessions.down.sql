-- Undoes 0011_web_sessions.sql: sessions go back into the cookie (every user logs in again) and
-- the per-user lock comes back, unlocked.
ALTER TABLE web_users
    ADD COLUMN session_epoch integer NOT NULL DEFAULT 0,
    ADD COLUMN failed_logins integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_until timestamptz;
GRANT SELECT (session_epoch, failed_logins, locked_until) ON web_users TO bitagora_web;
GRANT UPDATE (session_epoch, failed_logins, locked_until) ON web_users TO bitagora_web;
DROP TRIGGER web_users_end_sessions ON web_users;
DROP FUNCTION bitagora_end_sessions();
DROP TABLE login_attempts, web_sessions;
