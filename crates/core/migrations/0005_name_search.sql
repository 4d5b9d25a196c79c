-- Schema 5: customers' names searched through a trigram index, so `orders()`'s free text
-- finds part of a name without reading every order.
--
-- FTS5's trigram tokenizer over the program's folded copy (`customer_name_lower`), keyed by
-- the order's id in hex rather than by `orders.rowid`, which VACUUM may renumber. The key
-- column is indexed too (a trigram phrase of 32 hex digits finds one row), which is how
-- the triggers find an order's entry to replace it.
CREATE VIRTUAL TABLE order_names USING fts5 (order_key, name, tokenize = 'trigram case_sensitive 1');
INSERT INTO order_names (order_key, name)
    SELECT hex(id), customer_name_lower FROM orders WHERE customer_name_lower IS NOT NULL;
CREATE TRIGGER order_names_insert AFTER INSERT ON orders
    WHEN new.customer_name_lower IS NOT NULL
BEGIN
    INSERT INTO order_names (order_key, name) VALUES (hex(new.id), new.customer_name_lower);
END;
CREATE TRIGGER order_names_update AFTER UPDATE OF customer_name_lower ON orders
    WHEN old.customer_name_lower IS NOT new.customer_name_lower
BEGIN
    DELETE FROM order_names WHERE order_names MATCH 'order_key : "' || hex(old.id) || '"';
    INSERT INTO order_names (order_key, name)
        SELECT hex(new.id), new.customer_name_lower WHERE new.customer_name_lower IS NOT NULL;
END;
CREATE TRIGGER order_names_delete AFTER DELETE ON orders
BEGIN
    DELETE FROM order_names WHERE order_names MATCH 'order_key : "' || hex(old.id) || '"';
END;
