-- The shop server, schema 15: which orders' tracking pages were opened on which day (UTC),
-- for the share of customers who looked for themselves. One row per order and day.
CREATE TABLE page_visits (
    shop_id   BLOB NOT NULL REFERENCES shops (id),
    order_id  BLOB NOT NULL,                 -- in the shop's tracking store
    day       INTEGER NOT NULL,  -- days since 1970-01-01, UTC
    PRIMARY KEY (shop_id, day, order_id)
) WITHOUT ROWID;
