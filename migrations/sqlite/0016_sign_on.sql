-- Single sign-on. A wiki's administrators follow its owner and managers: every change bumps
-- rights_wanted (in the change's transaction); the rights job runs the wiki's farm-rights.php
-- and records the generation it brought the wiki to (rights_done) and whom it made
-- administrators (rights_synced, MediaWiki names, comma-separated; NULL: only the owner the
-- wiki was made with). Wikis that already have managers need a first run.
ALTER TABLE wikis ADD COLUMN rights_wanted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN rights_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN rights_synced TEXT;
UPDATE wikis SET rights_wanted = 1 WHERE id IN (SELECT wiki_id FROM wiki_managers);
CREATE INDEX wikis_rights_pending ON wikis (rights_wanted, rights_done);
-- An admin may lock an account: it cannot log in, and its sessions (on the wikis too) end.
ALTER TABLE accounts ADD COLUMN locked_at INTEGER;
