-- Schema 9 (core's 0009): what delivery analytics read of a parcel, kept by ingest in the
-- same transaction as its events, so a report over a million parcels reads one index range
-- of delivered parcels instead of each parcel's events.
ALTER TABLE shipments ADD COLUMN first_event_at BIGINT;
ALTER TABLE shipments ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
UPDATE shipments s SET first_event_at = e.first, failed_attempts = e.failed
FROM (SELECT shipment_id, min(occurred_at) AS first,
             count(*) FILTER (WHERE status = 'failed_attempt') AS failed
      FROM events GROUP BY shipment_id) e
WHERE e.shipment_id = s.id;
CREATE INDEX shipments_delivered ON shipments (status_at) WHERE status = 'delivered' AND NOT deleted;
CREATE INDEX problems_by_since ON problems (since);
