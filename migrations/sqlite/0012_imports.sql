-- A wiki created from an archive: its content waits in data/imports/{key}/ until the
-- pipeline's import step has loaded it; the wiki goes live only then.
ALTER TABLE wikis ADD COLUMN import_pending INTEGER NOT NULL DEFAULT 0;
