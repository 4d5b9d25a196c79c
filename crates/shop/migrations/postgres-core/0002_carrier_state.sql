-- Per-carrier API state, so a restart neither forgets a 429 back-off nor reopens a tripped
-- circuit breaker too early (crates/core/migrations/0002_carrier_state.sql).
CREATE TABLE carrier_state (
    carrier         text PRIMARY KEY,
    breaker         text NOT NULL DEFAULT 'closed',  -- closed | open | half_open
    breaker_until   bigint,                          -- open until (ms)
    breaker_trips   bigint NOT NULL DEFAULT 0,       -- consecutive openings (cool-down doubles)
    failures        bigint NOT NULL DEFAULT 0,       -- consecutive failed calls
    backoff_until   bigint,                          -- no requests before (ms), from Retry-After
    requests        bigint NOT NULL DEFAULT 0,       -- requests made on `requests_day`
    requests_day    text,                            -- UTC date of that count
    last_success_at bigint,
    last_error      text,
    last_error_at   bigint,
    updated_at      bigint NOT NULL
);
