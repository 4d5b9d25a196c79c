-- The shop server, schema 8: customers' requests about an order and their history, and
-- their feedback on delivered parcels (see the SQLite migration).

CREATE TABLE order_requests (
    id          uuid PRIMARY KEY,
    shop_id     uuid NOT NULL REFERENCES shops (id),
    order_id    uuid NOT NULL,
    kind        text NOT NULL,
    address     text,
    postcode    text,
    text        text,
    state       text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX order_requests_by_order ON order_requests (shop_id, order_id, created_at);
CREATE INDEX order_requests_by_state ON order_requests (shop_id, state, created_at);
CREATE UNIQUE INDEX order_requests_one_open ON order_requests (shop_id, order_id, kind)
    WHERE state = 'open';

CREATE TABLE order_request_history (
    request_id  uuid NOT NULL REFERENCES order_requests (id),
    seq         integer NOT NULL,
    state       text NOT NULL,
    by_who      text NOT NULL,
    note        text,
    at          timestamptz NOT NULL,
    PRIMARY KEY (request_id, seq)
);

CREATE TABLE shipment_feedback (
    shop_id      uuid NOT NULL REFERENCES shops (id),
    shipment_id  uuid NOT NULL,
    order_id     uuid NOT NULL,
    carrier      text NOT NULL,
    delivered_at timestamptz,
    rating       smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment      text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (shop_id, shipment_id)
);
CREATE INDEX shipment_feedback_by_order ON shipment_feedback (shop_id, order_id);
CREATE INDEX shipment_feedback_by_time ON shipment_feedback (shop_id, updated_at);
