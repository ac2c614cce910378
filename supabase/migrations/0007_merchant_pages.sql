-- The merchant's back office pages (docs/OPERATIONS.md, "Merchants"): the products page finds a
-- product by barcode and lists a category's products a page at a time, both from an index at
-- 50,000 products; an owner sets the shop's timezone, which the sales reports count days in.

CREATE INDEX merchant_products_barcodes ON merchant_products USING gin (barcodes);
CREATE INDEX merchant_products_category ON merchant_products (merchant_id, category, sku);

-- Within the merchants_own policy: a merchant's user may change its own merchant's timezone only.
GRANT UPDATE (timezone) ON merchants TO bitagora_web;
