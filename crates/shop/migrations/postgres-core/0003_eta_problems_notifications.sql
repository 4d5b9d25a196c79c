-- Schema 3: our delivery estimate, problems, notifications and settings
-- (crates/core/migrations/0003_eta_problems_notifications.sql).

-- Our estimate, derived from the events, the history model and the clock; recomputed freely.
ALTER TABLE shipments ADD COLUMN est_earliest bigint;
ALTER TABLE shipments ADD COLUMN est_likely bigint;
ALTER TABLE shipments ADD COLUMN est_latest bigint;
ALTER TABLE shipments ADD COLUMN est_confidence double precision;
ALTER TABLE shipments ADD COLUMN est_source text;
-- The latest date of the first estimate made once the parcel moved. Set once.
ALTER TABLE shipments ADD COLUMN est_first_latest bigint;
-- The user's per-parcel choice of notification kinds (NULL: the channels' own), with its
-- last-writer-wins stamp.
ALTER TABLE shipments ADD COLUMN notify_kinds text;
ALTER TABLE shipments ADD COLUMN notify_kinds_at bigint NOT NULL DEFAULT 0;
-- The store's promised delivery date, an input to the estimate.
ALTER TABLE orders ADD COLUMN promised_at bigint;
ALTER TABLE orders ADD COLUMN promised_offset integer;
-- The carrier event that caused a status change (so its news has a stable identity).
ALTER TABLE status_log ADD COLUMN event_key uuid;

-- Problems: open while the condition holds. `id` orders them for the notifier's journal
-- (given under the journal lock, like status_log's).
CREATE TABLE problems (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id uuid NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    key         uuid NOT NULL,      -- UUIDv5 of kind and start: one row per occurrence
    since       bigint NOT NULL,
    detail      text NOT NULL,
    opened_at   bigint NOT NULL,
    resolved_at bigint
);
CREATE UNIQUE INDEX problems_by_key ON problems (shipment_id, key);
CREATE INDEX problems_open ON problems (shipment_id) WHERE resolved_at IS NULL;

-- Every notification, recorded before it is sent (the outbox) and kept as the log.
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,   -- UUIDv7
    dedupe_key      uuid NOT NULL,
    channel         text NOT NULL,
    shipment_id     uuid,
    kind            text,
    title           text NOT NULL,
    body            text NOT NULL,
    link            text NOT NULL,
    urgency         text NOT NULL,
    state           text NOT NULL,   -- held | pending | sent | failed | summarized
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint,
    last_error      text,
    summary_id      uuid,            -- the summary that replaced a held notification
    created_at      bigint NOT NULL,
    sent_at         bigint
);
CREATE UNIQUE INDEX outbox_once ON outbox (channel, dedupe_key);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_held ON outbox (channel) WHERE state = 'held';
CREATE INDEX outbox_log ON outbox (created_at);

-- News already turned into notifications: each notifies at most once, across restarts.
CREATE TABLE notified (
    key         uuid PRIMARY KEY,
    notified_at bigint NOT NULL
);

-- How far the notifier has read the journal (status_log and problems ids). Starts at the
-- present, so history from before this schema does not notify.
CREATE TABLE cursors (
    name     text PRIMARY KEY,
    position bigint NOT NULL
);
INSERT INTO cursors (name, position) VALUES
    ('status_log', (SELECT coalesce(max(id), 0) FROM status_log)),
    ('problems', 0);

-- Settings shared by the app, the CLI and the server; last writer wins.
CREATE TABLE settings (
    key    text PRIMARY KEY,
    value  text NOT NULL,
    set_at bigint NOT NULL
);

-- When the carrier first had the parcel (the earliest event past "label created"): the
-- estimate's clock starts there. Maintained by ingest; filled here for existing rows.
ALTER TABLE shipments ADD COLUMN shipped_at bigint;
UPDATE shipments SET shipped_at = (
    SELECT min(e.occurred_at) FROM events e
    WHERE e.shipment_id = shipments.id
      AND e.status NOT IN ('pending', 'info_received', 'unknown'));
