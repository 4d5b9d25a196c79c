-- The shop server, schema 11: a shop's own wording of its customers' emails, per piece of
-- news (`default` for any without its own), with merge fields.

CREATE TABLE message_templates (
    shop_id     BLOB NOT NULL REFERENCES shops (id),
    kind        TEXT NOT NULL,                -- default, shipped, delivered, failed_attempt, …
    subject     TEXT NOT NULL,
    text        TEXT NOT NULL,                -- the plain-text part
    html        TEXT,                         -- the HTML part (none: made from the text)
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (shop_id, kind)
) WITHOUT ROWID;
