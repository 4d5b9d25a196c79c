-- The shop server, schema 9: SMS sent with Twilio's reports, and STOP replies (see the
-- SQLite migration).

CREATE TABLE sms_messages (
    sid         text PRIMARY KEY,
    shop_id     uuid NOT NULL REFERENCES shops (id),
    order_id    uuid NOT NULL,
    outbox_id   uuid NOT NULL,
    recipient   text NOT NULL,
    status      text NOT NULL,
    error_code  integer,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX sms_messages_by_order ON sms_messages (shop_id, order_id, created_at);

CREATE TABLE sms_opt_outs (
    phone       text PRIMARY KEY,
    opted_out   boolean NOT NULL,
    updated_at  timestamptz NOT NULL
);
