-- The shop server, schema 10: Web Push subscriptions per order (see the SQLite migration).

CREATE TABLE push_subscriptions (
    shop_id     uuid NOT NULL REFERENCES shops (id),
    order_id    uuid NOT NULL,
    endpoint    text NOT NULL,
    p256dh      bytea NOT NULL,
    auth        bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (shop_id, order_id, endpoint)
);
CREATE INDEX push_subscriptions_by_endpoint ON push_subscriptions (endpoint);
