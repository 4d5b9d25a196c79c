-- Schema 4: the first answer to each Idempotency-Key, so a retried request changes nothing.

CREATE TABLE idempotency_keys (
    shop_id       uuid NOT NULL REFERENCES shops (id),
    key           text NOT NULL,
    fingerprint   bytea NOT NULL,      -- SHA-256 of method, path and body
    status        integer,             -- NULL while the first request runs
    content_type  text,
    body          bytea,
    locked_until  timestamptz NOT NULL, -- a crashed first request's claim ends here
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (shop_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
