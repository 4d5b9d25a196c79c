-- Schema 4: orders as records of their own (customer, stage, removal), the stage log and
-- the durable change feed (crates/core/migrations/0004_orders_feed.sql).

-- Who ordered. The *_lower columns are the store's own case-folded copies (folded by the
-- program, so both backends fold alike), searched by `orders()`.
ALTER TABLE orders ADD COLUMN customer_name text;
ALTER TABLE orders ADD COLUMN customer_email text;
ALTER TABLE orders ADD COLUMN customer_phone text;
ALTER TABLE orders ADD COLUMN customer_postcode text;
ALTER TABLE orders ADD COLUMN customer_address text;
ALTER TABLE orders ADD COLUMN customer_name_lower text;
ALTER TABLE orders ADD COLUMN customer_email_lower text;
-- The order's own stage (received | in_preparation | shipped | cancelled) and when it was set.
ALTER TABLE orders ADD COLUMN stage text NOT NULL DEFAULT 'received';
ALTER TABLE orders ADD COLUMN stage_at bigint NOT NULL DEFAULT 0;
UPDATE orders SET stage_at = created_at;
-- A tombstone, so removal can sync; its stamp as for shipments.
ALTER TABLE orders ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE orders ADD COLUMN deleted_at bigint NOT NULL DEFAULT 0;
UPDATE orders SET deleted_at = created_at;

-- One live order per store and number: a removed one's number may be given again (and a
-- save with it revives the tombstone when no live order has it).
DROP INDEX orders_by_number;
CREATE UNIQUE INDEX orders_by_number ON orders ((coalesce(store, '')), order_number)
    WHERE order_number IS NOT NULL AND NOT deleted;
-- Lookups by number, live or removed, and `orders()`'s filters, each with the id so a page
-- (newest first, by id) is read from the index in order.
CREATE INDEX orders_by_order_number ON orders (order_number, id) WHERE order_number IS NOT NULL;
CREATE INDEX orders_by_email ON orders (customer_email_lower, id)
    WHERE customer_email_lower IS NOT NULL;
CREATE INDEX orders_by_placed ON orders (placed_at) WHERE placed_at IS NOT NULL;
CREATE INDEX orders_by_store ON orders (store, id) WHERE store IS NOT NULL;
CREATE INDEX orders_by_stage ON orders (stage, id);
-- "Orders with a parcel in this status / at this carrier".
CREATE INDEX shipments_by_status ON shipments (status, order_id) WHERE NOT deleted;
CREATE INDEX shipments_by_carrier ON shipments (carrier, order_id) WHERE NOT deleted;

-- Every stage an order was set to, with who and why; the first row is its creation
-- (from = to). Orders from before this schema get theirs here.
CREATE TABLE order_stages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id),
    from_stage text NOT NULL,
    to_stage   text NOT NULL,
    actor      text NOT NULL,
    note       text,
    changed_at bigint NOT NULL
);
CREATE INDEX order_stages_by_order ON order_stages (order_id, id);
INSERT INTO order_stages (order_id, from_stage, to_stage, actor, changed_at)
    SELECT id, 'received', 'received', 'system', created_at FROM orders ORDER BY created_at, id;

-- The durable change feed: every committed change, appended in its own transaction under
-- the journal lock (so `seq` becomes visible in order), read from a position on. `data` is
-- the change as JSON.
CREATE TABLE feed (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          bigint NOT NULL,
    order_id    uuid,
    shipment_id uuid,
    data        text NOT NULL
);
CREATE INDEX feed_by_time ON feed (at);
