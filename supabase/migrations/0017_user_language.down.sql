REVOKE UPDATE (country) ON merchants FROM bitagora_web;
DROP FUNCTION bitagora_set_own_language(text);
ALTER TABLE web_users DROP COLUMN language;
