-- Starters; see migrations/sqlite/0013_starters.sql.
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS starter VARCHAR(64) NULL;
ALTER TABLE pool_entries ADD COLUMN IF NOT EXISTS starter VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE wiki_requests ADD COLUMN IF NOT EXISTS starter VARCHAR(64) NULL;
