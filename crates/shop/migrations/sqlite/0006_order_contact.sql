-- The shop server, schema 6: what a customer asked of the notifications about one order
-- (an unsubscribe link, STOP by SMS). No row: the shop's defaults.

CREATE TABLE order_contact (
    shop_id     BLOB NOT NULL REFERENCES shops (id),
    order_id    BLOB NOT NULL,                -- in the shop's tracking store
    email_off   INTEGER NOT NULL,             -- 0 or 1
    sms_off     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (shop_id, order_id)
) WITHOUT ROWID;
