-- Schema 3: our delivery estimate, problems, notifications and settings.

-- Our estimate, derived from the events, the history model and the clock; recomputed freely.
ALTER TABLE shipments ADD COLUMN est_earliest INTEGER;
ALTER TABLE shipments ADD COLUMN est_likely INTEGER;
ALTER TABLE shipments ADD COLUMN est_latest INTEGER;
ALTER TABLE shipments ADD COLUMN est_confidence REAL;
ALTER TABLE shipments ADD COLUMN est_source TEXT;
-- The latest date of the first estimate made once the parcel moved: what "late" is held to
-- when neither the carrier nor the store promised a date. Set once.
ALTER TABLE shipments ADD COLUMN est_first_latest INTEGER;
-- The user's per-parcel choice of notification kinds (NULL: the channels' own), with its
-- last-writer-wins stamp.
ALTER TABLE shipments ADD COLUMN notify_kinds TEXT;
ALTER TABLE shipments ADD COLUMN notify_kinds_at INTEGER NOT NULL DEFAULT 0;
-- The store's promised delivery date (from the order confirmation), an input to the estimate.
ALTER TABLE orders ADD COLUMN promised_at INTEGER;
ALTER TABLE orders ADD COLUMN promised_offset INTEGER;
-- The carrier event that caused a status change (so its news has a stable identity).
ALTER TABLE status_log ADD COLUMN event_key BLOB;

-- Problems: open while the condition holds. `id` orders them for the notifier's journal.
CREATE TABLE problems (
    id          INTEGER PRIMARY KEY,
    shipment_id BLOB NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    key         BLOB NOT NULL,      -- UUIDv5 of kind and start: one row per occurrence
    since       INTEGER NOT NULL,
    detail      TEXT NOT NULL,
    opened_at   INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE UNIQUE INDEX problems_by_key ON problems (shipment_id, key);
CREATE INDEX problems_open ON problems (shipment_id) WHERE resolved_at IS NULL;

-- Every notification, recorded before it is sent (the outbox) and kept as the log.
CREATE TABLE outbox (
    id              BLOB PRIMARY KEY NOT NULL,   -- UUIDv7
    dedupe_key      BLOB NOT NULL,
    channel         TEXT NOT NULL,
    shipment_id     BLOB,
    kind            TEXT,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    link            TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    state           TEXT NOT NULL,   -- held | pending | sent | failed | summarized
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error      TEXT,
    summary_id      BLOB,            -- the summary that replaced a held notification
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE UNIQUE INDEX outbox_once ON outbox (channel, dedupe_key);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_held ON outbox (channel) WHERE state = 'held';
CREATE INDEX outbox_log ON outbox (created_at);

-- News already turned into notifications: each notifies at most once, across restarts.
CREATE TABLE notified (
    key         BLOB PRIMARY KEY NOT NULL,
    notified_at INTEGER NOT NULL
) WITHOUT ROWID;

-- How far the notifier has read the journal (status_log and problems ids). Starts at the
-- present, so history from before this schema does not notify.
CREATE TABLE cursors (
    name     TEXT PRIMARY KEY NOT NULL,
    position INTEGER NOT NULL
);
INSERT INTO cursors (name, position) VALUES
    ('status_log', (SELECT coalesce(max(id), 0) FROM status_log)),
    ('problems', 0);

-- Settings shared by the app, the CLI and the server; last writer wins.
CREATE TABLE settings (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL,
    set_at INTEGER NOT NULL
);

-- When the carrier first had the parcel (the earliest event past "label created"): the
-- estimate's clock starts there. Maintained by ingest; filled here for existing rows.
ALTER TABLE shipments ADD COLUMN shipped_at INTEGER;
UPDATE shipments SET shipped_at = (
    SELECT min(e.occurred_at) FROM events e
    WHERE e.shipment_id = shipments.id
      AND e.status NOT IN ('pending', 'info_received', 'unknown'));
