-- The shop server, schema 2: webhooks in. Each shop's signing secret per source (sealed with
-- the server's key, never in the clear), and the message ids already handled (replay check).

CREATE TABLE hook_secrets (
    shop_id  BLOB NOT NULL REFERENCES shops (id),
    source   TEXT NOT NULL CHECK (source IN ('17track', 'aftership', 'standard')),
    sealed   BLOB NOT NULL,               -- version, nonce, XChaCha20-Poly1305 ciphertext
    set_at   INTEGER NOT NULL,
    set_by   TEXT NOT NULL,               -- who set it (an email address, a key's prefix)
    PRIMARY KEY (shop_id, source)
) WITHOUT ROWID;

CREATE TABLE hook_messages (
    shop_id     BLOB NOT NULL REFERENCES shops (id),
    source      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (shop_id, source, message_id)
) WITHOUT ROWID;
-- The sweep of old ids.
CREATE INDEX hook_messages_by_time ON hook_messages (seen_at);
