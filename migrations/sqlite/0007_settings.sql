-- Per-wiki settings: every change is a new immutable revision holding the whole configuration
-- (setting values, enabled extensions and skins) and what changed, so any revision can be
-- restored exactly. The wiki row says which revision is current and which one its shard and
-- tables have (they differ only between a commit and the shard write, or after a crash there).
CREATE TABLE wiki_settings (
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    actor TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- JSON: {"settings": {...}, "extensions": [...], "skins": [...]}.
    configuration TEXT NOT NULL,
    -- JSON: {"settings": [{"setting", "old", "new"}], "enabled": [...], "disabled": [...]}.
    changes TEXT NOT NULL,
    -- A rollback: the revision it restored.
    restored_from INTEGER,
    PRIMARY KEY (wiki_id, revision)
);
-- 0: none yet (a wiki made before settings existed gets revision 1 at the next start).
ALTER TABLE wikis ADD COLUMN settings_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN applied_revision INTEGER NOT NULL DEFAULT 0;
-- JSON list of the extensions whose tables the wiki's database has.
ALTER TABLE wikis ADD COLUMN schema_extensions TEXT NOT NULL DEFAULT '[]';
-- Copied from the current revision, for listings (the public directory leaves these out).
ALTER TABLE wikis ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
