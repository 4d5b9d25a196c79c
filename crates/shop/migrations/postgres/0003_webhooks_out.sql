-- The shop server, webhooks out: the URLs a shop subscribes to its changes, one delivery per
-- (endpoint, event), and every attempt at sending one.

CREATE TABLE webhook_endpoints (
    id               uuid PRIMARY KEY,
    shop_id          uuid NOT NULL REFERENCES shops (id),
    url              text NOT NULL,
    description      text NOT NULL DEFAULT '',
    event_types      text NOT NULL DEFAULT '',   -- comma-separated; empty: every type
    enabled          boolean NOT NULL DEFAULT true,
    secret_sealed    bytea NOT NULL,             -- the signing secret, encrypted
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    disabled_reason  text
);
CREATE INDEX webhook_endpoints_by_shop ON webhook_endpoints (shop_id);

-- A delivery is due while it is `pending` or `delivering` and `next_attempt_at` has come: a
-- claim sets `next_attempt_at` to the end of its lease, so a claimer that dies leaves work
-- that falls due again when its lease ends. `lease_token` names the claim; only its holder
-- may record the attempt's outcome.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    shop_id          uuid NOT NULL REFERENCES shops (id),
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    payload          text NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0, -- in the current series (a replay starts one)
    next_attempt_at  timestamptz,                -- NULL once delivered or failed
    lease_until      timestamptz,
    lease_token      uuid,
    last_error       text,
    last_status      integer,
    last_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (last_attempt_at)
    WHERE state IN ('delivered', 'failed');

CREATE TABLE webhook_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    status       integer,                        -- the HTTP status, if an answer came
    error        text,                           -- NULL when it was delivered
    duration_ms  bigint NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
