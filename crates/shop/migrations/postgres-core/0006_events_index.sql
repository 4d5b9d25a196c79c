-- Schema 6 (core's 0006): one index fewer to write per event, since a parcel's events are
-- only ever read by parcel, which the primary key's first column finds; and room left on
-- each page of `shipments` (fillfactor 80), so updating a parcel's derived state without
-- changing an indexed column (a scan that keeps its status) can stay on its page as a HOT
-- update, writing none of the table's six indexes.
DROP INDEX IF EXISTS events_by_time;
ALTER TABLE shipments SET (fillfactor = 80);
