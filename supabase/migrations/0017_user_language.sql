-- A web user's language: central's pages speak it (central/i18n.py); NULL follows the browser's
-- Accept-Language. The form is a gettext catalog's name (es, pt_BR); which ones central has is
-- central's to say, so adding a language needs no migration.
ALTER TABLE web_users ADD COLUMN language text CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$');
GRANT SELECT (language) ON web_users TO bitagora_web;
GRANT INSERT (language) ON web_users TO bitagora_web;

-- A merchant's owners set its country on the Settings page: amounts and dates on its pages are
-- written as the country does (es in MX: "$1,234.56").
GRANT UPDATE (country) ON merchants TO bitagora_web;

-- Each user sets their own language on the Account page, and nothing else of their row: the
-- policies let only ops update users, so this one change goes through a function that finds the
-- row from the claims' subject (central/tenancy.py writes it as central-user-<id>).
CREATE FUNCTION bitagora_set_own_language(wanted text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE web_users SET language = wanted
    WHERE 'central-user-' || id = bitagora_claims() ->> 'sub'
    RETURNING true
$$;
REVOKE ALL ON FUNCTION bitagora_set_own_language(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bitagora_set_own_language(text) TO bitagora_web;
