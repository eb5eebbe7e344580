-- Single sign-on; see migrations/sqlite/0016_sign_on.sql.
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS rights_wanted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS rights_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS rights_synced TEXT NULL;
UPDATE wikis SET rights_wanted = 1 WHERE rights_wanted = 0 AND id IN (SELECT wiki_id FROM wiki_managers);
CREATE INDEX IF NOT EXISTS wikis_rights_pending ON wikis (rights_wanted, rights_done);
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS locked_at BIGINT NULL;
