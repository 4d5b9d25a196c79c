-- The shop server, schema 9: each SMS sent to a customer with Twilio's latest report on it,
-- and the numbers that replied STOP (the Twilio account is the server's: so is the list).

CREATE TABLE sms_messages (
    sid         TEXT PRIMARY KEY,             -- Twilio's message SID
    shop_id     BLOB NOT NULL REFERENCES shops (id),
    order_id    BLOB NOT NULL,
    outbox_id   BLOB NOT NULL,                -- the notification it carried
    recipient   TEXT NOT NULL,
    status      TEXT NOT NULL,                -- Twilio's: queued, sent, delivered, undelivered, failed
    error_code  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX sms_messages_by_order ON sms_messages (shop_id, order_id, created_at);

CREATE TABLE sms_opt_outs (
    phone       TEXT PRIMARY KEY,             -- E.164
    opted_out   INTEGER NOT NULL,             -- 1 after STOP, 0 after START
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
