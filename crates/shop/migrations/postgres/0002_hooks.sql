-- The shop server, schema 2: webhooks in. Each shop's signing secret per source (sealed with
-- the server's key, never in the clear), and the message ids already handled (replay check).

CREATE TABLE hook_secrets (
    shop_id  uuid NOT NULL REFERENCES shops (id),
    source   text NOT NULL CHECK (source IN ('17track', 'aftership', 'standard')),
    sealed   bytea NOT NULL,
    set_at   timestamptz NOT NULL,
    set_by   text NOT NULL,
    PRIMARY KEY (shop_id, source)
);

CREATE TABLE hook_messages (
    shop_id     uuid NOT NULL REFERENCES shops (id),
    source      text NOT NULL,
    message_id  text NOT NULL,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (shop_id, source, message_id)
);
CREATE INDEX hook_messages_by_time ON hook_messages (seen_at);
