-- The shop server, schema 12: what a customer chose for one order's notifications, each part
-- unset until they choose it (the shop's default then), and the shop's defaults.

ALTER TABLE order_contact ADD COLUMN email_on INTEGER;     -- NULL: the shop's default
ALTER TABLE order_contact ADD COLUMN sms_on INTEGER;
ALTER TABLE order_contact ADD COLUMN kinds TEXT;           -- which news, as a kind list
ALTER TABLE order_contact ADD COLUMN language TEXT;        -- en, de
ALTER TABLE order_contact ADD COLUMN time_zone TEXT;       -- an IANA zone
-- Every earlier row was a choice made when both channels were on by default.
UPDATE order_contact SET email_on = 1 - email_off, sms_on = 1 - sms_off;
ALTER TABLE order_contact DROP COLUMN email_off;
ALTER TABLE order_contact DROP COLUMN sms_off;

CREATE TABLE notify_settings (
    shop_id          BLOB PRIMARY KEY REFERENCES shops (id),
    email_on         INTEGER NOT NULL,
    sms_on           INTEGER NOT NULL,
    kinds            TEXT NOT NULL,
    quiet_start      TEXT,                    -- HH:MM in the customer's zone; NULL: none
    quiet_end        TEXT,
    quiet_delivered  INTEGER NOT NULL,        -- "delivered" goes through quiet hours
    time_zone        TEXT NOT NULL,           -- for customers whose zone is not known
    language         TEXT NOT NULL,           -- for customers whose language is not known
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;
