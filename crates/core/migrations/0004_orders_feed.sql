-- Schema 4: orders as records of their own (customer, stage, removal), the stage log and
-- the durable change feed.

-- Who ordered. The *_lower columns are the store's own case-folded copies (folded by the
-- program, so every backend folds alike), searched by `orders()`.
ALTER TABLE orders ADD COLUMN customer_name TEXT;
ALTER TABLE orders ADD COLUMN customer_email TEXT;
ALTER TABLE orders ADD COLUMN customer_phone TEXT;
ALTER TABLE orders ADD COLUMN customer_postcode TEXT;
ALTER TABLE orders ADD COLUMN customer_address TEXT;
ALTER TABLE orders ADD COLUMN customer_name_lower TEXT;
ALTER TABLE orders ADD COLUMN customer_email_lower TEXT;
-- The order's own stage (received | in_preparation | shipped | cancelled) and when it was set.
ALTER TABLE orders ADD COLUMN stage TEXT NOT NULL DEFAULT 'received';
ALTER TABLE orders ADD COLUMN stage_at INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET stage_at = created_at;
-- A tombstone, so removal can sync; its stamp as for shipments.
ALTER TABLE orders ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET deleted_at = created_at;

-- One live order per store and number: a removed one's number may be given again (and a
-- save with it revives the tombstone when no live order has it).
DROP INDEX orders_by_number;
CREATE UNIQUE INDEX orders_by_number ON orders (coalesce(store, ''), order_number)
    WHERE order_number IS NOT NULL AND deleted = 0;
-- Lookups by number, live or removed, and `orders()`'s filters, each with the id so a page
-- (newest first, by id) is read from the index in order.
CREATE INDEX orders_by_order_number ON orders (order_number, id) WHERE order_number IS NOT NULL;
CREATE INDEX orders_by_email ON orders (customer_email_lower, id)
    WHERE customer_email_lower IS NOT NULL;
CREATE INDEX orders_by_placed ON orders (placed_at) WHERE placed_at IS NOT NULL;
CREATE INDEX orders_by_store ON orders (store, id) WHERE store IS NOT NULL;
CREATE INDEX orders_by_stage ON orders (stage, id);
-- "Orders with a parcel in this status / at this carrier".
CREATE INDEX shipments_by_status ON shipments (status, order_id) WHERE deleted = 0;
CREATE INDEX shipments_by_carrier ON shipments (carrier, order_id) WHERE deleted = 0;

-- Every stage an order was set to, with who and why; the first row is its creation
-- (from = to). Orders from before this schema get theirs here.
CREATE TABLE order_stages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id   BLOB NOT NULL REFERENCES orders (id),
    from_stage TEXT NOT NULL,
    to_stage   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    note       TEXT,
    changed_at INTEGER NOT NULL
);
CREATE INDEX order_stages_by_order ON order_stages (order_id, id);
INSERT INTO order_stages (order_id, from_stage, to_stage, actor, changed_at)
    SELECT id, 'received', 'received', 'system', created_at FROM orders ORDER BY created_at, id;

-- The durable change feed: every committed change, appended in its own transaction, read
-- from a position on (`seq` never goes back, even after entries are pruned). `data` is the
-- change as JSON.
CREATE TABLE feed (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    order_id    BLOB,
    shipment_id BLOB,
    data        TEXT NOT NULL
);
CREATE INDEX feed_by_time ON feed (at);
