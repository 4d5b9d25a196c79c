-- Schema 6: one index fewer to write per event. A parcel's events are only ever read by
-- parcel (its timeline), which the primary key's first column finds; sorting a parcel's
-- few dozen events by time costs less than keeping a second index of every event.
DROP INDEX IF EXISTS events_by_time;
