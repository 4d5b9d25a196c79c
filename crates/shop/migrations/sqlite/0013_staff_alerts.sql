-- The shop server, schema 13: where a shop's staff are alerted of parcels that need them
-- (stuck, late). No row: no alerts.

CREATE TABLE shop_alerts (
    shop_id     BLOB PRIMARY KEY REFERENCES shops (id),
    email       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
