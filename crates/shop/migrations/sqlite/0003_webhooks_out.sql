-- The shop server, webhooks out: the URLs a shop subscribes to its changes, one delivery per
-- (endpoint, event), and every attempt at sending one. Times are UTC milliseconds, ids
-- UUIDv7 as 16-byte blobs, as in 0001.

CREATE TABLE webhook_endpoints (
    id               BLOB PRIMARY KEY NOT NULL,
    shop_id          BLOB NOT NULL REFERENCES shops (id),
    url              TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    event_types      TEXT NOT NULL DEFAULT '',   -- comma-separated; empty: every type
    enabled          INTEGER NOT NULL DEFAULT 1,
    secret_sealed    BLOB NOT NULL,              -- the signing secret, encrypted
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    disabled_reason  TEXT
);
CREATE INDEX webhook_endpoints_by_shop ON webhook_endpoints (shop_id);

-- A delivery is due while it is `pending` or `delivering` and `next_attempt_at` has come: a
-- claim sets `next_attempt_at` to the end of its lease, so a claimer that dies leaves work
-- that falls due again when its lease ends. `lease_token` names the claim; only its holder
-- may record the attempt's outcome.
CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY NOT NULL,
    shop_id          BLOB NOT NULL REFERENCES shops (id),
    endpoint_id      BLOB NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0, -- in the current series (a replay starts one)
    next_attempt_at  INTEGER,                    -- NULL once delivered or failed
    lease_until      INTEGER,
    lease_token      BLOB,
    last_error       TEXT,
    last_status      INTEGER,
    last_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (last_attempt_at)
    WHERE state IN ('delivered', 'failed');

CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  BLOB NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    status       INTEGER,                        -- the HTTP status, if an answer came
    error        TEXT,                           -- NULL when it was delivered
    duration_ms  INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
