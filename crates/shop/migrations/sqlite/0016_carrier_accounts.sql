-- The shop server, schema 16: a shop's own carrier accounts (its API credentials), sealed
-- with the server key as webhook secrets are. The shop's parcels are asked about with them
-- before the operator's.
CREATE TABLE carrier_accounts (
    shop_id  BLOB NOT NULL REFERENCES shops (id),
    carrier  TEXT NOT NULL CHECK (carrier IN ('ups', 'fedex', 'usps', 'dhl', '17track')),
    sealed   BLOB NOT NULL,
    set_at   INTEGER NOT NULL,
    set_by   TEXT NOT NULL,
    PRIMARY KEY (shop_id, carrier)
) WITHOUT ROWID;
