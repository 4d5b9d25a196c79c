-- The shop server, schema 8: what customers ask of an order (a new delivery address,
-- delivery instructions, a cancellation) with each request's history, and what they said of
-- each delivered parcel (a rating and a comment).

CREATE TABLE order_requests (
    id          BLOB PRIMARY KEY,             -- UUIDv7, born with the request
    shop_id     BLOB NOT NULL REFERENCES shops (id),
    order_id    BLOB NOT NULL,                -- in the shop's tracking store
    kind        TEXT NOT NULL,                -- address, instructions, cancel
    address     TEXT,                         -- kind address: the new address
    postcode    TEXT,                         -- kind address: its postcode
    text        TEXT,                         -- the instructions, or the customer's reason
    state       TEXT NOT NULL,                -- open, approved, rejected, withdrawn
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX order_requests_by_order ON order_requests (shop_id, order_id, created_at);
CREATE INDEX order_requests_by_state ON order_requests (shop_id, state, created_at);
-- At most one open request of each kind per order.
CREATE UNIQUE INDEX order_requests_one_open ON order_requests (shop_id, order_id, kind)
    WHERE state = 'open';

CREATE TABLE order_request_history (
    request_id  BLOB NOT NULL REFERENCES order_requests (id),
    seq         INTEGER NOT NULL,             -- 1 is the request itself
    state       TEXT NOT NULL,                -- the state it moved to
    by_who      TEXT NOT NULL,                -- 'customer', or the staff member or key
    note        TEXT,
    at          INTEGER NOT NULL,
    PRIMARY KEY (request_id, seq)
) WITHOUT ROWID;

CREATE TABLE shipment_feedback (
    shop_id      BLOB NOT NULL REFERENCES shops (id),
    shipment_id  BLOB NOT NULL,               -- in the shop's tracking store
    order_id     BLOB NOT NULL,
    carrier      TEXT NOT NULL,               -- kept for the analytics
    delivered_at INTEGER,
    rating       INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment      TEXT,
    created_at   INTEGER NOT NULL,            -- editable for a week from here
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (shop_id, shipment_id)
) WITHOUT ROWID;
CREATE INDEX shipment_feedback_by_order ON shipment_feedback (shop_id, order_id);
CREATE INDEX shipment_feedback_by_time ON shipment_feedback (shop_id, updated_at);
