-- The shop server, schema 11: shops' email templates (see the SQLite migration).

CREATE TABLE message_templates (
    shop_id     uuid NOT NULL REFERENCES shops (id),
    kind        text NOT NULL,
    subject     text NOT NULL,
    text        text NOT NULL,
    html        text,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (shop_id, kind)
);
