-- Parceltrail local store, schema 1.
-- Times are integers: milliseconds since the Unix epoch (UTC). A time that must keep the
-- carrier's or user's UTC offset has a companion *_offset column in seconds east of UTC.
-- Ids are UUIDs stored as 16-byte blobs: orders and shipments get a UUIDv7 where they are born.

CREATE TABLE orders (
    id              BLOB PRIMARY KEY NOT NULL,
    store           TEXT,
    order_number    TEXT,
    items           TEXT,
    placed_at       INTEGER,
    placed_offset   INTEGER,
    notes           TEXT,
    archived        INTEGER NOT NULL DEFAULT 0,
    archived_at     INTEGER NOT NULL,   -- last-writer-wins stamp of `archived`
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- One order per store and order number (orders without a number are never merged).
CREATE UNIQUE INDEX orders_by_number ON orders (coalesce(store, ''), order_number)
    WHERE order_number IS NOT NULL;

CREATE TABLE shipments (
    id                  BLOB PRIMARY KEY NOT NULL,
    order_id            BLOB NOT NULL REFERENCES orders (id),
    tracking_number     TEXT NOT NULL,
    carrier             TEXT NOT NULL,
    service             TEXT,
    origin_city         TEXT,
    origin_region       TEXT,
    origin_country      TEXT,
    origin_postal       TEXT,
    dest_city           TEXT,
    dest_region         TEXT,
    dest_country        TEXT,
    dest_postal         TEXT,
    -- Derived from the events, in the ingest transaction.
    status              TEXT NOT NULL DEFAULT 'pending',
    status_at           INTEGER,        -- the event that set `status` (time, rank, key)
    status_rank         INTEGER,
    status_key          BLOB,
    status_detail       TEXT,           -- the latest event's description
    last_event_at       INTEGER,        -- the latest event (time, offset, rank, key)
    last_event_offset   INTEGER,
    last_event_rank     INTEGER,
    last_event_key      BLOB,
    event_count         INTEGER NOT NULL DEFAULT 0,
    eta_earliest        INTEGER,        -- the carrier's estimate; newest statement wins
    eta_earliest_offset INTEGER,
    eta_latest          INTEGER,
    eta_latest_offset   INTEGER,
    eta_observed_at     INTEGER,
    -- User edits, each with its last-writer-wins stamp.
    label               TEXT,
    label_at            INTEGER NOT NULL,
    muted               INTEGER NOT NULL DEFAULT 0,
    muted_at            INTEGER NOT NULL,
    archived            INTEGER NOT NULL DEFAULT 0,
    archived_at         INTEGER NOT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0,  -- a tombstone, so removal can sync
    deleted_at          INTEGER NOT NULL,
    -- Polling.
    last_polled_at      INTEGER,
    next_poll_at        INTEGER,
    last_error          TEXT,
    last_error_at       INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX shipments_by_number ON shipments (tracking_number);
CREATE INDEX shipments_by_order ON shipments (order_id);
CREATE INDEX shipments_due ON shipments (next_poll_at) WHERE next_poll_at IS NOT NULL AND deleted = 0;

-- Carrier events: immutable, keyed by (shipment, dedupe key); a grow-only set.
CREATE TABLE events (
    shipment_id     BLOB NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    dedupe_key      BLOB NOT NULL,
    occurred_at     INTEGER NOT NULL,
    occurred_offset INTEGER NOT NULL,
    status          TEXT NOT NULL,
    raw_code        TEXT,
    description     TEXT NOT NULL,
    city            TEXT,
    region          TEXT,
    country         TEXT,
    postal          TEXT,
    source          TEXT NOT NULL,
    recorded_at     INTEGER NOT NULL,
    PRIMARY KEY (shipment_id, dedupe_key)
) WITHOUT ROWID;
CREATE INDEX events_by_time ON events (shipment_id, occurred_at);

-- Audit trail of every status change.
CREATE TABLE status_log (
    id          INTEGER PRIMARY KEY,
    shipment_id BLOB NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    changed_at  INTEGER NOT NULL,
    cause       TEXT NOT NULL
);
CREATE INDEX status_log_by_shipment ON status_log (shipment_id, id);
