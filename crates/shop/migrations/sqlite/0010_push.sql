-- The shop server, schema 10: the browsers that asked for Web Push about an order (a
-- subscription's endpoint and keys, as the browser's PushManager gives them).

CREATE TABLE push_subscriptions (
    shop_id     BLOB NOT NULL REFERENCES shops (id),
    order_id    BLOB NOT NULL,
    endpoint    TEXT NOT NULL,                -- the push service's URL for this browser
    p256dh      BLOB NOT NULL,                -- the browser's public key (65 bytes)
    auth        BLOB NOT NULL,                -- its authentication secret (16 bytes)
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (shop_id, order_id, endpoint)
) WITHOUT ROWID;
CREATE INDEX push_subscriptions_by_endpoint ON push_subscriptions (endpoint);
