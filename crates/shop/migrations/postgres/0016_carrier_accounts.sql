-- The shop server, schema 16: a shop's own carrier accounts (its API credentials), sealed
-- with the server key as webhook secrets are. The shop's parcels are asked about with them
-- before the operator's.
CREATE TABLE carrier_accounts (
    shop_id  uuid NOT NULL REFERENCES shops (id),
    carrier  text NOT NULL CHECK (carrier IN ('ups', 'fedex', 'usps', 'dhl', '17track')),
    sealed   bytea NOT NULL,
    set_at   timestamptz NOT NULL,
    set_by   text NOT NULL,
    PRIMARY KEY (shop_id, carrier)
);
