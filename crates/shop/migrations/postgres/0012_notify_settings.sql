-- The shop server, schema 12: customers' choices per order, each part unset until chosen,
-- and the shop's defaults (see the SQLite migration).

ALTER TABLE order_contact ADD COLUMN email_on boolean;
ALTER TABLE order_contact ADD COLUMN sms_on boolean;
ALTER TABLE order_contact ADD COLUMN kinds text;
ALTER TABLE order_contact ADD COLUMN language text;
ALTER TABLE order_contact ADD COLUMN time_zone text;
UPDATE order_contact SET email_on = NOT email_off, sms_on = NOT sms_off;
ALTER TABLE order_contact DROP COLUMN email_off;
ALTER TABLE order_contact DROP COLUMN sms_off;

CREATE TABLE notify_settings (
    shop_id          uuid PRIMARY KEY REFERENCES shops (id),
    email_on         boolean NOT NULL,
    sms_on           boolean NOT NULL,
    kinds            text NOT NULL,
    quiet_start      text,
    quiet_end        text,
    quiet_delivered  boolean NOT NULL,
    time_zone        text NOT NULL,
    language         text NOT NULL,
    updated_at       timestamptz NOT NULL
);
