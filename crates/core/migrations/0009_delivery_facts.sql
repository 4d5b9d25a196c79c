-- Schema 9: what delivery analytics read of a parcel, kept by ingest in the same transaction
-- as its events, so a report over a million parcels reads one index range of delivered
-- parcels instead of each parcel's events.
ALTER TABLE shipments ADD COLUMN first_event_at INTEGER;                   -- the earliest carrier event
ALTER TABLE shipments ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0; -- its failed-attempt events
UPDATE shipments SET
    first_event_at = (SELECT min(e.occurred_at) FROM events e WHERE e.shipment_id = shipments.id),
    failed_attempts = (SELECT count(*) FROM events e
                       WHERE e.shipment_id = shipments.id AND e.status = 'failed_attempt');
CREATE INDEX shipments_delivered ON shipments (status_at) WHERE status = 'delivered' AND deleted = 0;
-- Problems by when they began, for exceptions by kind over a span.
CREATE INDEX problems_by_since ON problems (since);
