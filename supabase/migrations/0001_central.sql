-- Central's schema: merchants, enrollment codes, devices, their journals, request nonces and
-- ops users. Plain PostgreSQL (13+) so that it also applies to a Supabase project.
-- Central applies migrations in file-name order and records each in schema_migrations.

-- Central's runner creates this table before applying anything; it is declared here too so that
-- the file also applies on its own (psql, the Supabase CLI).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE merchants (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a code is kept: a database leak does not hand out enrollments.
CREATE TABLE enrollment_codes (
    code_hash   text PRIMARY KEY,
    merchant_id bigint NOT NULL REFERENCES merchants (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     text
);

CREATE TABLE devices (
    device_id           text PRIMARY KEY,
    public_key          bytea NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    merchant_id         bigint NOT NULL REFERENCES merchants (id),
    enrolled_at         timestamptz NOT NULL DEFAULT now(),
    version             text,
    -- The highest journal seq held and its hash: the chain link for the next push.
    held_seq            bigint NOT NULL DEFAULT 0,
    held_hash           text,
    -- What the last heartbeat reported.
    last_seen_at        timestamptz,
    uptime_s            bigint,
    backlog             bigint,
    oldest_unsent_age_s bigint,
    reported_last_seq   bigint,
    printer_online      boolean,
    printer_paper       text,
    clock_offset_s      bigint,
    last_heartbeat      text,
    -- Set when the device sent a different record for a seq central already held.
    forked_at           timestamptz,
    fork_seq            bigint
);

-- One row per journal record, exactly as signed: body_json is the canonical JSON of the body
-- (text rather than jsonb, which rejects \u0000 and would block a valid chain).
CREATE TABLE journal_records (
    device_id   text NOT NULL REFERENCES devices (device_id),
    seq         bigint NOT NULL CHECK (seq >= 1),
    kind        text NOT NULL,
    at          text NOT NULL,
    body_json   text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    sig         text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, seq)
);

-- Running sales totals per device and currency, kept in the push transaction so that the
-- dashboard never scans journals.
CREATE TABLE device_sales (
    device_id   text NOT NULL REFERENCES devices (device_id),
    currency    text NOT NULL,
    sales       bigint NOT NULL DEFAULT 0,
    total_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, currency)
);

-- Batches that contradicted held records (a fork), kept verbatim for investigation.
CREATE TABLE quarantined_batches (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   text NOT NULL REFERENCES devices (device_id),
    seq         bigint NOT NULL,
    reason      text NOT NULL,
    batch_json  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantined_batches_device ON quarantined_batches (device_id);

-- Nonces of signed requests, remembered until their signature falls out of the time window.
CREATE TABLE request_nonces (
    device_id   text NOT NULL,
    nonce       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at);

CREATE TABLE ops_users (
    username        text PRIMARY KEY,
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);

-- On Supabase every table in "public" is reachable through its REST API with the anon key unless
-- row level security is on. With RLS on and no policies only the owner (central's own role)
-- reads and writes; on a plain PostgreSQL this changes nothing for central.
ALTER TABLE merchants ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrollment_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE journal_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_sales ENABLE ROW LEVEL SECURITY;
ALTER TABLE quarantined_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE request_nonces ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY;
