-- Per-carrier API state, so a restart neither forgets a 429 back-off nor reopens a tripped
-- circuit breaker too early.
CREATE TABLE carrier_state (
    carrier         TEXT PRIMARY KEY NOT NULL,
    breaker         TEXT NOT NULL DEFAULT 'closed',  -- closed | open | half_open
    breaker_until   INTEGER,                         -- open until (ms)
    breaker_trips   INTEGER NOT NULL DEFAULT 0,      -- consecutive openings (cool-down doubles)
    failures        INTEGER NOT NULL DEFAULT 0,      -- consecutive failed calls
    backoff_until   INTEGER,                         -- no requests before (ms), from Retry-After
    requests        INTEGER NOT NULL DEFAULT 0,      -- requests made on `requests_day`
    requests_day    TEXT,                            -- UTC date of that count
    last_success_at INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER,
    updated_at      INTEGER NOT NULL
);
