-- The shop server, schema 6: what a customer asked of the notifications about one order
-- (see the SQLite migration).

CREATE TABLE order_contact (
    shop_id     uuid NOT NULL REFERENCES shops (id),
    order_id    uuid NOT NULL,
    email_off   boolean NOT NULL,
    sms_off     boolean NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);
