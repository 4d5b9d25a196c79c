-- Schema 8 (core's 0008): a parcel's notifications, newest first.
CREATE INDEX outbox_by_shipment ON outbox (shipment_id, created_at) WHERE shipment_id IS NOT NULL;
