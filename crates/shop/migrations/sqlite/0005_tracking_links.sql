-- The shop server, schema 5: customers' tracking links. Links themselves are not stored
-- (each is signed and says what it shows); what is stored is what voids them: each shop's
-- link key (sealed with the server's key) and its generation, bumped by a rotation, and each
-- order's link generation, bumped when staff withdraw its links. And the shop's link
-- settings.

CREATE TABLE link_keys (
    shop_id              BLOB PRIMARY KEY NOT NULL REFERENCES shops (id),
    generation           INTEGER NOT NULL,
    sealed               BLOB NOT NULL,       -- version, nonce, XChaCha20-Poly1305 ciphertext
    days_after_delivery  INTEGER NOT NULL,
    show_address         INTEGER NOT NULL,    -- 0 or 1
    rotated_at           INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE order_links (
    shop_id     BLOB NOT NULL REFERENCES shops (id),
    order_id    BLOB NOT NULL,                -- in the shop's tracking store
    generation  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL,
    revoked_by  TEXT NOT NULL,
    PRIMARY KEY (shop_id, order_id)
) WITHOUT ROWID;
