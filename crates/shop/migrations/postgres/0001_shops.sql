-- The shop server, schema 1: shops, their staff, API keys, one-time links and login sessions.
-- Ids are UUIDv7. Secrets are never stored: keys, links and session tokens as their SHA-256,
-- passwords as Argon2id PHC strings.

CREATE TABLE shops (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE staff (
    id             uuid PRIMARY KEY,
    shop_id        uuid NOT NULL REFERENCES shops (id),
    email          text NOT NULL,
    role           text NOT NULL CHECK (role IN ('owner', 'staff')),
    password_hash  text,
    created_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX staff_by_email ON staff (email);
CREATE INDEX staff_by_shop ON staff (shop_id);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    shop_id       uuid NOT NULL REFERENCES shops (id),
    name          text NOT NULL,
    prefix        text NOT NULL,
    hash          bytea NOT NULL UNIQUE,
    scopes        text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_by_shop ON api_keys (shop_id);

CREATE TABLE staff_links (
    hash        bytea PRIMARY KEY,
    staff_id    uuid NOT NULL REFERENCES staff (id),
    purpose     text NOT NULL CHECK (purpose IN ('setup')),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE TABLE sessions (
    hash        bytea PRIMARY KEY,
    staff_id    uuid NOT NULL REFERENCES staff (id),
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_by_staff ON sessions (staff_id);
