-- Device store, version 18: the catalog as it was at the last few versions, so that a sale in
-- progress when an import lands goes on pricing from the version its cart started at, also for
-- products first scanned or tapped after the import (docs/CATALOG.md, "An import during a sale").
-- catalog_versions.apply writes these in the import's own transaction and prunes them to the
-- last catalog_history.KEEP_VERSIONS versions. Additive only: an older release ignores them.

-- A product as it was up to and including catalog version `version`, written when an import
-- replaced it (changed or removed); `present` 0 when it was not in the catalog at that version
-- (the import added it). Columns as products holds them, the tax rate's basis points included.
CREATE TABLE catalog_history (
    sku                TEXT NOT NULL,
    version            INTEGER NOT NULL,
    present            INTEGER NOT NULL,
    name               TEXT,
    category           TEXT,
    price_minor        INTEGER,
    currency           TEXT,
    tax_code           TEXT,
    tax_bp             INTEGER,
    price_includes_tax INTEGER,
    barcode            TEXT,
    active             INTEGER,
    PRIMARY KEY (sku, version)
) WITHOUT ROWID;
CREATE INDEX catalog_history_version ON catalog_history (version);

-- Every barcode of those rows (a code belongs to one product at a version).
CREATE TABLE catalog_history_codes (
    code    TEXT NOT NULL,
    version INTEGER NOT NULL,
    sku     TEXT NOT NULL,
    PRIMARY KEY (code, version)
) WITHOUT ROWID;
CREATE INDEX catalog_history_codes_version ON catalog_history_codes (version);

-- The versions whose replaced rows are all above. A lookup at version v is exact only when every
-- version from v up to the one in force is here: a version replaced outside an import (tables
-- written by the demo seed, by an older release) or pruned is not.
CREATE TABLE catalog_history_versions (version INTEGER PRIMARY KEY);
