-- A merchant's own catalog, shop settings and staff on central, and the version of the signed
-- configuration document built from them (docs/PROTOCOL.md 2.6) that its devices fetch.
-- Every table carries the merchant; Row Level Security keeps a merchant's users to its rows.

-- The policies read the request's claims with bitagora_merchant_id() and bitagora_is_ops()
-- (migration 0004).

-- Products as the catalog's canonical form holds them (docs/PROTOCOL.md 1.7).
CREATE TABLE merchant_products (
    merchant_id        bigint NOT NULL REFERENCES merchants (id),
    sku                text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    category           text NOT NULL CHECK (length(category) BETWEEN 1 AND 100),
    price_minor        bigint NOT NULL CHECK (price_minor >= 0),
    tax_code           text NOT NULL,
    tax_bp             integer NOT NULL CHECK (tax_bp BETWEEN 0 AND 10000),
    price_includes_tax boolean NOT NULL,
    barcodes           text[] NOT NULL DEFAULT '{}',   -- the first is the product's main code
    active             boolean NOT NULL DEFAULT true,
    position           integer NOT NULL DEFAULT 0 CHECK (position >= 0),
    PRIMARY KEY (merchant_id, sku)
);

-- Shop settings the devices apply: the currency every price is in, the receipt's own lines and
-- the payment methods offered at the till.
CREATE TABLE merchant_settings (
    merchant_id     bigint PRIMARY KEY REFERENCES merchants (id),
    currency        text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    receipt_header  text[] NOT NULL DEFAULT '{}',
    receipt_footer  text[] NOT NULL DEFAULT '{Thank you!}',
    payment_methods text[] NOT NULL DEFAULT '{cash}'
);

-- Staff as the devices know them. No PIN and no PIN hash, ever: a PIN is set at the till by a
-- manager (docs/ARCHITECTURE.md, "PINs"); central holds only who works where and their badges.
CREATE TABLE merchant_staff (
    merchant_id bigint NOT NULL REFERENCES merchants (id),
    staff_id    text NOT NULL CHECK (length(staff_id) BETWEEN 1 AND 64),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('cashier', 'manager', 'technician')),
    active      boolean NOT NULL DEFAULT true,
    badges      text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (merchant_id, staff_id)
);

-- The configuration document's version: +1 in the transaction of every change above, so a
-- device holding version N knows from the number alone whether it is up to date.
CREATE TABLE merchant_config (
    merchant_id bigint PRIMARY KEY REFERENCES merchants (id),
    version     bigint NOT NULL CHECK (version >= 1),
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- The signed document of a version, built once (a 50,000-product one takes seconds) and served
-- to every device of the merchant: canonical JSON, stored gzip-compressed.
CREATE TABLE merchant_config_documents (
    merchant_id bigint PRIMARY KEY REFERENCES merchants (id),
    version     bigint NOT NULL,
    etag        text NOT NULL,
    body_gzip   bytea NOT NULL,
    built_at    timestamptz NOT NULL DEFAULT now()
);

-- Each table: RLS on, and one policy letting a request see and write only the rows of the
-- merchant its claims name (ops: every merchant's). The table owner (central) is not subject
-- to RLS; central's web requests run as a non-owner role with the claims set per transaction.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['merchant_products', 'merchant_settings', 'merchant_staff',
                             'merchant_config', 'merchant_config_documents'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I'
            ' USING (bitagora_is_ops() OR merchant_id = bitagora_merchant_id())'
            ' WITH CHECK (bitagora_is_ops() OR merchant_id = bitagora_merchant_id())',
            t || '_own', t);
    END LOOP;
END
$$;

-- What the merchant's pages may do (as bitagora_web, within the policies above): edit products,
-- staff and shop settings, and count the configuration version each change makes. The built
-- documents are central's own, made and served as the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON merchant_products, merchant_staff TO bitagora_web;
GRANT SELECT, INSERT, UPDATE ON merchant_settings, merchant_config TO bitagora_web;
