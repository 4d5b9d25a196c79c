-- The shop server, schema 7: how a shop's tracking page looks to its customers: its colour
-- and its logo (a small PNG, JPEG or WebP image, kept here and served as a data URL, so the
-- page loads nothing from elsewhere).

CREATE TABLE shop_branding (
    shop_id     BLOB PRIMARY KEY NOT NULL REFERENCES shops (id),
    color       TEXT,                         -- #rrggbb
    logo        BLOB,
    logo_type   TEXT,                         -- image/png, image/jpeg, image/webp
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
