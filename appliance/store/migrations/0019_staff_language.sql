-- Device store: a staff member's own screen language (a catalog's name: es, pt_BR), which the
-- kiosk switches to at their login; NULL speaks the shop's. Set by the setup file's [manager],
-- `bitagora staff add --language` and central's configuration document (docs/PROTOCOL.md 2.6).
-- Additive only: a release rolled back past this one shows everyone the shop's language.

ALTER TABLE staff ADD COLUMN language TEXT;
