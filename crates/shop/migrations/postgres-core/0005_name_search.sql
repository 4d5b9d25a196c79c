-- Schema 5: customers' names searched through a trigram index, so `orders()`'s free text
-- finds part of a name without reading every order (crates/core/migrations/0005_name_search.sql).
-- pg_trgm's operator class is named with the schema the extension lives in (`PgStore`
-- installs it if missing and fills in TRGM_SCHEMA), since a shop's search path is its own
-- schema alone.
CREATE INDEX orders_by_name_trigrams ON orders
    USING gin (customer_name_lower "TRGM_SCHEMA".gin_trgm_ops)
    WHERE customer_name_lower IS NOT NULL;
-- An order number's prefix (`LIKE 'A-10%'`), read from an index whatever the collation.
CREATE INDEX orders_by_number_prefix ON orders (order_number text_pattern_ops)
    WHERE order_number IS NOT NULL;
