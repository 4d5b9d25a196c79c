-- Schema 7 (core's 0007, which changes nothing on SQLite): the customers' name index takes
-- each order's trigrams as the order is written, not into GIN's pending list. A search reads
-- that whole list until autovacuum merges it (up to 4 MB: after loading 100,000 orders, 290
-- pages for every search, 3.5 ms where the merged index takes 0.05); writing an order's dozen
-- trigrams at once costs less than that.
ALTER INDEX orders_by_name_trigrams SET (fastupdate = off);
SELECT gin_clean_pending_list('orders_by_name_trigrams');
