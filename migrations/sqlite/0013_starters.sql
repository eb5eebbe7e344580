-- The starter a wiki began with (NULL: none, for a wiki made from an archive or before
-- starters existed), and the one a pool entry's database holds, by its tag (id and content
-- hash; '' for entries built before starters), and the one a wiki request asks for.
ALTER TABLE wikis ADD COLUMN starter TEXT;
ALTER TABLE pool_entries ADD COLUMN starter TEXT NOT NULL DEFAULT '';
ALTER TABLE wiki_requests ADD COLUMN starter TEXT;
