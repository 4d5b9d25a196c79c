-- Schema 4: the first answer to each Idempotency-Key, so a retried request changes nothing.

CREATE TABLE idempotency_keys (
    shop_id       BLOB NOT NULL REFERENCES shops (id),
    key           TEXT NOT NULL,
    fingerprint   BLOB NOT NULL,     -- SHA-256 of method, path and body
    status        INTEGER,           -- NULL while the first request runs
    content_type  TEXT,
    body          BLOB,
    locked_until  INTEGER NOT NULL,  -- a crashed first request's claim ends here
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (shop_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
