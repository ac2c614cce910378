-- Device store, version 15: a shop's own catalog (issue 13). Catalog files with several barcodes
-- a product, an `active` flag, catalog versions recorded in the journal (`catalog` records), and
-- indexes so that the kiosk reads a page of a category or of a search, never the whole catalog.
-- Additive only: a rolled-back release keeps reading and writing `products` as before (it sees
-- inactive products as for sale; what it writes is noticed below and indexed at the next start).

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

-- Categories with their counts of active products, written with the search index (a GROUP BY
-- over 500,000 products would take tens of milliseconds at every start and category bar).
CREATE TABLE product_categories (
    category TEXT PRIMARY KEY,
    products INTEGER NOT NULL
);

-- The catalog version in force: the last `catalog` record's version, hash and seq. `changed` says
-- the catalog tables were written outside an import since (the demo seed sets it; the triggers
-- below set it when tax rates change), and so does a product without a folded name (a row an
-- older release wrote after a rollback: products_unindexed finds them at once). The next start
-- records what the tables hold then. (Per-row triggers on products would cost an import of
-- 50,000 rows more than the rows themselves.)
CREATE TABLE catalog_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    sha256  TEXT,
    seq     INTEGER,
    changed INTEGER NOT NULL
);
INSERT INTO catalog_state (id, version, sha256, seq, changed) VALUES (1, 0, NULL, NULL, 0);
CREATE INDEX products_unindexed ON products (sku) WHERE search_name IS NULL;

CREATE TRIGGER tax_rates_insert_changes AFTER INSERT ON tax_rates
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER tax_rates_update_changes AFTER UPDATE ON tax_rates
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
CREATE TRIGGER tax_rates_delete_changes AFTER DELETE ON tax_rates
WHEN (SELECT changed FROM catalog_state) = 0
BEGIN UPDATE catalog_state SET changed = 1; END;
