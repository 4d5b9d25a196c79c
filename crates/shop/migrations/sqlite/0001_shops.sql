-- The shop server, schema 1: shops, their staff, API keys, one-time links and login sessions.
-- Times are integers: milliseconds since the Unix epoch (UTC). Ids are UUIDv7 as 16-byte blobs.
-- Secrets are never stored: keys, links and session tokens as their SHA-256, passwords as
-- Argon2id PHC strings.

CREATE TABLE shops (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE staff (
    id             BLOB PRIMARY KEY NOT NULL,
    shop_id        BLOB NOT NULL REFERENCES shops (id),
    email          TEXT NOT NULL,             -- lower case
    role           TEXT NOT NULL CHECK (role IN ('owner', 'staff')),
    password_hash  TEXT,                      -- NULL until the one-time link is used
    created_at     INTEGER NOT NULL
);
-- One account per address: the login form asks for nothing but the address and password.
CREATE UNIQUE INDEX staff_by_email ON staff (email);
CREATE INDEX staff_by_shop ON staff (shop_id);

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY NOT NULL,
    shop_id       BLOB NOT NULL REFERENCES shops (id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,              -- the key's first characters, to recognise it
    hash          BLOB NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,              -- comma-separated: read, write, ingest
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_keys_by_shop ON api_keys (shop_id);

CREATE TABLE staff_links (
    hash        BLOB PRIMARY KEY NOT NULL,
    staff_id    BLOB NOT NULL REFERENCES staff (id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('setup')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE sessions (
    hash        BLOB PRIMARY KEY NOT NULL,
    staff_id    BLOB NOT NULL REFERENCES staff (id),
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_by_staff ON sessions (staff_id);
