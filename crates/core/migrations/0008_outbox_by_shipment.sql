-- Schema 8: a parcel's notifications, newest first (an order's message log on the shop
-- server; the app's parcel view).
CREATE INDEX outbox_by_shipment ON outbox (shipment_id, created_at) WHERE shipment_id IS NOT NULL;
