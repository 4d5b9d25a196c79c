-- The shop server, schema 7: how a shop's tracking page looks (see the SQLite migration).

CREATE TABLE shop_branding (
    shop_id     uuid PRIMARY KEY REFERENCES shops (id),
    color       text,
    logo        bytea,
    logo_type   text,
    updated_at  timestamptz NOT NULL
);
