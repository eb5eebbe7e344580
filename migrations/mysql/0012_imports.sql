-- Wikis created from an archive; see migrations/sqlite/0012_imports.sql.
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS import_pending BIGINT NOT NULL DEFAULT 0;
