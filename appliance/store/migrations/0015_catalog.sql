-- Device store, version 15: a shop's own catalog (issue 13). Catalog files with several barcodes
-- a product, an `active` flag, catalog versions recorded in the journal (`catalog` records), and
-- indexes so that the kiosk reads a page of a category or of a search, never the whole catalog.
-- Additive only: a rolled-back release keeps reading and writing `products` as before (it sees
-- inactive products as for sale, and what it writes is flagged below and indexed again later).

ALTER TABLE products ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
-- core.catalog.fold(name): lower case without accents. NULL in rows an older release wrote.
ALTER TABLE products ADD COLUMN search_name TEXT;

-- A page of a category: ordered by position, then name (folded), then sku.
CREATE INDEX products_page ON products (category, position, search_name, sku) WHERE active = 1;
-- Searches of one or two characters (too short for trigrams): names starting with them.
CREATE INDEX products_prefix ON products (search_name, sku) WHERE active = 1;

-- Every barcode of a product (products.barcode keeps the first, which older releases look up).
CREATE TABLE product_barcodes (
    code TEXT PRIMARY KEY,
    sku  TEXT NOT NULL,
    ord  INTEGER NOT NULL
);
CREATE INDEX product_barcodes_sku ON product_barcodes (sku, ord);
INSERT INTO product_barcodes (code, sku, ord)
SELECT barcode, sku, 0 FROM products WHERE barcode IS NOT NULL;

-- Substring search of active products' folded names (SQLite 3.34+; Bookworm ships 3.40). Rows are
-- written in the order the kiosk shows products (category, position, name), so that rowid order
-- is display order and a page of hits needs no sort. Rebuilt whole whenever the catalog changes.
CREATE VIRTUAL TABLE product_search USING fts5 (
    sku UNINDEXED, search_name, tokenize = 'trigram case_sensitive 1'
);

-- The catalog version in force: the last `catalog` record's version, hash and seq. `changed` is
-- set by the triggers below whenever the catalog tables are written outside an import (the demo
-- seed, an older release after a rollback); the next start records what they hold then.
CREATE TABLE catalog_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    sha256  TEXT,
    seq     INTEGER,
    changed INTEGER NOT NULL
);
INSERT INTO catalog_state (id, version, sha256, seq, changed)
SELECT 1, 0, NULL, NULL, EXISTS (SELECT 1 FROM products);

CREATE TRIGGER products_insert_changes AFTER INSERT ON products
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER products_update_changes AFTER UPDATE ON products
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER products_delete_changes AFTER DELETE ON products
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER product_barcodes_insert_changes AFTER INSERT ON product_barcodes
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER product_barcodes_update_changes AFTER UPDATE ON product_barcodes
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER product_barcodes_delete_changes AFTER DELETE ON product_barcodes
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER tax_rates_insert_changes AFTER INSERT ON tax_rates
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER tax_rates_update_changes AFTER UPDATE ON tax_rates
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER tax_rates_delete_changes AFTER DELETE ON tax_rates
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
