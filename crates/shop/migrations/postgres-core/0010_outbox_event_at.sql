-- Schema 10: the carrier's time of the newest event a message's parcel had when the message
-- was written, so the time from a carrier's event to the customer's message is read off the
-- message itself (not looked up among the events, a seek per message).
ALTER TABLE outbox ADD COLUMN event_at bigint;
UPDATE outbox SET event_at = (
    SELECT max(e.occurred_at) FROM events e
    WHERE e.shipment_id = outbox.shipment_id AND e.recorded_at <= outbox.created_at
) WHERE shipment_id IS NOT NULL;
