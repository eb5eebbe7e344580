-- Per-wiki settings revisions; see migrations/sqlite/0007_settings.sql.
CREATE TABLE IF NOT EXISTS wiki_settings (
    wiki_id BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    actor VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    configuration VARCHAR(6000) NOT NULL,
    changes VARCHAR(6000) NOT NULL,
    restored_from BIGINT NULL,
    PRIMARY KEY (wiki_id, revision),
    CONSTRAINT wiki_settings_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS settings_revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS applied_revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS schema_extensions VARCHAR(2000) NOT NULL DEFAULT '[]';
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS private BIGINT NOT NULL DEFAULT 0;
