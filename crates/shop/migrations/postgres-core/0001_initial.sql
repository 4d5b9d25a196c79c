-- Core's tracking store on PostgreSQL, schema 1: crates/core/migrations/0001_initial.sql,
-- column for column. Runs inside the shop's own schema (search_path), so no name here is
-- qualified. Times are bigint milliseconds since the Unix epoch (UTC), with *_offset
-- companions (seconds east of UTC) where the offset matters; ids are uuid; flags boolean.

CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    store           text,
    order_number    text,
    items           text,
    placed_at       bigint,
    placed_offset   integer,
    notes           text,
    archived        boolean NOT NULL DEFAULT false,
    archived_at     bigint NOT NULL,   -- last-writer-wins stamp of `archived`
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL
);
-- One order per store and order number (orders without a number are never merged).
CREATE UNIQUE INDEX orders_by_number ON orders ((coalesce(store, '')), order_number)
    WHERE order_number IS NOT NULL;

CREATE TABLE shipments (
    id                  uuid PRIMARY KEY,
    order_id            uuid NOT NULL REFERENCES orders (id),
    tracking_number     text NOT NULL,
    carrier             text NOT NULL,
    service             text,
    origin_city         text,
    origin_region       text,
    origin_country      text,
    origin_postal       text,
    dest_city           text,
    dest_region         text,
    dest_country        text,
    dest_postal         text,
    -- Derived from the events, in the ingest transaction.
    status              text NOT NULL DEFAULT 'pending',
    status_at           bigint,         -- the event that set `status` (time, rank, key)
    status_rank         integer,
    status_key          uuid,
    status_detail       text,           -- the latest event's description
    last_event_at       bigint,         -- the latest event (time, offset, rank, key)
    last_event_offset   integer,
    last_event_rank     integer,
    last_event_key      uuid,
    event_count         integer NOT NULL DEFAULT 0,
    eta_earliest        bigint,         -- the carrier's estimate; newest statement wins
    eta_earliest_offset integer,
    eta_latest          bigint,
    eta_latest_offset   integer,
    eta_observed_at     bigint,
    -- User edits, each with its last-writer-wins stamp.
    label               text,
    label_at            bigint NOT NULL,
    muted               boolean NOT NULL DEFAULT false,
    muted_at            bigint NOT NULL,
    archived            boolean NOT NULL DEFAULT false,
    archived_at         bigint NOT NULL,
    deleted             boolean NOT NULL DEFAULT false,  -- a tombstone, so removal can sync
    deleted_at          bigint NOT NULL,
    -- Polling.
    last_polled_at      bigint,
    next_poll_at        bigint,
    last_error          text,
    last_error_at       bigint,
    created_at          bigint NOT NULL,
    updated_at          bigint NOT NULL
);
CREATE UNIQUE INDEX shipments_by_number ON shipments (tracking_number);
CREATE INDEX shipments_by_order ON shipments (order_id);
CREATE INDEX shipments_due ON shipments (next_poll_at) WHERE next_poll_at IS NOT NULL AND NOT deleted;

-- Carrier events: immutable, keyed by (shipment, dedupe key); a grow-only set.
CREATE TABLE events (
    shipment_id     uuid NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    dedupe_key      uuid NOT NULL,
    occurred_at     bigint NOT NULL,
    occurred_offset integer NOT NULL,
    status          text NOT NULL,
    raw_code        text,
    description     text NOT NULL,
    city            text,
    region          text,
    country         text,
    postal          text,
    source          text NOT NULL,
    recorded_at     bigint NOT NULL,
    PRIMARY KEY (shipment_id, dedupe_key)
);
CREATE INDEX events_by_time ON events (shipment_id, occurred_at);

-- Audit trail of every status change. `id` orders the notifier's journal; rows get their id
-- under the store's journal lock, so ids become visible in the order they were given.
CREATE TABLE status_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id uuid NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    changed_at  bigint NOT NULL,
    cause       text NOT NULL
);
CREATE INDEX status_log_by_shipment ON status_log (shipment_id, id);
