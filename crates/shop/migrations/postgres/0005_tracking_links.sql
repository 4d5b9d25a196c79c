-- The shop server, schema 5: customers' tracking links (see the SQLite migration).

CREATE TABLE link_keys (
    shop_id              uuid PRIMARY KEY REFERENCES shops (id),
    generation           integer NOT NULL,
    sealed               bytea NOT NULL,
    days_after_delivery  integer NOT NULL,
    show_address         boolean NOT NULL,
    rotated_at           timestamptz NOT NULL
);

CREATE TABLE order_links (
    shop_id     uuid NOT NULL REFERENCES shops (id),
    order_id    uuid NOT NULL,
    generation  integer NOT NULL,
    revoked_at  timestamptz NOT NULL,
    revoked_by  text NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);
