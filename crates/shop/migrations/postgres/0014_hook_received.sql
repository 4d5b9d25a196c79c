-- The shop server, schema 14: when each webhook source last delivered (throttled to a write a
-- minute), so carrier health shows a source going quiet.
ALTER TABLE hook_secrets ADD COLUMN last_received_at timestamptz;
