-- Undoes 0019_shop_and_staff_language.sql: shop and staff languages are forgotten.
ALTER TABLE merchant_staff DROP COLUMN language;
ALTER TABLE merchant_settings DROP COLUMN language;
