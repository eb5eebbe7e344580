-- Deleted wikis wait in the trash; see migrations/sqlite/0008_trash.sql.
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS trashed_from VARCHAR(16) NULL;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS purge_after BIGINT NULL;
